// FaultInjector: a seam through which tests make the disk tier's file
// operations fail the way real disks do (a full disk, an I/O error, a write
// cut short), at chosen files and operations.
//
// DiskTier opens RocksDB on a file system that asks the injector before each
// operation on a file of the store: WAL, table (SST), blob file, MANIFEST,
// the info LOG and the rest (CURRENT, OPTIONS, IDENTITY). Production leaves
// the injector null and RocksDB uses its own file system unchanged.
//
// Thread-safety: Decide() is called from RocksDB's threads concurrently;
// implementations must be thread-safe (ScriptedFaults is).
#ifndef KVSTASH_STORE_FAULT_INJECTION_H_
#define KVSTASH_STORE_FAULT_INJECTION_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "serde/mutex.h"

namespace kvstash {

enum class StoreFile : uint8_t { kWal, kTable, kBlob, kManifest, kInfoLog, kOther };
enum class FileOp : uint8_t { kCreate, kWrite, kSync, kRead };
enum class Fault : uint8_t {
  kNone,
  kNoSpace,     // ENOSPC: nothing is written
  kIOError,     // EIO: nothing is written (or read)
  kShortWrite,  // the first half of the data is written, then ENOSPC
};

// Which kind of store file `path` is, from its name (RocksDB's naming).
StoreFile ClassifyStoreFile(std::string_view path);
const char* StoreFileName(StoreFile kind);

class FaultInjector {
 public:
  virtual ~FaultInjector() = default;
  // The fault to inject into operation `op` on the file `path` of `kind`,
  // or kNone to let it run.
  virtual Fault Decide(StoreFile kind, FileOp op, std::string_view path) = 0;
};

// A FaultInjector driven by a test: from Fail() until Clear(), every
// operation in `ops` on a file of one of `kinds` gets `fault`.
class ScriptedFaults : public FaultInjector {
 public:
  static constexpr uint32_t Bit(StoreFile kind) { return 1u << static_cast<uint32_t>(kind); }
  static constexpr uint32_t Bit(FileOp op) { return 1u << static_cast<uint32_t>(op); }
  static constexpr uint32_t kAllFiles = 0x3f;
  static constexpr uint32_t kWrites = (1u << 0) | (1u << 1) | (1u << 2);  // create, write, sync

  void Fail(uint32_t kinds, uint32_t ops, Fault fault);
  void Clear() { Fail(0, 0, Fault::kNone); }
  // Operations that got a fault since construction.
  uint64_t injected() const { return injected_.load(); }
  // Operations seen on files of `kind` (faulted or not).
  uint64_t seen(StoreFile kind) const { return seen_[static_cast<int>(kind)].load(); }

  Fault Decide(StoreFile kind, FileOp op, std::string_view path) override;

 private:
  mutable Mutex mu_;
  uint32_t kinds_ KVSTASH_GUARDED_BY(mu_) = 0;
  uint32_t ops_ KVSTASH_GUARDED_BY(mu_) = 0;
  Fault fault_ KVSTASH_GUARDED_BY(mu_) = Fault::kNone;
  std::atomic<uint64_t> injected_{0};
  std::atomic<uint64_t> seen_[6] = {};
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_FAULT_INJECTION_H_
