#include "store/disk_tier.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "serde/le_coding.h"
#include "store/disk_tier_internal.h"
#include "store/fault_file_system_internal.h"
#include "store/info_log_internal.h"
#include "store/rocks_status_internal.h"

namespace kvstash {

namespace {

constexpr char kModelKeyPrefix[] = "model/";
constexpr char kCountersKey[] = "stats/counters";
constexpr char kPinKeyPrefix[] = "pin/";
constexpr char kLogitsKeyPrefix[] = "logits/";
// Blob GC relocates every live blob out of the oldest this fraction of blob
// files during each compaction, garbage or not. At RocksDB's usual 0.5 the
// background compactions of a store that only grows rewrote its blobs again
// and again (docs/benchmarks.md, bench scale); so none in the background, and Compact() -- run by
// prune, the collector and verify --repair after they delete -- collects exactly the files that
// hold garbage (see there).
constexpr double kBlobGcAgeCutoff = 0.0;

Result<uint32_t> DecodeLayoutVersion(std::string_view value) {
  LeReader in(value);
  uint32_t version = 0;
  if (!in.Read32(&version) || in.remaining() != 0 || version < 2) {
    return Status::Corruption("store layout record: " + std::to_string(value.size()) +
                              " bytes, version " + std::to_string(version));
  }
  return version;
}

// RocksDB's info log for read-only views: they change nothing worth logging,
// and a LOG file would need a private directory (the writer's LOG is not
// theirs to rotate), made and removed on every open.
class NullLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

// "logits/" + model + parent + tail.
std::string LogitsKeyOf(const LogitsKey& k) {
  std::string key = kLogitsKeyPrefix;
  k.model.AppendTo(&key);
  k.parent.AppendTo(&key);
  k.tail.AppendTo(&key);
  return key;
}

std::string ModelKey(const ModelId& model) {
  std::string key = kModelKeyPrefix;
  model.AppendTo(&key);
  return key;
}

}  // namespace

DiskTier::Impl::~Impl() {
  if (db) {
    // Write the memtables out (blobs to blob files) so the WAL is empty:
    // the next open, often a warm start waiting for its first token, then
    // replays nothing (a 2048-token prompt's blobs are 16 MiB of WAL,
    // which a read-only open would read back into memory every time, and a
    // read-write open would also write out, with fsyncs). The work is the
    // same, done once, here. A failure (a full disk) leaves it in the WAL.
    if (!options.read_only && !health->stopped.load()) {
      rocksdb::FlushOptions flush;
      flush.allow_write_stall = true;
      rocksdb::Status s = db->Flush(flush, handles);
      (void)s;
    }
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    rocksdb::Status s = db->Close();
    (void)s;  // nothing useful to do with a close error in a destructor
    db.reset();
  }
}

Status DiskTier::Impl::Write(std::string_view what, const std::function<rocksdb::Status()>& op) {
  if (health->stopped.load()) {
    MutexLock lock(&health->mu);
    return health->error.WithContext(std::string(what) +
                                     ": writes stopped by an earlier failed write");
  }
  rocksdb::Status s = op();
  Status status = FromRocks(s, what);
  if (s.IsIOError() || s.IsCorruption()) {
    MutexLock lock(&health->mu);
    if (!health->stopped.exchange(true)) health->error = status;
  }
  return status;
}

DiskTier::DiskTier(DiskTierOptions options, std::shared_ptr<Impl> impl,
                   std::shared_ptr<WriteHealth> health)
    : options_(std::move(options)), impl_(std::move(impl)), health_(std::move(health)) {}
DiskTier::~DiskTier() = default;

std::shared_ptr<DiskTier::Impl> DiskTier::Current() const { return std::atomic_load(&impl_); }

const std::string& DiskTier::path() const { return options_.path; }
bool DiskTier::read_only() const { return options_.read_only; }
uint32_t DiskTier::layout_at_open() const { return Current()->layout; }

DiskTierWork DiskTier::Work() const {
  DiskTierWork w;
  const std::shared_ptr<Impl> impl = Current();
  w.point_reads = impl->point_reads.load(std::memory_order_relaxed);
  w.seeks = impl->seeks.load(std::memory_order_relaxed);
  w.steps = impl->steps.load(std::memory_order_relaxed);
  return w;
}

DiskBlockWrite BlockWriteFromHeader(const ModelId& model, const BlockHash& hash,
                                    const BlockHeader& header, std::string blob, uint64_t now_ms) {
  DiskBlockWrite w;
  w.model = model;
  w.hash = hash;
  w.meta.parent = header.parent;
  w.meta.tokens = header.tokens;
  w.meta.codec = header.codec;
  w.meta.dtype = header.shape.dtype;
  w.meta.raw_bytes = header.raw_bytes;
  w.meta.stored_bytes = blob.size();
  w.meta.created_ms = w.meta.last_access_ms = now_ms;
  w.blob = std::move(blob);
  return w;
}

Result<std::unique_ptr<DiskTier>> DiskTier::Open(const DiskTierOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("disk tier: empty path");
  auto health = std::make_shared<WriteHealth>();
  KVSTASH_ASSIGN_OR_RETURN(std::shared_ptr<Impl> impl, Impl::Open(options, health));
  return std::unique_ptr<DiskTier>(new DiskTier(options, std::move(impl), std::move(health)));
}

bool DiskTier::writes_stopped() const { return health_->stopped.load(); }

Status DiskTier::Recover() {
  if (read_only() || !health_->stopped.load()) return Status::OK();
  MutexLock lock(&recover_mu_);
  if (!health_->stopped.load()) return Status::OK();
  // A read-only view first (no lock needed), so reads go on while the
  // writable instance is closed and opened again.
  DiskTierOptions view_options = options_;
  view_options.read_only = true;
  auto view = Impl::Open(view_options, health_);
  if (!view.ok()) return view.status().WithContext("recover store " + path());
  std::shared_ptr<Impl> old = std::atomic_exchange(&impl_, std::move(view).value());
  // Calls that took the old instance finish (they are short: writes fail at
  // once meanwhile); closing it releases RocksDB's lock.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (old.use_count() > 1) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::atomic_store(&impl_, std::move(old));
      return Status::Busy("recover store " + path() +
                          ": a scan of the store did not finish within 10 s; try again");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  old.reset();
  auto fresh = Impl::Open(options_, health_);
  if (!fresh.ok()) return fresh.status().WithContext("recover store " + path());
  {
    MutexLock health_lock(&health_->mu);
    health_->stopped = false;
    health_->error = Status::OK();
  }
  std::atomic_store(&impl_, std::move(fresh).value());
  return Status::OK();
}

RocksOptions RocksOptionsFor(const DiskTierOptions& options) {
  RocksOptions rocks;
  rocksdb::DBOptions& db_options = rocks.db;
  db_options.create_if_missing = !options.read_only;
  db_options.create_missing_column_families = !options.read_only;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  // The small families' memtables rarely fill, so without a cap the WAL
  // would keep a second copy of every blob (2x disk use) until they do.
  db_options.max_total_wal_size = 64 << 20;
  // Opening is on a warm start's path (a new process opens the store, then
  // loads): table statistics are not needed at open, and every open starts a
  // new info LOG, so old ones are not kept by the thousand.
  db_options.skip_stats_update_on_db_open = true;
  db_options.keep_log_file_num = 4;
  // RocksDB opens every table file at open (max_open_files = -1), by
  // default on 16 threads started per column family and joined again: 64
  // thread starts cost 15-20 ms, most of a read-only open of a small store
  // (measured on a 2-core Zen 4 EPYC, AVX-512, otherwise idle: 19 ms -> 0.8
  // ms with one thread; read-write 28 -> 5 ms). A
  // store's few table files open faster on the calling thread.
  db_options.max_file_opening_threads = 1;
  if (options.read_only) db_options.max_open_files = -1;  // required by secondaries
  auto cache = rocksdb::NewLRUCache(options.read_cache_bytes);
  auto small_family = [&](bool prefix_bloom) {
    rocksdb::ColumnFamilyOptions cf;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
    // Index and filter blocks live in the block cache, not beside it: a
    // store's memory is then bounded by read_cache_bytes whatever it holds.
    // They are partitioned into 4 KiB pieces under a small pinned top level:
    // a large table's single index block (MBs) did not fit a cache shard, so
    // every read fetched it from the file again (docs/benchmarks.md, bench
    // scale).
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;
    table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
    table.partition_filters = true;
    table.metadata_block_size = 4096;
    table.pin_top_level_index_and_filter = true;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    if (prefix_bloom) cf.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kKeySize));
    cf.compression = rocksdb::kNoCompression;
    return cf;
  };
  rocksdb::ColumnFamilyOptions blocks_cf = small_family(false);
  // Blobs are already zstd-compressed; compressing again only costs time.
  blocks_cf.compression = rocksdb::kNoCompression;
  blocks_cf.write_buffer_size = 64 << 20;
  if (options.blob_files) {
    // Integrated BlobDB: values go to blob files written once, so compaction
    // moves 32-byte keys, not megabytes of KV. See docs/architecture.md.
    blocks_cf.enable_blob_files = true;
    blocks_cf.min_blob_size = 1024;
    blocks_cf.blob_file_size = 256 << 20;
    blocks_cf.blob_compression_type = rocksdb::kNoCompression;
    blocks_cf.enable_blob_garbage_collection = true;
    blocks_cf.blob_garbage_collection_age_cutoff = kBlobGcAgeCutoff;
    // No blob cache: the device tier is the cache, page-cache re-reads run
    // at ~8 GB/s, and 600 KB blobs churn a sharded LRU (docs/benchmarks.md).
  }
  rocks.small = small_family(false);
  rocks.prefixed = small_family(true);
  rocks.blocks = blocks_cf;
  return rocks;
}

