// The RocksDB side of the FaultInjector seam (store/fault_injection.h): a
// FileSystem that asks the injector before each create, write, sync and read
// of a store file and fails the operation as told.
#ifndef KVSTASH_STORE_FAULT_FILE_SYSTEM_INTERNAL_H_
#define KVSTASH_STORE_FAULT_FILE_SYSTEM_INTERNAL_H_

#include <rocksdb/file_system.h>

#include <memory>

#include "store/fault_injection.h"

namespace kvstash {

// `base` with `injector`'s faults; `injector` must not be null.
std::shared_ptr<rocksdb::FileSystem> NewFaultFileSystem(std::shared_ptr<rocksdb::FileSystem> base,
                                                        std::shared_ptr<FaultInjector> injector);

}  // namespace kvstash

#endif  // KVSTASH_STORE_FAULT_FILE_SYSTEM_INTERNAL_H_
