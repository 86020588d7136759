// The store's RocksDB info LOG, written so that a full or failing disk can
// never stop the store: a line that cannot be written is dropped.
//
// RocksDB's own file logger writes through a WritableFileWriter, which
// Debian's librocksdb builds with assertions: the first line after a failed
// write (a full disk) aborted the process (issue 12, item 1), even in runs
// that only read.
#ifndef KVSTASH_STORE_INFO_LOG_INTERNAL_H_
#define KVSTASH_STORE_INFO_LOG_INTERNAL_H_

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <memory>
#include <string>

namespace kvstash {

// Moves `dir`/LOG to LOG.old.<micros> (keeping `keep_old` old logs) and
// starts a new LOG through `fs`. Never fails: if LOG cannot be created, the
// logger drops every line.
std::shared_ptr<rocksdb::Logger> OpenStoreInfoLog(const std::shared_ptr<rocksdb::FileSystem>& fs,
                                                  const std::string& dir, size_t keep_old);

}  // namespace kvstash

#endif  // KVSTASH_STORE_INFO_LOG_INTERNAL_H_