Result<std::shared_ptr<DiskTier::Impl>> DiskTier::Impl::Open(
    const DiskTierOptions& options, std::shared_ptr<DiskTier::WriteHealth> health) {
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  impl->health = std::move(health);

  if (!options.read_only) {
    std::error_code ec;
    std::filesystem::create_directories(options.path, ec);
    if (ec) {
      return Status::IOError("create store directory " + options.path + ": " + ec.message());
    }
  } else if (!std::filesystem::exists(options.path + "/CURRENT")) {
    return Status::NotFound("no kvstash store at " + options.path);
  }

  RocksOptions rocks = RocksOptionsFor(options);
  rocksdb::DBOptions& db_options = rocks.db;
  std::shared_ptr<rocksdb::FileSystem> fs = rocksdb::FileSystem::Default();
  if (options.fault_injector) {
    fs = NewFaultFileSystem(std::move(fs), options.fault_injector);
    impl->fault_env = rocksdb::NewCompositeEnv(fs);
    db_options.env = impl->fault_env.get();
  }

  rocksdb::ColumnFamilyOptions& blocks_cf = rocks.blocks;
  // Every family the store has must be opened read-write (RocksDB's rule),
  // so they are listed first: a layout-1 store has "children", which
  // migration drops; a family this kvstash does not know is opened with
  // default options, and the layout record then says whether it may go on.
  std::vector<std::string> existing;
  const bool exists = rocksdb::DB::ListColumnFamilies(db_options, options.path, &existing).ok();
  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName, kBlocksFamily, kMetaFamily};
  const bool has_links =
      std::find(existing.begin(), existing.end(), kLinksFamily) != existing.end();
  if (has_links || !options.read_only) names.push_back(kLinksFamily);
  for (const std::string& name : existing) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) {
    rocksdb::ColumnFamilyOptions cf = rocks.small;
    if (name == kBlocksFamily) cf = blocks_cf;
    if (name == kLinksFamily || name == kLegacyChildrenFamily) cf = rocks.prefixed;
    families.emplace_back(name, cf);
  }

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    db_options.info_log = std::make_shared<NullLogger>();
    s = rocksdb::DB::OpenForReadOnly(db_options, options.path, families, &impl->handles, &raw,
                                     /*error_if_wal_file_exists=*/false);
  } else {
    // The store's own info LOG: RocksDB's aborts on a full disk
    // (store/info_log_internal.h).
    db_options.info_log = OpenStoreInfoLog(fs, options.path, db_options.keep_log_file_num - 1);
    s = rocksdb::DB::Open(db_options, options.path, families, &impl->handles, &raw);
  }
  if (!s.ok()) return FromRocks(s, "open store " + options.path);
  impl->db.reset(raw);
  rocksdb::ColumnFamilyHandle* legacy = nullptr;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == kBlocksFamily) impl->blocks = impl->handles[i];
    if (names[i] == kMetaFamily) impl->meta = impl->handles[i];
    if (names[i] == kLinksFamily) impl->links = impl->handles[i];
    if (names[i] == kLegacyChildrenFamily) legacy = impl->handles[i];
  }

  // The layout: recorded since layout 2; a store without the record is
  // layout 1, unless this open just created it.
  std::string layout_value;
  rocksdb::Status ls = impl->db->Get(rocksdb::ReadOptions(), kLayoutKey, &layout_value);
  if (ls.ok()) {
    KVSTASH_ASSIGN_OR_RETURN(impl->layout, DecodeLayoutVersion(layout_value));
  } else if (ls.IsNotFound()) {
    impl->layout = exists ? 1 : kDiskLayoutVersion;
  } else {
    return FromRocks(ls, "read the layout of store " + options.path);
  }
  if (impl->layout > kDiskLayoutVersion) {
    return Status::NotSupported("store " + options.path + " has key layout " +
                                std::to_string(impl->layout) + ", newer than this kvstash reads (" +
                                std::to_string(kDiskLayoutVersion) + ")");
  }
  if (options.read_only) {
    if (impl->layout < 2) {
      KVSTASH_RETURN_IF_ERROR(impl->LoadLegacyLinks());
    } else if (!impl->links) {
      return Status::Corruption("store " + options.path + ": layout 2 without its family " +
                                kLinksFamily);
    }
  } else if (impl->layout < 2 || legacy || !exists) {
    KVSTASH_RETURN_IF_ERROR(impl->MigrateToLayout2(legacy, /*new_store=*/!exists));
  }
  if (options.blob_files) {
    impl->blob_reads_skip_checksums =
        impl->CheckBlockTables(rocksdb::Options(db_options, blocks_cf));
  }
  return impl;
}

