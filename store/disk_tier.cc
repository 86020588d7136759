#include "store/disk_tier.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>

#include "store/rocks_status_internal.h"

namespace kvstash {

namespace {

constexpr char kBlocksFamily[] = "blocks";
constexpr char kMetaFamily[] = "meta";
constexpr char kChildrenFamily[] = "children";
constexpr char kModelKeyPrefix[] = "model/";
constexpr size_t kKeySize = 2 * Hash128::kEncodedSize;

std::string BlockKey(const ModelId& model, const BlockHash& hash) {
  std::string key;
  key.reserve(kKeySize);
  model.AppendTo(&key);
  hash.AppendTo(&key);
  return key;
}

std::string ChildKey(const ModelId& model, const BlockHash& parent, const BlockHash& child) {
  std::string key = BlockKey(model, parent);
  child.AppendTo(&key);
  return key;
}

std::string ModelKey(const ModelId& model) {
  std::string key = kModelKeyPrefix;
  model.AppendTo(&key);
  return key;
}

// Smallest key strictly after every key that starts with `prefix`.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(prefix.back());
    if (c != 0xff) {
      ++c;
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;  // empty: no upper bound
}

}  // namespace

struct DiskTier::Impl {
  DiskTierOptions options;
  std::string secondary_path;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // default, blocks, meta, children
  rocksdb::ColumnFamilyHandle* blocks = nullptr;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* children = nullptr;

  ~Impl() {
    if (db) {
      for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
      rocksdb::Status s = db->Close();
      (void)s;  // nothing useful to do with a close error in a destructor
      db.reset();
    }
    if (!secondary_path.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(secondary_path, ec);
    }
  }
};

DiskTier::DiskTier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DiskTier::~DiskTier() = default;

const std::string& DiskTier::path() const { return impl_->options.path; }
bool DiskTier::read_only() const { return impl_->options.read_only; }

Result<std::unique_ptr<DiskTier>> DiskTier::Open(const DiskTierOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("disk tier: empty path");
  auto impl = std::make_unique<Impl>();
  impl->options = options;

  if (!options.read_only) {
    std::error_code ec;
    std::filesystem::create_directories(options.path, ec);
    if (ec) {
      return Status::IOError("create store directory " + options.path + ": " + ec.message());
    }
  } else if (!std::filesystem::exists(options.path + "/CURRENT")) {
    return Status::NotFound("no kvstash store at " + options.path);
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = !options.read_only;
  db_options.create_missing_column_families = !options.read_only;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  // The small families' memtables rarely fill, so without a cap the WAL
  // would keep a second copy of every blob (2x disk use) until they do.
  db_options.max_total_wal_size = 64 << 20;
  if (options.read_only) db_options.max_open_files = -1;  // required by secondaries

  auto cache = rocksdb::NewLRUCache(options.read_cache_bytes);
  auto small_family = [&](bool prefix_bloom) {
    rocksdb::ColumnFamilyOptions cf;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
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
    blocks_cf.blob_garbage_collection_age_cutoff = 0.5;
    // No blob cache: the device tier is the cache, page-cache re-reads run
    // at ~8 GB/s, and 600 KB blobs churn a sharded LRU (docs/benchmarks.md).
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, small_family(false)},
      {kBlocksFamily, blocks_cf},
      {kMetaFamily, small_family(false)},
      {kChildrenFamily, small_family(true)},
  };

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    std::random_device rd;
    impl->secondary_path = std::filesystem::temp_directory_path().string() + "/kvstash-secondary-" +
                           std::to_string(getpid()) + "-" + std::to_string(rd());
    s = rocksdb::DB::OpenAsSecondary(rocksdb::Options(db_options, small_family(false)),
                                     options.path, impl->secondary_path, families, &impl->handles,
                                     &raw);
  } else {
    s = rocksdb::DB::Open(db_options, options.path, families, &impl->handles, &raw);
  }
  if (!s.ok()) return FromRocks(s, "open store " + options.path);
  impl->db.reset(raw);
  impl->blocks = impl->handles[1];
  impl->meta = impl->handles[2];
  impl->children = impl->handles[3];
  return std::unique_ptr<DiskTier>(new DiskTier(std::move(impl)));
}

Status DiskTier::PutModel(const ModelId& model, std::string_view canonical_description) {
  return FromRocks(impl_->db->Put(rocksdb::WriteOptions(), ModelKey(model), canonical_description),
                   "register model " + model.ToHex());
}

Result<std::string> DiskTier::GetModel(const ModelId& model) {
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), ModelKey(model), &value);
  if (s.IsNotFound()) return Status::NotFound("model " + model.ToHex() + " is not in the store");
  if (!s.ok()) return FromRocks(s, "read model " + model.ToHex());
  return value;
}

Result<std::vector<std::pair<ModelId, std::string>>> DiskTier::ListModels() {
  std::vector<std::pair<ModelId, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  const std::string prefix = kModelKeyPrefix;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != prefix.size() + Hash128::kEncodedSize) continue;
    out.emplace_back(Hash128::DecodeFrom(k.data() + prefix.size()), it->value().ToString());
  }
  KVSTASH_RETURN_IF_ERROR(FromRocks(it->status(), "list models"));
  return out;
}

