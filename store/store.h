// Store: kvstash's persistent, tiered store of KV blocks.
//
// An inference process asks, for each request, how much of its token
// sequence is already cached, loads that prefix's K/V straight into its own
// KV cache, prefills only the rest, and inserts the new blocks:
//
//   KVSTASH_ASSIGN_OR_RETURN(ModelId model, store->RegisterModel(description));
//   KVSTASH_ASSIGN_OR_RETURN(LoadResult loaded, store->Load(model, tokens, cache));
//   ... run the model on tokens [loaded.tokens, n) ...
//   KVSTASH_ASSIGN_OR_RETURN(InsertResult ins, store->Insert(model, tokens, cache));
//
// Sequences are split into blocks of `block_tokens` tokens (from the model's
// description); a sequence may end in one shorter block. A block is found by
// its chained hash and its stored tokens are compared with the query on
// every hit, so a hash collision is a miss. The first block that is not
// stored ends a match, except that any stored block continuing the matched
// prefix contributes its longest common token prefix with the query: a
// prompt repeated exactly reuses all of it, and one that diverges mid-block
// reuses up to the divergence.
//
// Tiers: a device-memory LRU (StoreOptions::device_budget_bytes), then the
// RocksDB disk tier (StoreOptions::path), then a `kvstash serve` peer
// (StoreOptions::remote). See StoreOptions::spill_policy. Blocks found on the
// peer are copied into the local tiers; new blocks are sent to the peer
// after the background writer has written them, by a thread of their own (a
// slow peer never holds up disk writes or Insert). A peer that is down is a
// miss, never an error.
//
// Durability (kWriteThrough, the default): a block inserted by Insert() is
// durable (it survives kill -9 of this process, and power loss if
// sync_on_flush) once a later Flush() has returned OK. A block usually
// reaches disk within milliseconds of Insert(), and survives kill -9 from
// then on even without Flush(), but only Flush() acknowledges it. A failed
// background write (a full disk, an I/O error) is kept in memory (and keeps
// serving loads) and written again by every Flush() until it succeeds; each
// such Flush() returns the error. At most max_pending_write_bytes of such
// blocks are kept: beyond, the oldest are dropped, counted
// (StoreStats::disk_blocks_dropped) and reported by the next Flush(). A
// model registration that cannot be written is kept the same way: the model
// works in this process, and Flush() writes its entry or returns the error.
// Under kOnEvict, Flush() only makes durable what was already evicted to
// the writer; blocks still in device memory become durable at Close().
//
// Integrity: every block read from disk is checksummed and its header is
// compared with its key; a block that fails is counted, deleted (unless
// read-only) and treated as a miss, never returned.
//
// Thread-safety: all methods may be called concurrently, except that Close()
// must not race with other calls. Only one process may open a store
// read-write; a second gets Busy. Read-only instances may open it meanwhile.
#ifndef KVSTASH_STORE_STORE_H_
#define KVSTASH_STORE_STORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "serde/block_hash.h"
#include "serde/logits_record.h"
#include "serde/model_id.h"
#include "serde/mutex.h"
#include "serde/status.h"
#include "store/child_index.h"
#include "store/kv_tensors.h"
#include "store/store_options.h"

