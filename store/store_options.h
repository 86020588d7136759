// Options of a Store. Every field states its default.
#ifndef KVSTASH_STORE_STORE_OPTIONS_H_
#define KVSTASH_STORE_STORE_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "serde/block_codec.h"
#include "serde/block_hash.h"
#include "serde/status.h"
#include "store/fault_injection.h"

namespace kvstash {

// When blocks reach the disk tier.
enum class SpillPolicy {
  // A background writer persists every inserted block soon after Insert
  // returns; device-tier eviction then only drops memory. Survives kill -9
  // for every block the writer has written, and power loss after Flush().
  kWriteThrough,
  // Blocks reach disk only when evicted from the device tier, and at Close().
  // Less disk traffic; a crash loses what was only in device memory.
  kOnEvict,
};

using BlockHashFunction = std::function<BlockHash(const ModelId& model, const BlockHash& parent,
                                                  const int32_t* tokens, size_t num_tokens)>;

struct StoreOptions {
  // Directory of the disk tier (created if missing). Empty: no disk tier,
  // only device memory. Default: empty; see DefaultStoreDir().
  std::string path;

  // Open the disk tier read-only: Insert fails with NotSupported, and no
  // lock is taken, so a writer may hold the store at the same time.
  // Default: false.
  bool read_only = false;

  // Byte budget of the device-memory LRU tier. 0 disables the tier (blocks go
  // straight to the writer). Default: 1 GiB.
  uint64_t device_budget_bytes = 1ull << 30;

  // Device of the LRU tier: "auto" (CUDA when libtorch has it, else CPU),
  // "cpu", "cuda", "cuda:N". Default: "auto".
  std::string device = "auto";

  // Default: kWriteThrough.
  SpillPolicy spill_policy = SpillPolicy::kWriteThrough;

  // How blocks are encoded on disk. Default: zstd over byte planes, level 1.
  EncodeOptions encode;

  // Inserts block (backpressure) while more than this many raw bytes wait for
  // the background writer. Also bounds the encoded bytes waiting to be put to
  // the peer (beyond it puts are dropped, never waited for). Default: 256 MiB.
  uint64_t max_pending_write_bytes = 256ull << 20;

  // Copy blocks found on disk into the device tier (in the background, so a
  // load never waits for it). Default: true.
  bool promote_on_hit = true;

  // Threads that read and decode the disk and remote blocks of one Load()
  // (the caller's thread is one of them). zstd decodes one block at ~1.3 GB/s per core, so
  // a long prefix loads up to this many times faster. 0: one per core, at
  // most 8. Default: 0.
  unsigned load_threads = 0;

  // fsync the write-ahead log in Flush(), so flushed blocks survive power
  // loss, not only a process crash. Default: true.
  bool sync_on_flush = true;

  // RocksDB tuning for the disk tier (see docs/architecture.md for the
  // measurements behind the defaults).
  // Keep block bytes in blob files (RocksDB's integrated BlobDB) instead of
  // inline in SSTs. Default: true.
  bool blob_files = true;
  // Cache for blob values or SST blocks. Default: 64 MiB.
  uint64_t read_cache_bytes = 64ull << 20;

  // The remote tier, consulted after device and disk: "host:port" of a
  // `kvstash serve` peer, or "redis://[[USER]:PASSWORD@]host:port[,...]" of
  // a Redis Cluster (store/remote/remote_tier.h). Empty: none. Default: empty.
  std::string remote;
  // The peer's shared secret, or the Redis password when the address holds
  // none. Default: empty.
  std::string remote_token;

  // Background gc of the disk tier. Store::Open itself never starts it (gc
  // sits above store) and refuses these limits (InvalidArgument);
  // OpenStoreWithGc (gc/managed_store.h) starts it, for a read-write store
  // with a disk tier, when either limit below is set.
  // Pinned prefixes (Store::Pin) are never collected.
  // Keep the blocks' stored bytes at or under this. 0: no budget. Default: 0.
  uint64_t disk_budget_bytes = 0;
  // Delete blocks not accessed for this long (whole idle subtrees). 0: no
  // limit. Default: 0.
  std::chrono::seconds max_idle{0};
  // From the end of one gc pass to the start of the next; the first runs at
  // open. Default: 60 s.
  std::chrono::seconds gc_interval{60};

  // Test seam: replaces ComputeBlockHash (e.g. to force collisions).
  // Default: empty (the real hash).
  BlockHashFunction hash_function_for_testing;
  // Test seam: the disk tier's file operations fail as this decides
  // (store/fault_injection.h). Default: null (no faults).
  std::shared_ptr<FaultInjector> fault_injector_for_testing;
};

// $KVSTASH_DIR, else $XDG_CACHE_HOME/kvstash, else ~/.cache/kvstash.
std::string DefaultStoreDir();

}  // namespace kvstash

#endif  // KVSTASH_STORE_STORE_OPTIONS_H_
