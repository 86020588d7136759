// DiskTier: the persistent tier, an embedded RocksDB database.
//
// Column families of layout 2 (keys and values in docs/format.md, section 5):
//   blocks        model(16) | hash(16)               -> encoded block blob
//   meta          model(16) | hash(16)               -> BlockMeta
//   child_tokens  model(16) | parent(16) | tokens    -> hash (who continues a
//                 prefix, sorted by tokens: child_index.h)
//   default       "model/" | model(16)               -> canonical ModelDescription
//                 "stats/counters"                   -> DiskCounters
//                 "pin/" | name                      -> DiskPin
//                 "logits/" | model | parent | tail  -> logits record
//                 "layout/version"                   -> 2
// A model's blocks are one contiguous key range in each family. Every
// operation a request makes (a block's meta or blob, the child sharing the
// longest prefix with a query, the partial blocks a new one supersedes, the
// logits records of a deleted block) is a point read or a seek or two: the
// number of reads does not grow with the number of blocks stored (each costs
// RocksDB's logarithmic lookup).
//
// Layout 1 (kvstash before the index of child tokens) kept child links as
// model | parent | hash and had no layout record. A read-write open migrates
// it (rebuilds the links from the metas, once); a read-only view of it
// rebuilds them in memory at open.
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
#include <string_view>
#include <utility>
#include <vector>

#include "serde/block_codec.h"
#include "serde/block_hash.h"
#include "serde/block_meta.h"
#include "serde/logits_record.h"
#include "serde/model_id.h"
#include "serde/mutex.h"
#include "serde/status.h"
#include "serde/store_records.h"
#include "store/child_index.h"
#include "store/fault_injection.h"

namespace kvstash {

// The key layout this kvstash writes; it reads [1, 2] (docs/format.md, 5).
inline constexpr uint32_t kDiskLayoutVersion = 2;

struct DiskTierOptions {
  std::string path;
  // Open a fixed view of the store as of now (RocksDB's read-only mode): no
  // lock, so it works while another process writes the store; it does not
  // see later writes (reopen for those), and a blob file the writer deletes
  // after the open reads as IOError. (Not a RocksDB secondary: 7.8's
  // secondaries read blob files through a dangling reference and crash at
  // random.) Default: false.
  bool read_only = false;
  // See StoreOptions::blob_files. Default: true.
  bool blob_files = true;
  // See StoreOptions::read_cache_bytes. Default: 64 MiB.
  uint64_t read_cache_bytes = 64ull << 20;
  // Test seam: file operations fail as this injector decides
  // (store/fault_injection.h). Default: null (no faults).
  std::shared_ptr<FaultInjector> fault_injector{};
};

struct DiskBlockWrite {
  ModelId model;
  BlockHash hash;
  BlockMeta meta;
  std::string blob;
};

// The write that stores an already encoded and verified `blob` under
// (model, hash), its meta taken from the blob's `header`; created and last
// access are `now_ms`. Used wherever blobs arrive whole (a peer's put, a
// block fetched from a peer, an imported pack).
DiskBlockWrite BlockWriteFromHeader(const ModelId& model, const BlockHash& hash,
                                    const BlockHeader& header, std::string blob, uint64_t now_ms);

// A block to remove; `parent` and `tokens` name its child link. Empty
// `tokens`: read from the block's meta (or, without one, found among the
// parent's children).
struct DiskBlockDelete {
  ModelId model;
  BlockHash hash;
  BlockHash parent;
  std::vector<int32_t> tokens;
};

// Reads the disk tier did, since it opened (or Recover() reopened it): what tests count to show
// that a request's work does not grow with the store.
struct DiskTierWork {
  uint64_t point_reads = 0;  // Get()s of one key
  uint64_t seeks = 0;        // iterator seeks
  uint64_t steps = 0;        // iterator Next()/Prev()
};

struct DiskTierSizes {
  uint64_t sst_bytes = 0;
  uint64_t blob_bytes = 0;
  uint64_t live_blob_bytes = 0;
  uint64_t wal_bytes = 0;
  uint64_t sst_files = 0;
  uint64_t blob_files = 0;
  uint64_t memtable_bytes = 0;  // all memtables, not yet in SST files
  // RocksDB's estimate of the live data in SSTs and blob files (what a full
  // compaction would leave).
  uint64_t estimate_live_data_bytes = 0;
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
  // The key layout the store had when opened (1 for a store migrated by this
  // open, or read as layout 1).
  uint32_t layout_at_open() const;
  DiskTierWork Work() const;