bool DiskTier::Impl::CheckBlockTables(const rocksdb::Options& blocks_options) {
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  for (const rocksdb::LiveFileMetaData& f : files) {
    if (f.column_family_name != kBlocksFamily) continue;
    const std::string file = f.db_path + f.name;
    rocksdb::Status s = rocksdb::VerifySstFileChecksum(blocks_options, rocksdb::EnvOptions(),
                                                       rocksdb::ReadOptions(), file);
    if (!s.ok()) {
      std::fprintf(stderr,
                   "kvstash: warning: store table file %s is damaged (%s); every read checks "
                   "checksums, and blocks it cannot read are misses (`kvstash verify --repair` "
                   "salvages the store)\n",
                   file.c_str(), s.ToString().c_str());
      return false;
    }
  }
  return true;
}

Status DiskTier::PutModel(const ModelId& model, std::string_view canonical_description) {
  const std::shared_ptr<Impl> impl = Current();
  return impl->Write("register model " + model.ToHex(), [&] {
    return impl->db->Put(rocksdb::WriteOptions(), ModelKey(model), canonical_description);
  });
}

Result<std::string> DiskTier::GetModel(const ModelId& model) {
  const std::shared_ptr<Impl> impl = Current();
  std::string value;
  rocksdb::Status s = impl->db->Get(rocksdb::ReadOptions(), ModelKey(model), &value);
  if (s.IsNotFound()) return Status::NotFound("model " + model.ToHex() + " is not in the store");
  if (!s.ok()) return FromRocks(s, "read model " + model.ToHex());
  return value;
}

