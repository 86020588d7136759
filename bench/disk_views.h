// Layouts of KV blobs on disk for kvstash_disk_tier_bench (bench/ only):
// one plain file per blob, DiskTier, and RocksDB opened by hand with
// DiskTier::Open's options plus tunings. Failures exit via Check().
#ifndef KVSTASH_BENCH_DISK_VIEWS_H_
#define KVSTASH_BENCH_DISK_VIEWS_H_

#include <fcntl.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serde/status.h"
#include "store/disk_tier.h"
#include "store/disk_tier_internal.h"

namespace kvstash::bench {

// Reports a failure and exits (defined by the benchmark).
void Check(const Status& s, const char* what);
inline void CheckRocks(const rocksdb::Status& s, const char* what) {
  if (!s.ok()) Check(Status::IOError(s.ToString()), what);
}

// A layout of blobs on disk, and a way to read them. Get's *out stays valid
// until the next call.
class View {
 public:
  View(std::string name, std::string dir) : name_(std::move(name)), dir_(std::move(dir)) {}
  virtual ~View() = default;
  virtual void Open() {}
  virtual void Close() {}
  virtual void Put(const std::vector<DiskBlockWrite>& batch) = 0;
  virtual void Sync() {}
  virtual void Get(const DiskBlockWrite& b, std::string_view* out) = 0;
  const std::string& name() const { return name_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string name_, dir_;
};

// One file per blob, named by its hash: write + fsync; open, pread into a reused buffer, close.
class RawView : public View {
 public:
  using View::View;
  void Put(const std::vector<DiskBlockWrite>& batch) override {
    std::filesystem::create_directories(dir());
    for (const DiskBlockWrite& b : batch) {
      int fd = open(Path(b).c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
      if (fd < 0 || write(fd, b.blob.data(), b.blob.size()) != ssize_t(b.blob.size()) ||
          fsync(fd) != 0 || close(fd) != 0) {
        Check(Status::IOError("write " + Path(b)), "raw put");
      }
    }
  }
  void Get(const DiskBlockWrite& b, std::string_view* out) override {
    int fd = open(Path(b).c_str(), O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) Check(Status::IOError("open " + Path(b)), "raw get");
    if (buf_.size() < size_t(st.st_size)) buf_.resize(st.st_size);
    const ssize_t n = pread(fd, buf_.data(), st.st_size, 0);
    close(fd);
    if (n != st.st_size) Check(Status::IOError("short read " + Path(b)), "raw get");
    *out = std::string_view(buf_.data(), n);
  }

 private:
  std::string Path(const DiskBlockWrite& b) const { return dir() + "/" + b.hash.ToHex(); }
  std::string buf_;
};

class DiskTierView : public View {
 public:
  DiskTierView(std::string name, std::string dir, bool blob_files)
      : View(std::move(name), std::move(dir)), blob_files_(blob_files) {}
  void Open() override {
    DiskTierOptions o;
    o.path = dir();
    o.blob_files = blob_files_;
    auto t = DiskTier::Open(o);
    Check(t.status(), "open DiskTier");
    tier_ = std::move(*t);
  }
  void Close() override { tier_.reset(); }
  void Put(const std::vector<DiskBlockWrite>& batch) override {
    Check(tier_->PutBlocks(batch, /*sync=*/false), "PutBlocks");
  }
  void Sync() override { Check(tier_->SyncWal(), "SyncWal"); }
  void Get(const DiskBlockWrite& b, std::string_view* out) override {
    Check(tier_->GetBlob(b.model, b.hash, &buf_), "GetBlob");
    *out = buf_;
  }