namespace kvstash {

class DeviceTier;
class DiskTier;
class RemoteTier;
class WriteBehind;

enum class Tier : uint8_t { kDevice = 0, kDisk = 1, kRemote = 2 };

// The cached prefix [0, tokens) of a query, as pieces of stored blocks.
struct PrefixMatch {
  struct Piece {
    BlockHash hash;
    Tier tier = Tier::kDevice;
    size_t p0 = 0;            // first position this piece covers
    size_t n = 0;             // tokens used from the block: [p0, p0 + n)
    size_t block_tokens = 0;  // tokens the stored block holds (>= n)
  };
  size_t tokens = 0;
  size_t device_tokens = 0;
  size_t disk_tokens = 0;
  size_t remote_tokens = 0;
  std::vector<Piece> pieces;
};

struct LoadResult {
  size_t tokens = 0;  // positions [0, tokens) of the view now hold cached K/V
  size_t device_tokens = 0;
  size_t disk_tokens = 0;
  size_t remote_tokens = 0;
  size_t corrupt_blocks = 0;  // blocks found corrupt (and dropped) during this load
};

struct InsertResult {
  size_t blocks_added = 0;
  size_t blocks_present = 0;  // already stored (or covered by a longer block)
  size_t tokens_stored = 0;   // leading tokens of the sequence now cached
};

struct StoreStats {
  uint64_t hit_tokens_device = 0;
  uint64_t hit_tokens_disk = 0;
  uint64_t hit_tokens_remote = 0;
  uint64_t miss_tokens = 0;  // queried by Load() but not found
  uint64_t blocks_inserted = 0;
  uint64_t blocks_already_present = 0;
  uint64_t hash_collisions = 0;
  uint64_t corrupt_blocks = 0;
  uint64_t promotions = 0;
  uint64_t device_blocks = 0;
  uint64_t device_bytes = 0;
  uint64_t device_budget_bytes = 0;
  uint64_t disk_blocks_written = 0;
  uint64_t disk_bytes_written = 0;  // encoded bytes
  uint64_t disk_write_errors = 0;
  uint64_t failed_write_blocks = 0;  // held in memory until a Flush() writes them
  uint64_t disk_blocks_dropped = 0;  // failed writes dropped: more than the budget waited
  uint64_t pending_write_bytes = 0;
  uint64_t loads = 0;              // Load() calls
  uint64_t remote_puts = 0;        // blocks the background writer put to the peer
  uint64_t remote_put_errors = 0;  // puts to the peer that failed (down, refused) or were
                                   // dropped (more waited than max_pending_write_bytes)
};

class Store {
 public:
  // Opens (creating if needed) the store. Busy if another process holds it
  // read-write; ResourceExhausted if its disk is full (a read-only open
  // still works); IOError/Corruption from RocksDB otherwise. InvalidArgument
  // for disk_budget_bytes or max_idle, which only OpenStoreWithGc honours.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  // Closes (flushing) if Close() was not called; errors are logged.
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Registers a model (persisting its description) and returns its id.
  // Idempotent. InvalidArgument for an incomplete description.
  Result<ModelId> RegisterModel(const ModelDescription& description);
  // The description of a registered model (from memory or the disk registry).
  Result<ModelDescription> GetModel(const ModelId& model);

  // The longest cached prefix of `tokens` (does not read block payloads).
  // NotFound if the model is not registered.
  Result<PrefixMatch> Match(const ModelId& model, const std::vector<int32_t>& tokens);

  // Matches `tokens` and writes the cached prefix's K/V into positions
  // [0, result.tokens) of `view` (which must match the model's KV shape and
  // dtype and hold enough positions). A block found corrupt ends the load
  // early: the result then covers less than Match() promised, never wrong data.
  // Disk and remote blocks are read and decoded by up to
  // StoreOptions::load_threads threads; when
  // the load ends early, positions from result.tokens on may have been
  // written too (the caller prefills them anyway).
  Result<LoadResult> Load(const ModelId& model, const std::vector<int32_t>& tokens,
                          const KvCacheView& view);

  // Stores the K/V of `tokens` (positions [0, tokens.size()) of `view`),
  // skipping blocks already stored. NotSupported on a read-only store.
  Result<InsertResult> Insert(const ModelId& model, const std::vector<int32_t>& tokens,
                              const KvCacheView& view);

