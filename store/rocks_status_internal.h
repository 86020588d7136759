// The one place where rocksdb::Status becomes kvstash::Status.
#ifndef KVSTASH_STORE_ROCKS_STATUS_INTERNAL_H_
#define KVSTASH_STORE_ROCKS_STATUS_INTERNAL_H_

#include <rocksdb/status.h>

#include <string_view>

#include "serde/status.h"

namespace kvstash {

// `context` names the operation ("open store /x", "put block ab12..").
Status FromRocks(const rocksdb::Status& s, std::string_view context);

}  // namespace kvstash

#endif  // KVSTASH_STORE_ROCKS_STATUS_INTERNAL_H_
