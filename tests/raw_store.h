// Opening a store's RocksDB database directly, to plant what the DiskTier
// API cannot make (damage, records of a newer kvstash) or to read the layout
// as it is on disk. Header-only; tests only.
#ifndef KVSTASH_TESTS_RAW_STORE_H_
#define KVSTASH_TESTS_RAW_STORE_H_

#include <rocksdb/db.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kvstash::testing {

// Every column family of the store at `path`, by name. Closes on destruction.
class RawStore {
 public:
  explicit RawStore(const std::string& path) {
    std::vector<std::string> names;
    status_ = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names);
    if (!status_.ok()) return;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& name : names)
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    status_ = rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &handles, &db);
    if (!status_.ok()) return;
    db_.reset(db);
    for (size_t i = 0; i < names.size(); ++i) families_[names[i]] = handles[i];
  }
  ~RawStore() {
    for (auto& [name, h] : families_) db_->DestroyColumnFamilyHandle(h);
    if (db_) db_->Close();
  }
  RawStore(const RawStore&) = delete;
  RawStore& operator=(const RawStore&) = delete;

  bool ok() const { return status_.ok(); }
  std::string error() const { return status_.ToString(); }
  rocksdb::DB* db() { return db_.get(); }
  // Null if the store has no such family.
  rocksdb::ColumnFamilyHandle* family(const std::string& name) {
    auto it = families_.find(name);
    return it == families_.end() ? nullptr : it->second;
  }
  bool has(const std::string& name) const { return families_.count(name) > 0; }

 private:
  rocksdb::Status status_;
  std::unique_ptr<rocksdb::DB> db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;
};

}  // namespace kvstash::testing

#endif  // KVSTASH_TESTS_RAW_STORE_H_