  // Writing after a failure. The first write that fails with an I/O error
  // (a full disk) stops this tier's writes: later ones fail at once with that
  // error, and reads go on. RocksDB 7.8 cannot safely write again in the
  // same instance (its Resume() reuses the WAL writer that failed, and
  // Debian's build asserts on it: RocksDB PR #12448), so Recover() reopens
  // it: a read-only view serves reads meanwhile, then the database is closed
  // and opened again for writing. OK if writes are not stopped or were
  // resumed; else why not (the disk is still full: the view keeps serving,
  // writes stay stopped, and a later Recover() tries again). The failed
  // write's data is not in the store: the caller writes it again.
  // Must be called with no scan of this tier running on the calling thread.
  Status Recover();
  bool writes_stopped() const;

  Status PutModel(const ModelId& model, std::string_view canonical_description);
  // NotFound if the model was never registered.
  Result<std::string> GetModel(const ModelId& model);
  Result<std::vector<std::pair<ModelId, std::string>>> ListModels();

  // Pins: see DiskPin. PutPin replaces a pin of the same name.
  // InvalidArgument for an empty name.
  Status PutPin(const DiskPin& pin);
  // NotFound if no pin has that name.
  Result<DiskPin> GetPin(const std::string& name);
  // OK if absent.
  Status DeletePin(const std::string& name);
  // Every pin, in name order. A record that does not decode is an error.
  Result<std::vector<DiskPin>> ListPins();

  // Writes every block (blob, meta, child link) in one atomic batch.
  // `sync`: fsync the WAL before returning.
  Status PutBlocks(const std::vector<DiskBlockWrite>& blocks, bool sync);

  // NotFound if absent.
  Result<BlockMeta> GetMeta(const ModelId& model, const BlockHash& hash);
  // Reads the blob into `*blob` (replaced; its capacity is reused). NotFound
  // if absent. RocksDB's own checksums are not verified when the open found
  // every table file of the blocks family sound (a damaged one turns them on
  // for every read), and the value is not cached (only, with blob files, the
  // index block that points at it): every blob carries an xxh3 checksum that
  // decoding checks (RocksDB's CRC32c runs in software in Debian's build, 1.4
  // GB/s), and the device tier is the cache (docs/benchmarks.md). Callers
  // that do not decode must call ParseBlockHeader().
  Status GetBlob(const ModelId& model, const BlockHash& hash, std::string* blob);
  // Reads many blobs in a row, for one thread at a time (verify's workers).
  // On a read-only view one iterator serves every read: RocksDB 7.8's
  // read-only mode cannot Get() a value in a blob file, and a new iterator
  // per read (what GetBlob does there) costs more than a small block's read.
  class BlobReader {
   public:
    virtual ~BlobReader() = default;
    // As GetBlob.
    virtual Status Read(const ModelId& model, const BlockHash& hash, std::string* blob) = 0;
  };
  std::unique_ptr<BlobReader> NewBlobReader();