Result<std::vector<std::pair<ModelId, std::string>>> DiskTier::ListModels() {
  const std::shared_ptr<Impl> impl = Current();
  std::vector<std::pair<ModelId, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(impl->db->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = kModelKeyPrefix;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != prefix.size() + Hash128::kEncodedSize) continue;
    out.emplace_back(Hash128::DecodeFrom(k.data() + prefix.size()), it->value().ToString());
  }
  KVSTASH_RETURN_IF_ERROR(FromRocks(it->status(), "list models"));
  return out;
}

Status DiskTier::PutPin(const DiskPin& pin) {
  const std::shared_ptr<Impl> impl = Current();
  if (pin.name.empty()) return Status::InvalidArgument("pin: empty name");
  return impl->Write("write pin " + pin.name, [&] {
    return impl->db->Put(rocksdb::WriteOptions(), kPinKeyPrefix + pin.name, pin.Encode());
  });
}

Result<DiskPin> DiskTier::GetPin(const std::string& name) {
  const std::shared_ptr<Impl> impl = Current();
  std::string value;
  rocksdb::Status s = impl->db->Get(rocksdb::ReadOptions(), kPinKeyPrefix + name, &value);
  if (s.IsNotFound()) return Status::NotFound("no pin named '" + name + "'");
  if (!s.ok()) return FromRocks(s, "read pin " + name);
  KVSTASH_ASSIGN_OR_RETURN(DiskPin pin, DiskPin::Decode(value));
  pin.name = name;
  return pin;
}

Status DiskTier::DeletePin(const std::string& name) {
  const std::shared_ptr<Impl> impl = Current();
  return impl->Write("delete pin " + name, [&] {
    return impl->db->Delete(rocksdb::WriteOptions(), kPinKeyPrefix + name);
  });
}