  // Logits records (serde/logits_record.h): the next-token logits after a
  // whole prompt, so that a warm start of exactly that prompt runs no forward
  // pass at all. Kept for prompts longer than one block, on disk (deleted
  // with the block before the prompt's last one), in memory for the last
  // kLogitsMemoEntries prompts, and on the peer (sent behind the prompt's
  // blocks; fetched, verified and kept locally on a local miss).
  //
  // Stores `logits` (f32, [vocab] or [1, vocab], any device) as the logits
  // after `tokens`. Does nothing for a prompt of one block or less, or on a
  // read-only store. InvalidArgument if the size is not the model's vocab.
  Status InsertLogits(const ModelId& model, const std::vector<int32_t>& tokens,
                      const at::Tensor& logits);
  // The logits stored after exactly `tokens`, as a [1, vocab] f32 CPU tensor,
  // or an undefined tensor if none are. A corrupt record is deleted, counted
  // as corrupt and reported as none.
  Result<at::Tensor> LoadLogits(const ModelId& model, const std::vector<int32_t>& tokens);
  static constexpr size_t kLogitsMemoEntries = 8;

  // Waits until every block inserted before the call is on disk and the
  // write-ahead log is synced (if sync_on_flush). Returns the first
  // background write error since the previous Flush().
  // Also adds the hit/miss/insert/collision/corruption/load counts since the
  // previous Flush() to the store's persisted counters
  // (DiskTier::GetCounters, shown by `kvstash stat`); counts of a process
  // killed before it flushes are lost. Failing to update them is logged on
  // stderr, not returned.
  Status Flush();

  // Pins the stored chain of `tokens` under `name` (replacing a pin of that
  // name): gc (`kvstash prune`, the BackgroundCollector, `verify --repair`
  // unless corrupt) never deletes its blocks. Flushes first, so blocks just
  // inserted count. NotFound if the model is unknown or the whole of `tokens`
  // is not stored on disk; InvalidArgument for an empty name or no tokens;
  // NotSupported on a read-only store or one without a disk tier.
  Status Pin(const std::string& name, const ModelId& model, const std::vector<int32_t>& tokens);
  // Removes a pin (its blocks become ordinary gc candidates). NotFound if no
  // pin has that name.
  Status Unpin(const std::string& name);

  // Read-only stores: see what the writer has written since open (reopens
  // the read-only view). REQUIRES: no other call on this store runs meanwhile.
  Status Refresh();

  // Flushes, writes device-only blocks (kOnEvict) and the logits records in
  // memory whose blocks are now on disk, closes the disk tier.
  // Idempotent; the store is unusable afterwards.
  Status Close();

  StoreStats Stats() const;
  const StoreOptions& options() const { return options_; }
  c10::Device device() const { return device_; }
  // The disk tier, or nullptr without one (for tools and gc).
  DiskTier* disk() const { return disk_.get(); }

 private:
  struct ModelInfo {
    ModelDescription description;
    BlockShape shape;
    size_t block_tokens = 0;
  };
  struct Counters {
    std::atomic<uint64_t> hit_tokens_remote{0};
    std::atomic<uint64_t> hit_tokens_device{0}, hit_tokens_disk{0}, miss_tokens{0};
    std::atomic<uint64_t> blocks_inserted{0}, blocks_already_present{0}, hash_collisions{0};
    std::atomic<uint64_t> corrupt_blocks{0}, promotions{0}, loads{0};
  };
  class DecoderPool;

  Store(const StoreOptions& options, c10::Device device);