  // The blocks whose parent is `parent`, in token order.
  Result<std::vector<ChildLink>> Children(const ModelId& model, const BlockHash& parent);
  // Among them, the one sharing the most leading tokens with `query`
  // (nullopt: none shares the first), and those whose tokens are a strict
  // prefix of `tokens`. A seek or two each (child_index.h).
  Result<std::optional<ChildMatch>> LongestChild(const ModelId& model, const BlockHash& parent,
                                                 TokenSpan query);
  Result<std::vector<ChildLink>> ShorterChildren(const ModelId& model, const BlockHash& parent,
                                                 TokenSpan tokens);
  // Calls `fn(model, parent, link)` for every child link, of one model or
  // all, in key order, with one iterator (verify's pass over the links);
  // stops early when `fn` returns false. Malformed links are skipped.
  Status ForEachLink(
      const std::optional<ModelId>& model,
      const std::function<bool(const ModelId&, const BlockHash&, const ChildLink&)>& fn);

  // Logits records (serde/logits_record.h), in the default family under
  // "logits/" + model + parent + tail. A record is deleted with its parent
  // block (DeleteBlock, DeleteBlocks): it is only useful while the prompt's
  // KV is stored, and gc deletes chains from their ends, so the parent goes
  // at the latest right after the prompt's last block.
  Status PutLogits(const LogitsKey& key, std::string_view record);
  // Reads a record into `*record` (replaced). NotFound if absent.
  Status GetLogits(const LogitsKey& key, std::string* record);
  // OK if absent.
  Status DeleteLogits(const LogitsKey& key);
  // Calls `fn(key, record)` for every logits record, of one model or all, in
  // key order; stops early when `fn` returns false. `record` is valid only
  // during the call. Keys of an unexpected length are skipped.
  Status ForEachLogits(const std::optional<ModelId>& model,
                       const std::function<bool(const LogitsKey&, std::string_view)>& fn);

  // Removes a block's blob, meta and child link, and the logits records whose
  // parent it is (absent parts are ignored). `tokens`: see DiskBlockDelete.
  Status DeleteBlock(const ModelId& model, const BlockHash& hash, const BlockHash& parent,
                     TokenSpan tokens = {});

  // Removes several blocks (blob, meta, child link, logits records each) in
  // one atomic batch;
  // absent parts are ignored. Used by gc, which deletes children before
  // parents so that no batch boundary (or crash) leaves an orphan behind.
  Status DeleteBlocks(const std::vector<DiskBlockDelete>& blocks);

  // Removes a model's registry entry (not its blocks). OK if absent.
  Status DeleteModel(const ModelId& model);

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
  // Flushes memtables and compacts every family, reclaiming the space of
  // deleted blocks now: blob GC rewrites the live blobs of the oldest blob
  // files up to the newest one that holds garbage, and drops the old files.
  // NotSupported on a read-only instance.
  Status Compact();
  DiskTierSizes Sizes();
  // True while RocksDB has flushes or compactions running or pending (a
  // store just filled has a backlog; benchmarks wait it out to measure a
  // store at rest, and say how long that took).
  bool BackgroundWorkPending();

  // The persisted counters; all zero if none were ever written. Corruption
  // or NotSupported (from DiskCounters::Decode) if the record is unreadable.
  Result<DiskCounters> GetCounters();
  // Adds `delta` to the persisted counters (read, add, write back; atomic
  // within this process, and only one process may open a store read-write).
  // NotSupported on a read-only instance; an unreadable record is an error
  // and is left as it is.
  Status AddCounters(const DiskCounters& delta);

  struct Impl;  // disk_tier_internal.h

 private:
  struct WriteHealth;
  DiskTier(DiskTierOptions options, std::shared_ptr<Impl> impl,
           std::shared_ptr<WriteHealth> health);
  // The RocksDB instance calls use; Recover() replaces it (callers keep the
  // one they took until they return).
  std::shared_ptr<Impl> Current() const;

  const DiskTierOptions options_;
  std::shared_ptr<Impl> impl_;  // read and replaced atomically (Current, Recover)
  const std::shared_ptr<WriteHealth> health_;
  Mutex recover_mu_;  // one Recover() at a time
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_DISK_TIER_H_