Status DiskTier::PutBlocks(const std::vector<DiskBlockWrite>& blocks, bool sync) {
  if (blocks.empty()) return Status::OK();
  rocksdb::WriteBatch batch;
  for (const DiskBlockWrite& b : blocks) {
    std::string key = BlockKey(b.model, b.hash);
    batch.Put(impl_->blocks, key, b.blob);
    batch.Put(impl_->meta, key, b.meta.Encode());
    batch.Put(impl_->children, ChildKey(b.model, b.meta.parent, b.hash), rocksdb::Slice());
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return FromRocks(impl_->db->Write(wo, &batch),
                   "write " + std::to_string(blocks.size()) + " blocks to " + path());
}

Result<BlockMeta> DiskTier::GetMeta(const ModelId& model, const BlockHash& hash) {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->meta, BlockKey(model, hash), &value);
  if (s.IsNotFound()) return Status::NotFound("block " + hash.ToHex());
  if (!s.ok()) return FromRocks(s, "read meta of block " + hash.ToHex());
  auto meta = BlockMeta::Decode(std::string_view(value.data(), value.size()));
  if (!meta.ok()) return meta.status().WithContext("block " + hash.ToHex());
  return meta;
}

Status DiskTier::GetBlob(const ModelId& model, const BlockHash& hash, std::string* blob) {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = false;
  ro.fill_cache = false;
  rocksdb::PinnableSlice value(blob);  // reads into *blob's buffer, no second copy
  rocksdb::Status s = impl_->db->Get(ro, impl_->blocks, BlockKey(model, hash), &value);
  if (s.ok() && value.IsPinned()) blob->assign(value.data(), value.size());
  if (s.IsNotFound()) return Status::NotFound("block " + hash.ToHex());
  return FromRocks(s, "read block " + hash.ToHex());
}

Result<std::vector<BlockHash>> DiskTier::Children(const ModelId& model, const BlockHash& parent) {
  std::vector<BlockHash> out;
  const std::string prefix = BlockKey(model, parent);
  const std::string upper = PrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  ro.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->children));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != kKeySize + Hash128::kEncodedSize) continue;
    out.push_back(Hash128::DecodeFrom(k.data() + kKeySize));
  }
  KVSTASH_RETURN_IF_ERROR(FromRocks(it->status(), "list children of " + parent.ToHex()));
  return out;
}

Status DiskTier::DeleteBlock(const ModelId& model, const BlockHash& hash, const BlockHash& parent) {
  rocksdb::WriteBatch batch;
  std::string key = BlockKey(model, hash);
  batch.Delete(impl_->blocks, key);
  batch.Delete(impl_->meta, key);
  batch.Delete(impl_->children, ChildKey(model, parent, hash));
  return FromRocks(impl_->db->Write(rocksdb::WriteOptions(), &batch),
                   "delete block " + hash.ToHex());
}

Status DiskTier::PutMetas(
    const std::vector<std::pair<std::pair<ModelId, BlockHash>, BlockMeta>>& metas) {
  if (metas.empty()) return Status::OK();
  rocksdb::WriteBatch batch;
  for (const auto& [id, meta] : metas) {
    batch.Put(impl_->meta, BlockKey(id.first, id.second), meta.Encode());
  }
  return FromRocks(impl_->db->Write(rocksdb::WriteOptions(), &batch), "update block metadata");
}

Status DiskTier::ForEachMeta(
    const std::optional<ModelId>& model,
    const std::function<bool(const ModelId&, const BlockHash&, const Result<BlockMeta>&)>& fn) {
  std::string prefix, upper;
  rocksdb::Slice upper_slice;
  rocksdb::ReadOptions ro;
  if (model) {
    model->AppendTo(&prefix);
    upper = PrefixEnd(prefix);
    upper_slice = rocksdb::Slice(upper);
    ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->meta));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != kKeySize) continue;
    ModelId m = Hash128::DecodeFrom(k.data());
    BlockHash h = Hash128::DecodeFrom(k.data() + Hash128::kEncodedSize);
    Result<BlockMeta> meta =
        BlockMeta::Decode(std::string_view(it->value().data(), it->value().size()));
    if (!fn(m, h, meta)) break;
  }
  return FromRocks(it->status(), "scan block metadata");
}

Status DiskTier::SyncWal() {
  if (read_only()) return Status::OK();
  return FromRocks(impl_->db->FlushWAL(/*sync=*/true), "sync write-ahead log of " + path());
}

Status DiskTier::Compact() {
  if (read_only()) return Status::NotSupported("compact: store opened read-only");
  rocksdb::CompactRangeOptions cro;
  cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (auto* h : impl_->handles) {
    KVSTASH_RETURN_IF_ERROR(FromRocks(impl_->db->Flush(rocksdb::FlushOptions(), h), "flush"));
    KVSTASH_RETURN_IF_ERROR(
        FromRocks(impl_->db->CompactRange(cro, h, nullptr, nullptr), "compact " + path()));
  }
  return Status::OK();
}

Status DiskTier::CatchUp() {
  if (!read_only()) return Status::OK();
  return FromRocks(impl_->db->TryCatchUpWithPrimary(), "catch up with the writer of " + path());
}

DiskTierSizes DiskTier::Sizes() {
  DiskTierSizes sizes;
  uint64_t v = 0;
  for (auto* h : impl_->handles) {
    if (impl_->db->GetIntProperty(h, rocksdb::DB::Properties::kTotalSstFilesSize, &v)) {
      sizes.sst_bytes += v;
    }
    if (impl_->db->GetIntProperty(h, rocksdb::DB::Properties::kTotalBlobFileSize, &v)) {
      sizes.blob_bytes += v;
    }
    if (impl_->db->GetIntProperty(h, rocksdb::DB::Properties::kLiveBlobFileSize, &v)) {
      sizes.live_blob_bytes += v;
    }
  }
  if (impl_->db->GetIntProperty(rocksdb::DB::Properties::kLiveSstFilesSize, &v)) {
    (void)v;
  }
  uint64_t wal = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path(), ec)) {
    if (entry.path().extension() == ".log") wal += entry.file_size(ec);
  }
  sizes.wal_bytes = wal;
  return sizes;
}

}  // namespace kvstash
