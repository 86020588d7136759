#include <string>

#include "store/rocks_status_internal.h"

namespace kvstash {

Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::OK();
  std::string msg(context);
  msg += ": ";
  msg += s.ToString();
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return Status::NotFound(msg);
    case rocksdb::Status::kCorruption:
      return Status::Corruption(msg);
    case rocksdb::Status::kInvalidArgument:
      return Status::InvalidArgument(msg);
    case rocksdb::Status::kNotSupported:
      return Status::NotSupported(msg);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTryAgain:
      return Status::Busy(msg);
    case rocksdb::Status::kAborted:
    case rocksdb::Status::kShutdownInProgress:
      return Status::Aborted(msg);
    case rocksdb::Status::kIOError:
      if (s.subcode() == rocksdb::Status::kNoSpace) return Status::ResourceExhausted(msg);
      // Another process holds the store: RocksDB reports the LOCK file.
      if (s.ToString().find("LOCK") != std::string::npos &&
          (s.ToString().find("Resource temporarily unavailable") != std::string::npos ||
           s.ToString().find("lock hold by current process") != std::string::npos)) {
        return Status::Busy(std::string(context) +
                            ": the store is in use by another process (RocksDB LOCK is held); "
                            "stop that process, or open the store read-only");
      }
      return Status::IOError(msg);
    default:
      return Status::IOError(msg);
  }
}

}  // namespace kvstash