 private:
  bool blob_files_;
  std::unique_ptr<DiskTier> tier_;
  std::string buf_;
};

struct Tuning {
  bool fill_cache = true;           // ReadOptions::fill_cache (block and blob cache)
  bool verify = true;               // ReadOptions::verify_checksums (blob records: CRC32c)
  bool pin = false;                 // Get into a PinnableSlice instead of a std::string
  bool advise_random = true;        // DBOptions::advise_random_on_open
  uint64_t max_total_wal_size = 0;  // DBOptions::max_total_wal_size
};

// RocksDB opened by hand with DiskTier::Open's options (RocksOptionsFor,
// store/disk_tier_internal.h) plus a Tuning; writes the same keys and values
// as DiskTier.
class RocksView : public View {
 public:
  RocksView(std::string name, std::string dir, bool blob_files, Tuning t)
      : View(std::move(name), std::move(dir)), blob_files_(blob_files), t_(t) {}
  ~RocksView() override { Close(); }
  void Open() override {
    DiskTierOptions store_options;
    store_options.path = dir();
    store_options.blob_files = blob_files_;
    RocksOptions rocks = RocksOptionsFor(store_options);
    rocksdb::DBOptions& db_options = rocks.db;
    db_options.advise_random_on_open = t_.advise_random;
    db_options.max_total_wal_size = t_.max_total_wal_size;
    rocksdb::ColumnFamilyOptions blocks_cf = rocks.blocks;
    if (blob_files_) {
      // The store has no blob cache; fill_cache measures one (the block cache).
      blocks_cf.blob_cache =
          blocks_cf.table_factory->GetOptions<rocksdb::BlockBasedTableOptions>()->block_cache;
    }
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, rocks.small},
        {kBlocksFamily, blocks_cf},
        {kMetaFamily, rocks.small},
        {kLinksFamily, rocks.prefixed}};  // as a layout-2 store has them
    rocksdb::DB* raw = nullptr;
    CheckRocks(rocksdb::DB::Open(db_options, dir(), families, &handles_, &raw), "open RocksDB");
    db_.reset(raw);
  }
  void Close() override {
    if (!db_) return;
    for (auto* h : handles_) CheckRocks(db_->DestroyColumnFamilyHandle(h), "close");
    handles_.clear();
    CheckRocks(db_->Close(), "close");
    db_.reset();
  }
  void Put(const std::vector<DiskBlockWrite>& blocks) override {
    rocksdb::WriteBatch batch;  // as DiskTier::PutBlocks
    for (const DiskBlockWrite& b : blocks) {
      const std::string key = Key(b.model, b.hash);
      CheckRocks(batch.Put(handles_[1], key, b.blob), "put");
      CheckRocks(batch.Put(handles_[2], key, b.meta.Encode()), "put");
      CheckRocks(batch.Put(handles_[3], Key(b.model, b.meta.parent) + key.substr(16), ""), "put");
    }
    CheckRocks(db_->Write(rocksdb::WriteOptions(), &batch), "write");
  }
  void Sync() override { CheckRocks(db_->FlushWAL(/*sync=*/true), "FlushWAL"); }
  void Get(const DiskBlockWrite& b, std::string_view* out) override {
    rocksdb::ReadOptions ro;
    ro.fill_cache = t_.fill_cache;
    ro.verify_checksums = t_.verify;
    if (t_.pin) {
      pinned_.Reset();
      CheckRocks(db_->Get(ro, handles_[1], Key(b.model, b.hash), &pinned_), "Get");
      *out = std::string_view(pinned_.data(), pinned_.size());
    } else {
      CheckRocks(db_->Get(ro, handles_[1], Key(b.model, b.hash), &buf_), "Get");
      *out = buf_;
    }
  }

 private:
  static std::string Key(const ModelId& model, const BlockHash& hash) {
    std::string key;
    model.AppendTo(&key);
    hash.AppendTo(&key);
    return key;
  }
  bool blob_files_;
  Tuning t_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::string buf_;
  rocksdb::PinnableSlice pinned_;
};

}  // namespace kvstash::bench

#endif  // KVSTASH_BENCH_DISK_VIEWS_H_