  static ModelInfo ModelInfoOf(const ModelDescription& description);
  Result<ModelInfo> Info(const ModelId& model);
  // Match() for a model whose info the caller already has (Load).
  Result<PrefixMatch> MatchOf(const ModelId& model, const ModelInfo& info,
                              const std::vector<int32_t>& tokens);
  BlockHash HashBlock(const ModelId& model, const BlockHash& parent, const int32_t* tokens,
                      size_t n) const;
  // Best continuation of `parent` among stored blocks: the one sharing the
  // longest token prefix with `query[0, len)`.
  void BestChild(const ModelId& model, const BlockHash& parent, const int32_t* query, size_t len,
                 PrefixMatch::Piece* best);
  void AddBlock(std::shared_ptr<struct CachedBlock> block);
  // Puts `block` in the device tier and hands what that evicts to the writer.
  void AddToDeviceTier(std::shared_ptr<struct CachedBlock> block);
  // Makes `block` findable in pending_ until the writer has written it.
  void AddPending(const std::shared_ptr<struct CachedBlock>& block);
  // Queues `block` for the disk; it stays findable in memory until written.
  void SpillToWriter(std::shared_ptr<struct CachedBlock> block);
  // A block in device memory: the LRU tier, or queued for the disk writer.
  std::shared_ptr<struct CachedBlock> FindInMemory(const ModelId& model, const BlockHash& hash);
  // Stored children of `parent` whose tokens are a strict prefix of
  // `tokens[0, n)` (hash -> tokens), in any tier: a block with those tokens
  // supersedes them. DropSuperseded() removes them from every tier.
  using Superseded = std::unordered_map<BlockHash, std::vector<int32_t>, Hash128Hasher>;
  Superseded FindSuperseded(const ModelId& model, const BlockHash& parent, const int32_t* tokens,
                            size_t n);
  void DropSuperseded(const ModelId& model, const BlockHash& parent, Superseded doomed);
  // Asks the peer for the chain continuing `parent` at `*pos`; appends the
  // pieces it holds and advances `parent` and `*pos`. False if it has none
  // (or is unreachable).
  bool MatchRemote(const ModelId& model, size_t block_tokens, const std::vector<int32_t>& tokens,
                   BlockHash& parent, size_t* pos, PrefixMatch* match);
  void ForgetPending(const std::shared_ptr<struct CachedBlock>& block);
  void ForgetPendingLocked(const std::shared_ptr<struct CachedBlock>& block)
      KVSTASH_REQUIRES(pending_mu_);
  // The writer's report on `block`: forgets it, or keeps it for a retry.
  void OnBlockWritten(const std::shared_ptr<struct CachedBlock>& block, const Status& status);
  // Loads `pieces` (a prefix's blocks, in chain order) into `view` and adds
  // what was loaded to `*result`; the prefix ends at the first piece that
  // fails. `*gone`: it ended at a block that was no longer stored.
  Status LoadPieces(const ModelId& model, const ModelInfo& info,
                    const std::vector<PrefixMatch::Piece>& pieces,
                    const std::vector<int32_t>& tokens, const KvCacheView& view, LoadResult* result,
                    bool* gone);
  // Loads one disk or remote piece into `view`: the blob in `*fetched` (taken)
  // if not null, else read from the piece's tier. Sets `*keep` (if there is
  // background work: keeping a remote block locally, promoting it to the
  // device tier) to what queues that work; Load() runs it in chain order, for
  // pieces inside the loaded prefix only.
  Status LoadStored(const ModelId& model, const ModelInfo& info, Tier tier,
                    const PrefixMatch::Piece& piece, const std::vector<int32_t>& tokens,
                    const KvCacheView& view, std::function<void()>* keep,
                    std::string* fetched = nullptr);
  void QueuePromotion(std::shared_ptr<const std::string> blob, const BlockHeader& header,
                      const ModelInfo& info);
  void DropCorrupt(const ModelId& model, const BlockHash& hash, const Status& why);
  // Threads one Load() reads disk and remote blocks with
  // (StoreOptions::load_threads).
  size_t LoadThreads() const;
  // The key of the logits record after `tokens`; none for one block or less.
  Result<std::optional<LogitsKey>> LogitsKeyFor(const ModelId& model,
                                                const std::vector<int32_t>& tokens);
  void MemoizeLogits(const LogitsKey& key, const at::Tensor& logits);
  // kOnEvict: queues, behind everything queued so far, the writing of every
  // memoized record whose parent block is then on disk and that is not there
  // yet (write-through wrote them behind their blocks already).
  void KeepMemoizedLogits();
  void RecordAccess(const ModelId& model, const BlockHash& hash);
  Status FlushAccessRecords();
  // Adds the counters' growth since the last success to the disk tier's record.
  void PersistCounters();
  // Writes unwritten_models_; the first error, the failed ones kept.
  Status WriteUnwrittenModels();

