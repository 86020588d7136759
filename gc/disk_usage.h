// What a store directory occupies on disk, as `du` counts it: allocated
// blocks of every file below it, each hard-linked file once.
//
// Thread-safety: a pure function of the file system.
#ifndef KVSTASH_GC_DISK_USAGE_H_
#define KVSTASH_GC_DISK_USAGE_H_

#include <cstdint>
#include <string>

#include "serde/status.h"

namespace kvstash {

// Bytes allocated to files under `dir`. Files that vanish during the walk
// (RocksDB deleting obsolete files) are skipped. NotFound if `dir` is absent.
Result<uint64_t> DiskUsageBytes(const std::string& dir);

}  // namespace kvstash

#endif  // KVSTASH_GC_DISK_USAGE_H_