Result<std::vector<DiskPin>> DiskTier::ListPins() {
  const std::shared_ptr<Impl> impl = Current();
  std::vector<DiskPin> out;
  std::unique_ptr<rocksdb::Iterator> it(impl->db->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = kPinKeyPrefix;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string name = it->key().ToString().substr(prefix.size());
    Result<DiskPin> pin = DiskPin::Decode(std::string_view(it->value().data(), it->value().size()));
    if (!pin.ok()) return pin.status().WithContext("pin " + name);
    out.push_back(std::move(*pin));
    out.back().name = std::move(name);
  }
  KVSTASH_RETURN_IF_ERROR(FromRocks(it->status(), "list pins"));
  return out;
}

Status DiskTier::PutBlocks(const std::vector<DiskBlockWrite>& blocks, bool sync) {
  const std::shared_ptr<Impl> impl = Current();
  if (blocks.empty()) return Status::OK();
  rocksdb::WriteBatch batch;
  for (const DiskBlockWrite& b : blocks) {
    std::string key = BlockKey(b.model, b.hash);
    batch.Put(impl->blocks, key, b.blob);
    batch.Put(impl->meta, key, b.meta.Encode());
    std::string hash;
    b.hash.AppendTo(&hash);
    batch.Put(impl->links, LinkKey(b.model, b.meta.parent, b.meta.tokens), hash);
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return impl->Write("write " + std::to_string(blocks.size()) + " blocks to " + path(),
                     [&] { return impl->db->Write(wo, &batch); });
}

Result<BlockMeta> DiskTier::GetMeta(const ModelId& model, const BlockHash& hash) {
  const std::shared_ptr<Impl> impl = Current();
  impl->point_reads.fetch_add(1, std::memory_order_relaxed);
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      impl->db->Get(rocksdb::ReadOptions(), impl->meta, BlockKey(model, hash), &value);
  if (s.IsNotFound()) return Status::NotFound("block " + hash.ToHex());
  if (!s.ok()) return FromRocks(s, "read meta of block " + hash.ToHex());
  auto meta = BlockMeta::Decode(std::string_view(value.data(), value.size()));
  if (!meta.ok()) return meta.status().WithContext("block " + hash.ToHex());
  return meta;
}

namespace {

// How blobs are read. RocksDB's checksums are skipped once the open found
// the blocks family's table files sound (CheckBlockTables): the switch
// covers both the CRC32c of every blob value (software in Debian's build;
// every blob carries an xxh3 checksum that decoding checks anyway) and the
// table blocks read on the way, and a damaged table block read unverified
// reached an assertion in RocksDB's block parser (Debian's librocksdb keeps
// assertions: SIGABRT; found by `soak.sh corrupt`). Table files written
// later come from this process's flushes and from compactions, which read
// their inputs verified. With blob files the cache takes only the small key
// -> blob-file index blocks (re-read and re-parsed on every read without
// it); inline values would fill it with KV.
rocksdb::ReadOptions BlobReadOptions(const DiskTier::Impl& impl) {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = !impl.blob_reads_skip_checksums;
  ro.fill_cache = impl.options.blob_files;
  return ro;
}

class GetBlobReader : public DiskTier::BlobReader {
 public:
  explicit GetBlobReader(DiskTier* disk) : disk_(disk) {}
  Status Read(const ModelId& model, const BlockHash& hash, std::string* blob) override {
    return disk_->GetBlob(model, hash, blob);
  }

 private:
  DiskTier* disk_;
};

// RocksDB 7.8's read-only mode answers NotFound to Get() of a value in a
// blob file; an iterator reads it.
class IteratorBlobReader : public DiskTier::BlobReader {
 public:
  explicit IteratorBlobReader(std::shared_ptr<DiskTier::Impl> impl)
      : impl_(std::move(impl)),
        it_(impl_->db->NewIterator(BlobReadOptions(*impl_), impl_->blocks)) {}
  Status Read(const ModelId& model, const BlockHash& hash, std::string* blob) override {
    impl_->point_reads.fetch_add(1, std::memory_order_relaxed);
    const std::string key = BlockKey(model, hash);
    it_->Seek(key);
    if (it_->Valid() && it_->key() == rocksdb::Slice(key)) {
      blob->assign(it_->value().data(), it_->value().size());
      return Status::OK();
    }
    if (!it_->status().ok()) return FromRocks(it_->status(), "read block " + hash.ToHex());
    return Status::NotFound("block " + hash.ToHex());
  }

 private:
  std::shared_ptr<DiskTier::Impl> impl_;  // kept open while the iterator lives
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace

Status DiskTier::GetBlob(const ModelId& model, const BlockHash& hash, std::string* blob) {
  const std::shared_ptr<Impl> impl = Current();
  if (impl->options.read_only) return IteratorBlobReader(impl).Read(model, hash, blob);
  impl->point_reads.fetch_add(1, std::memory_order_relaxed);
  rocksdb::PinnableSlice value(blob);  // reads into *blob's buffer, no second copy
  rocksdb::Status s =
      impl->db->Get(BlobReadOptions(*impl), impl->blocks, BlockKey(model, hash), &value);
  if (s.ok() && value.IsPinned()) blob->assign(value.data(), value.size());
  if (s.IsNotFound()) return Status::NotFound("block " + hash.ToHex());
  return FromRocks(s, "read block " + hash.ToHex());
}

std::unique_ptr<DiskTier::BlobReader> DiskTier::NewBlobReader() {
  const std::shared_ptr<Impl> impl = Current();
  // Read-only instances (also the view a failed writer falls back to:
  // Recover()) cannot Get() blob values.
  if (impl->options.read_only) return std::make_unique<IteratorBlobReader>(impl);
  return std::make_unique<GetBlobReader>(this);
}

Status DiskTier::PutLogits(const LogitsKey& key, std::string_view record) {
  const std::shared_ptr<Impl> impl = Current();
  return impl->Write("write logits of " + key.tail.ToHex(), [&] {
    return impl->db->Put(rocksdb::WriteOptions(), LogitsKeyOf(key),
                         rocksdb::Slice(record.data(), record.size()));
  });
}

Status DiskTier::GetLogits(const LogitsKey& key, std::string* record) {
  const std::shared_ptr<Impl> impl = Current();
  impl->point_reads.fetch_add(1, std::memory_order_relaxed);
  rocksdb::Status s = impl->db->Get(rocksdb::ReadOptions(), LogitsKeyOf(key), record);
  if (s.IsNotFound()) return Status::NotFound("logits of " + key.tail.ToHex());
  return FromRocks(s, "read logits of " + key.tail.ToHex());
}

Status DiskTier::DeleteLogits(const LogitsKey& key) {
  const std::shared_ptr<Impl> impl = Current();
  return impl->Write("delete logits of " + key.tail.ToHex(),
                     [&] { return impl->db->Delete(rocksdb::WriteOptions(), LogitsKeyOf(key)); });
}

Status DiskTier::ForEachLogits(const std::optional<ModelId>& model,
                               const std::function<bool(const LogitsKey&, std::string_view)>& fn) {
  const std::shared_ptr<Impl> impl = Current();
  std::string prefix = kLogitsKeyPrefix;
  if (model) model->AppendTo(&prefix);
  const size_t id_offset = sizeof(kLogitsKeyPrefix) - 1;
  PrefixIterator it(impl.get(), impl->db->DefaultColumnFamily(), std::move(prefix));
  for (; it.Valid(); it.Next()) {
    const rocksdb::Slice k = it.key();
    if (k.size() != id_offset + 3 * Hash128::kEncodedSize) continue;
    LogitsKey key;
    key.model = Hash128::DecodeFrom(k.data() + id_offset);
    key.parent = Hash128::DecodeFrom(k.data() + id_offset + Hash128::kEncodedSize);
    key.tail = Hash128::DecodeFrom(k.data() + id_offset + 2 * Hash128::kEncodedSize);
    if (!fn(key, std::string_view(it.value().data(), it.value().size()))) break;
  }
  return FromRocks(it.status(), "list logits records");
}

Status DiskTier::DeleteBlock(const ModelId& model, const BlockHash& hash, const BlockHash& parent,
                             TokenSpan tokens) {
  return DeleteBlocks(
      {{model, hash, parent, std::vector<int32_t>(tokens.data, tokens.data + tokens.size)}});
}

Status DiskTier::DeleteBlocks(const std::vector<DiskBlockDelete>& blocks) {
  const std::shared_ptr<Impl> impl = Current();
  if (blocks.empty()) return Status::OK();
  if (read_only()) return Status::NotSupported("delete blocks: store opened read-only");
  rocksdb::WriteBatch batch;
  for (const DiskBlockDelete& b : blocks) {
    std::string key = BlockKey(b.model, b.hash);
    batch.Delete(impl->blocks, key);
    batch.Delete(impl->meta, key);
    KVSTASH_ASSIGN_OR_RETURN(std::optional<std::string> link, impl->FindLinkKey(b));
    if (link) batch.Delete(impl->links, *link);
    // The logits records whose parent goes too: one seek to their prefix.
    std::string prefix = kLogitsKeyPrefix;
    b.model.AppendTo(&prefix);
    b.hash.AppendTo(&prefix);
    PrefixIterator it(impl.get(), impl->db->DefaultColumnFamily(), std::move(prefix));
    for (; it.Valid(); it.Next()) batch.Delete(it.key());
    KVSTASH_RETURN_IF_ERROR(FromRocks(it.status(), "find logits records of " + b.hash.ToHex()));
  }
  const std::string what =
      blocks.size() == 1 ? "delete block " + blocks[0].hash.ToHex()
                         : "delete " + std::to_string(blocks.size()) + " blocks from " + path();
  return impl->Write(what, [&] { return impl->db->Write(rocksdb::WriteOptions(), &batch); });
}

Status DiskTier::DeleteModel(const ModelId& model) {
  const std::shared_ptr<Impl> impl = Current();
  return impl->Write("unregister model " + model.ToHex(),
                     [&] { return impl->db->Delete(rocksdb::WriteOptions(), ModelKey(model)); });
}

Status DiskTier::PutMetas(
    const std::vector<std::pair<std::pair<ModelId, BlockHash>, BlockMeta>>& metas) {
  const std::shared_ptr<Impl> impl = Current();
  if (metas.empty()) return Status::OK();
  rocksdb::WriteBatch batch;
  for (const auto& [id, meta] : metas) {
    batch.Put(impl->meta, BlockKey(id.first, id.second), meta.Encode());
  }
  return impl->Write("update block metadata",
                     [&] { return impl->db->Write(rocksdb::WriteOptions(), &batch); });
}

Status DiskTier::ForEachMeta(const std::optional<ModelId>& model, const Impl::MetaFn& fn) {
  const std::shared_ptr<Impl> impl = Current();
  return impl->ForEachMeta(model, fn);
}

Status DiskTier::Impl::ForEachMeta(const std::optional<ModelId>& model, const MetaFn& fn) {
  std::string prefix;
  if (model) model->AppendTo(&prefix);
  PrefixIterator it(this, meta, std::move(prefix));
  for (; it.Valid(); it.Next()) {
    const rocksdb::Slice k = it.key();
    if (k.size() != kKeySize) continue;
    Result<BlockMeta> m = BlockMeta::Decode(std::string_view(it.value().data(), it.value().size()));
    if (!fn(Hash128::DecodeFrom(k.data()), Hash128::DecodeFrom(k.data() + Hash128::kEncodedSize),
            m)) {
      break;
    }
  }
  return FromRocks(it.status(), "scan block metadata");
}

Status DiskTier::SyncWal() {
  const std::shared_ptr<Impl> impl = Current();
  if (read_only()) return Status::OK();
  return impl->Write("sync write-ahead log of " + path(),
                     [&] { return impl->db->FlushWAL(/*sync=*/true); });
}

Status DiskTier::Compact() {
  const std::shared_ptr<Impl> impl = Current();
  if (read_only()) return Status::NotSupported("compact: store opened read-only");
  rocksdb::CompactRangeOptions cro;
  cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  const bool blob_gc = impl->options.blob_files;
  auto set_cutoff = [&](double cutoff) {
    return FromRocks(impl->db->SetOptions(impl->blocks, {{"blob_garbage_collection_age_cutoff",
                                                          std::to_string(cutoff)}}),
                     "set blob GC age cutoff");
  };
  // Blob GC relocates every live blob of the oldest `cutoff` fraction of blob
  // files, garbage or not. With the usual 0.5, blobs of deleted blocks in the
  // newer half stay on disk (measured: pruning half of a 5.7 MB store, one
  // blob file, freed nothing), while half the store is rewritten anyway.
  // So: pass 1 without GC drops deleted keys, which makes RocksDB account
  // each file's garbage; pass 2 collects exactly the files up to the newest
  // one holding garbage (LRU pruning deletes old blocks, so usually a few).
  if (blob_gc) KVSTASH_RETURN_IF_ERROR(set_cutoff(0.0));
  Status s;
  for (auto* h : impl->handles) {
    s = impl->Write("flush", [&] { return impl->db->Flush(rocksdb::FlushOptions(), h); });
    if (!s.ok()) break;
    s = impl->Write("compact " + path(),
                    [&] { return impl->db->CompactRange(cro, h, nullptr, nullptr); });
    if (!s.ok()) break;
  }
  if (blob_gc && s.ok()) {
    rocksdb::ColumnFamilyMetaData meta;
    impl->db->GetColumnFamilyMetaData(impl->blocks, &meta);
    std::vector<uint64_t> numbers;  // blob files, oldest first
    uint64_t newest_with_garbage = 0;
    bool garbage = false;
    for (const auto& f : meta.blob_files) {
      numbers.push_back(f.blob_file_number);
      if (f.garbage_blob_bytes > 0) {
        newest_with_garbage = std::max(newest_with_garbage, f.blob_file_number);
        garbage = true;
      }
    }
    if (garbage) {
      std::sort(numbers.begin(), numbers.end());
      const size_t files =
          std::upper_bound(numbers.begin(), numbers.end(), newest_with_garbage) - numbers.begin();
      // RocksDB collects the oldest floor(cutoff * n) files; +0.5 guards rounding.
      s = set_cutoff(std::min(1.0, (files + 0.5) / numbers.size()));
      if (s.ok()) {
        s = impl->Write("collect blob garbage of " + path(), [&] {
          return impl->db->CompactRange(cro, impl->blocks, nullptr, nullptr);
        });
      }
    }
  }
  if (blob_gc) {
    Status restore = set_cutoff(kBlobGcAgeCutoff);
    if (s.ok()) s = restore;
  }
  return s;
}

bool DiskTier::BackgroundWorkPending() {
  const std::shared_ptr<Impl> impl = Current();
  uint64_t v = 0;
  for (const char* property : {"rocksdb.num-running-compactions", "rocksdb.num-running-flushes"}) {
    if (impl->db->GetIntProperty(property, &v) && v > 0) return true;
  }
  for (auto* h : impl->handles) {
    for (const char* property : {"rocksdb.compaction-pending", "rocksdb.mem-table-flush-pending"}) {
      if (impl->db->GetIntProperty(h, property, &v) && v > 0) return true;
    }
  }
  return false;
}

DiskTierSizes DiskTier::Sizes() {
  const std::shared_ptr<Impl> impl = Current();
  DiskTierSizes sizes;
  uint64_t v = 0;
  for (auto* h : impl->handles) {
    if (impl->db->GetIntProperty(h, rocksdb::DB::Properties::kTotalSstFilesSize, &v)) {
      sizes.sst_bytes += v;
    }
    if (impl->db->GetIntProperty(h, rocksdb::DB::Properties::kTotalBlobFileSize, &v)) {
      sizes.blob_bytes += v;
    }
    if (impl->db->GetIntProperty(h, rocksdb::DB::Properties::kLiveBlobFileSize, &v)) {
      sizes.live_blob_bytes += v;
    }
    if (impl->db->GetIntProperty(h, rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
      sizes.memtable_bytes += v;
    }
    if (impl->db->GetIntProperty(h, rocksdb::DB::Properties::kEstimateLiveDataSize, &v)) {
      sizes.estimate_live_data_bytes += v;
    }
    rocksdb::ColumnFamilyMetaData cf;
    impl->db->GetColumnFamilyMetaData(h, &cf);
    sizes.sst_files += cf.file_count;
    sizes.blob_files += cf.blob_file_count;
  }
  uint64_t wal = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path(), ec)) {
    if (entry.path().extension() == ".log") wal += entry.file_size(ec);
  }
  sizes.wal_bytes = wal;
  return sizes;
}

Result<DiskCounters> DiskTier::GetCounters() {
  const std::shared_ptr<Impl> impl = Current();
  std::string value;
  rocksdb::Status s = impl->db->Get(rocksdb::ReadOptions(), kCountersKey, &value);
  if (s.IsNotFound()) return DiskCounters();
  if (!s.ok()) return FromRocks(s, "read store counters");
  return DiskCounters::Decode(value);
}

Status DiskTier::AddCounters(const DiskCounters& delta) {
  const std::shared_ptr<Impl> impl = Current();
  if (read_only()) return Status::NotSupported("add counters: store opened read-only");
  MutexLock lock(&impl->counters_mu);
  KVSTASH_ASSIGN_OR_RETURN(DiskCounters total, GetCounters());
  total += delta;
  return impl->Write("write store counters", [&] {
    return impl->db->Put(rocksdb::WriteOptions(), kCountersKey, total.Encode());
  });
}

}  // namespace kvstash