  const StoreOptions options_;
  const c10::Device device_;
  std::unique_ptr<DeviceTier> device_tier_;
  std::unique_ptr<DiskTier> disk_;
  std::unique_ptr<RemoteTier> remote_;
  // Puts to the peer, off the writer's thread; null without a peer or when
  // read-only. Declared before writer_, which hands it blocks.
  std::unique_ptr<class RemotePutQueue> remote_puts_;
  std::unique_ptr<WriteBehind> writer_;
  std::unique_ptr<DecoderPool> decoders_;
  Counters counters_;
  bool closed_ = false;

  Mutex persist_mu_;
  // Counter values already added to the disk tier's record.
  StoreStats persisted_ KVSTASH_GUARDED_BY(persist_mu_);
  bool counters_warned_ KVSTASH_GUARDED_BY(persist_mu_) = false;

  Mutex models_mu_;
  std::unordered_map<ModelId, ModelInfo, Hash128Hasher> models_ KVSTASH_GUARDED_BY(models_mu_);
  // Registered models whose registry entry could not be written (a full
  // disk); Flush() writes them.
  std::map<ModelId, std::string> unwritten_models_ KVSTASH_GUARDED_BY(models_mu_);

  // Taken inside DeviceTier's lock when an eviction moves a block here
  // (AddToDeviceTier), never the other way round.
  mutable Mutex pending_mu_;
  // Blocks queued for the writer and not yet written, by model and hash.
  std::unordered_map<
      ModelId, std::unordered_map<BlockHash, std::shared_ptr<struct CachedBlock>, Hash128Hasher>,
      Hash128Hasher>
      pending_ KVSTASH_GUARDED_BY(pending_mu_);
  // The same blocks by parent and tokens, for BestChild and FindSuperseded.
  ChildIndex pending_children_ KVSTASH_GUARDED_BY(pending_mu_);
  // Blocks of pending_ whose disk write failed (a full disk), oldest first:
  // the next Flush() writes them again. At most max_pending_write_bytes of
  // them; beyond, the oldest are dropped and counted.
  std::deque<std::shared_ptr<struct CachedBlock>> failed_writes_ KVSTASH_GUARDED_BY(pending_mu_);
  uint64_t failed_write_bytes_ KVSTASH_GUARDED_BY(pending_mu_) = 0;
  uint64_t blocks_dropped_ KVSTASH_GUARDED_BY(pending_mu_) = 0;
  // Reported by the next Flush().
  uint64_t dropped_since_flush_ KVSTASH_GUARDED_BY(pending_mu_) = 0;

  Mutex logits_mu_;
  // The most recently stored or loaded logits records, newest first.
  std::list<std::pair<LogitsKey, at::Tensor>> logits_memo_ KVSTASH_GUARDED_BY(logits_mu_);

  Mutex remote_seen_mu_;
  // Blocks this store loaded from its peer (a block hash is chained over the
  // model and the tokens the load checked, so the hash alone names it), so a
  // store without a disk tier does not put them back to the peer when the
  // same prompt is inserted. Bounded: cleared when it reaches kMaxRemoteSeen
  // entries (a later re-put only costs bandwidth).
  std::unordered_set<BlockHash, Hash128Hasher> remote_seen_ KVSTASH_GUARDED_BY(remote_seen_mu_);
  static constexpr size_t kMaxRemoteSeen = 1 << 16;
  void NoteLoadedFromRemote(const BlockHash& hash);
  bool LoadedFromRemote(const BlockHash& hash);

  Mutex access_mu_;
  // (model, hash) -> hits since the last flush of access records.
  std::unordered_map<ModelId, std::unordered_map<BlockHash, uint64_t, Hash128Hasher>, Hash128Hasher>
      access_ KVSTASH_GUARDED_BY(access_mu_);
  size_t access_count_ KVSTASH_GUARDED_BY(access_mu_) = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_STORE_H_
