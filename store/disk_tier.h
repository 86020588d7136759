// DiskTier: the persistent tier, an embedded RocksDB database.
//
// Column families (keys and values in docs/format.md):
//   blocks    model(16) | hash(16)           -> encoded block blob
//   meta      model(16) | hash(16)           -> BlockMeta
//   children  model(16) | parent(16) | hash  -> "" (who continues a prefix)
//   default   "model/" | model(16)           -> canonical ModelDescription text
// A model's blocks are one contiguous key range in each family.
//
// Writes of a block (blob, meta, child link) are one atomic WriteBatch, so a
// crash never leaves a blob without its meta or the other way round.
//
// Thread-safety: all methods may be called concurrently.
#ifndef KVSTASH_STORE_DISK_TIER_H_
#define KVSTASH_STORE_DISK_TIER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "serde/block_hash.h"
#include "serde/block_meta.h"
#include "serde/model_id.h"
#include "serde/status.h"

namespace kvstash {

struct DiskTierOptions {
  std::string path;
  // Open as a RocksDB secondary instance: no lock, sees the writer's
  // changes as of open and after each CatchUp(). Default: false.
  bool read_only = false;
  // See StoreOptions::blob_files. Default: true.
  bool blob_files = true;
  // See StoreOptions::read_cache_bytes. Default: 64 MiB.
  uint64_t read_cache_bytes = 64ull << 20;
};

struct DiskBlockWrite {
  ModelId model;
  BlockHash hash;
  BlockMeta meta;
  std::string blob;
};

struct DiskTierSizes {
  uint64_t sst_bytes = 0;
  uint64_t blob_bytes = 0;
  uint64_t live_blob_bytes = 0;
  uint64_t wal_bytes = 0;
};

class DiskTier {
 public:
  // Creates the directory and database if missing. Returns Busy (naming the
  // lock) when another process holds the store read-write.
  static Result<std::unique_ptr<DiskTier>> Open(const DiskTierOptions& options);
  ~DiskTier();
  DiskTier(const DiskTier&) = delete;
  DiskTier& operator=(const DiskTier&) = delete;

  const std::string& path() const;
  bool read_only() const;

  Status PutModel(const ModelId& model, std::string_view canonical_description);
  // NotFound if the model was never registered.
  Result<std::string> GetModel(const ModelId& model);
  Result<std::vector<std::pair<ModelId, std::string>>> ListModels();

  // Writes every block (blob, meta, child link) in one atomic batch.
  // `sync`: fsync the WAL before returning.
  Status PutBlocks(const std::vector<DiskBlockWrite>& blocks, bool sync);

  // NotFound if absent.
  Result<BlockMeta> GetMeta(const ModelId& model, const BlockHash& hash);
  // Reads the blob into `*blob` (replaced; its capacity is reused). NotFound
  // if absent. RocksDB's own checksum of the value is not verified and the
  // value is not cached: every blob carries an xxh3 checksum that decoding
  // checks (RocksDB's CRC32c runs in software in Debian's build, 1.4 GB/s),
  // and the device tier is the cache (docs/benchmarks.md). Callers that do
  // not decode must call ParseBlockHeader().
  Status GetBlob(const ModelId& model, const BlockHash& hash, std::string* blob);
  // Hashes of the blocks whose parent is `parent`, in key order.
  Result<std::vector<BlockHash>> Children(const ModelId& model, const BlockHash& parent);

  // Removes a block's blob, meta and child link (absent parts are ignored).
  Status DeleteBlock(const ModelId& model, const BlockHash& hash, const BlockHash& parent);

  // Rewrites metas (e.g. batched last-access updates) in one batch.
  Status PutMetas(const std::vector<std::pair<std::pair<ModelId, BlockHash>, BlockMeta>>& metas);

  // Calls `fn(model, hash, meta_or_error)` for every block, in key order, of
  // one model or all; stops early when `fn` returns false. A meta that does
  // not decode is passed as its error, not skipped.
  Status ForEachMeta(
      const std::optional<ModelId>& model,
      const std::function<bool(const ModelId&, const BlockHash&, const Result<BlockMeta>&)>& fn);

  // fsyncs the write-ahead log: everything written before is durable.
  Status SyncWal();
  // Flushes memtables and compacts, reclaiming space of deleted blocks.
  Status Compact();
  // Read-only instances: catches up with the writer's latest changes.
  Status CatchUp();

  DiskTierSizes Sizes();

 private:
  struct Impl;
  explicit DiskTier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_DISK_TIER_H_
