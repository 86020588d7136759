// DiskTier's state and key layout, shared by its implementation files
// (disk_tier.cc: open, blocks, metas, models, pins, counters; disk_links.cc:
// the child links and the layout migration). Not part of the module's face.
#ifndef KVSTASH_STORE_DISK_TIER_INTERNAL_H_
#define KVSTASH_STORE_DISK_TIER_INTERNAL_H_

#include <rocksdb/db.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/child_index.h"
#include "store/disk_tier.h"

namespace kvstash {

inline constexpr char kBlocksFamily[] = "blocks";
inline constexpr char kMetaFamily[] = "meta";
// Layout 2's child links: model | parent | tokens -> hash.
inline constexpr char kLinksFamily[] = "child_tokens";
// Layout 1's child links: model | parent | hash -> "". Dropped by migration.
inline constexpr char kLegacyChildrenFamily[] = "children";
inline constexpr char kLayoutKey[] = "layout/version";
inline constexpr size_t kKeySize = 2 * Hash128::kEncodedSize;  // model | hash

// model | hash: the key of a block's blob and meta.
std::string BlockKey(const ModelId& model, const BlockHash& hash);
// model | parent | each token as a big-endian u32: a child link's key, so
// that a parent's children sort by their tokens, lexicographically.
std::string LinkKey(const ModelId& model, const BlockHash& parent, TokenSpan tokens);
// Decodes a link key's tokens (false if the key is malformed).
bool DecodeLinkTokens(const rocksdb::Slice& key, std::vector<int32_t>* tokens);
// Smallest key strictly after every key that starts with `prefix`.
std::string PrefixEnd(std::string prefix);
// A link's hash and tokens from its key and value (false if malformed).
bool DecodeLink(const rocksdb::Slice& key, const rocksdb::Slice& value, ChildLink* link);

// The RocksDB options of DiskTier::Open, before it adds the file system and
// the info LOG (shared with bench/disk_views.h, which measures variations).
struct RocksOptions {
  rocksdb::DBOptions db;
  rocksdb::ColumnFamilyOptions small;     // default, meta
  rocksdb::ColumnFamilyOptions prefixed;  // links (and a layout-1 store's children)
  rocksdb::ColumnFamilyOptions blocks;
};
RocksOptions RocksOptionsFor(const DiskTierOptions& options);

// Whether writes are stopped by a failure, and by which (DiskTier::Recover).
struct DiskTier::WriteHealth {
  std::atomic<bool> stopped{false};
  Mutex mu;
  Status error KVSTASH_GUARDED_BY(mu);  // the write that stopped them
};

struct DiskTier::Impl {
  DiskTierOptions options;
  // With a fault injector: the Env over the faulty file system (outlives db).
  std::unique_ptr<rocksdb::Env> fault_env;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // every family opened
  rocksdb::ColumnFamilyHandle* blocks = nullptr;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* links = nullptr;  // null on a read-only layout-1 store
  uint32_t layout = 0;                           // as found at open (before migration)
  // A read-only view of a layout-1 store: its child links, rebuilt in memory
  // from the metas at open (it cannot migrate). Null otherwise.
  std::unique_ptr<ChildIndex> legacy_links;
  Mutex counters_mu;  // makes AddCounters' read-modify-write atomic
  // Blob reads skip RocksDB's checksums (BlobReadOptions): set at open when
  // every table file of the blocks family passed CheckBlockTables.
  bool blob_reads_skip_checksums = false;

  std::atomic<uint64_t> point_reads{0}, seeks{0}, steps{0};  // DiskTierWork

  // Shared with the instances Recover() opens after this one.
  std::shared_ptr<DiskTier::WriteHealth> health;
  // Runs `op` (a RocksDB write) unless writes are stopped; an I/O error
  // stops them (DiskTier::Recover). Returns op's status with `what`.
  Status Write(std::string_view what, const std::function<rocksdb::Status()>& op);

  // Opens the database as `options` say.
  static Result<std::shared_ptr<Impl>> Open(const DiskTierOptions& options,
                                            std::shared_ptr<DiskTier::WriteHealth> health);

  ~Impl();

  using MetaFn = std::function<bool(const ModelId&, const BlockHash&, const Result<BlockMeta>&)>;
  // DiskTier::ForEachMeta; also used while opening (migration).
  Status ForEachMeta(const std::optional<ModelId>& model, const MetaFn& fn);

  // Rebuilds the child links of layout 2 from the metas, records the layout
  // and drops layout 1's family (`legacy`, if open). Idempotent: a crash
  // part way leaves the layout record unwritten, and the next open redoes it.
  // `new_store`: created by this open (nothing to rebuild).
  Status MigrateToLayout2(rocksdb::ColumnFamilyHandle* legacy, bool new_store);
  // Builds `legacy_links` from the metas.
  Status LoadLegacyLinks();
  // Checks the block checksums of every table file of the blocks family
  // (keys and blob references only: small). False, with a warning naming the
  // file, if one is damaged.
  bool CheckBlockTables(const rocksdb::Options& blocks_options);
  // The key of `b`'s child link; nullopt when it has none.
  Result<std::optional<std::string>> FindLinkKey(const DiskBlockDelete& b);
};

// The keys of one family that start with `prefix` (every key when it is
// empty), from the first on; counts its seek and steps in DiskTier::Work.
class PrefixIterator {
 public:
  PrefixIterator(DiskTier::Impl* impl, rocksdb::ColumnFamilyHandle* family, std::string prefix,
                 rocksdb::ReadOptions ro = rocksdb::ReadOptions());
  bool Valid() const { return it_->Valid(); }
  void Next() {
    impl_->steps.fetch_add(1, std::memory_order_relaxed);
    it_->Next();
  }
  rocksdb::Slice key() const { return it_->key(); }
  rocksdb::Slice value() const { return it_->value(); }
  rocksdb::Status status() const { return it_->status(); }

 private:
  DiskTier::Impl* impl_;
  std::string prefix_, upper_;
  rocksdb::Slice upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_DISK_TIER_INTERNAL_H_
