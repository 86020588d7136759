// A damaged table file of the blocks family is found when the store opens,
// and reads then check RocksDB's checksums: a damaged table block read
// unverified aborts in RocksDB's block parser (soak.sh corrupt, seed 733269,
// flip 925), and blob reads skip those checksums on a sound store (they cost
// a software CRC32c of every blob value).
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <fstream>
#include <string>
#include <vector>

#include "store/disk_tier.h"
#include "store/store.h"
#include "tests/store/store_open_util.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::Iota;
using testing::MakeKv;
using testing::PrefixEqual;
using testing::TempDir;

// The table files of the store's "blocks" family.
std::vector<std::string> BlockTables(const std::string& path) {
  std::vector<std::string> families;
  rocksdb::DBOptions db_options;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(db_options, path, &families).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : families) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  EXPECT_TRUE(rocksdb::DB::OpenForReadOnly(db_options, path, descriptors, &handles, &db).ok());
  std::vector<std::string> tables;
  if (!db) return tables;
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  for (const auto& f : files) {
    if (f.column_family_name == "blocks") tables.push_back(f.db_path + f.name);
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  return tables;
}

void FlipByte(const std::string& file, std::streamoff offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << file;
  f.seekg(offset);
  char c = 0;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x5a));
}

TEST(DamagedTableTest, IsFoundAtOpenAndReadsServeOnlyWhatIsSound) {
  TempDir dir;
  const auto desc = testing::TestModel();
  std::vector<std::vector<int32_t>> prompts;
  for (int p = 0; p < 8; ++p) prompts.push_back(Iota(64, 1 + 1000 * p));
  ModelId model;
  {
    auto store = testing::OpenCpuStore(dir.path());
    ASSERT_NE(store, nullptr);
    model = store->RegisterModel(desc).value();
    for (const auto& tokens : prompts) {
      ASSERT_OK(store->Insert(model, tokens, MakeKv(desc, tokens, 64)).status());
    }
    ASSERT_OK(store->Flush());
    ASSERT_OK(store->disk()->Compact());  // the keys and blob references into a table file
  }
  const auto tables = BlockTables(dir.path());
  ASSERT_FALSE(tables.empty());
  {
    // Sound: opens without a word.
    ::testing::internal::CaptureStderr();
    auto store = testing::OpenCpuStore(dir.path());
    EXPECT_EQ(::testing::internal::GetCapturedStderr().find("is damaged"), std::string::npos);
  }
  for (const auto& table : tables) FlipByte(table, 100);  // inside the first data block

  ::testing::internal::CaptureStderr();
  auto store = testing::OpenCpuStore(dir.path());
  ASSERT_NE(store, nullptr);
  const std::string said = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find("is damaged"), std::string::npos) << said;
  EXPECT_NE(said.find(tables.front()), std::string::npos) << said;
  // Every load answers; whatever it serves is exactly what was stored.
  for (const auto& tokens : prompts) {
    auto dst = MakeKv(desc, {}, 64);
    auto loaded = store->Load(model, tokens, dst);
    ASSERT_OK(loaded.status());
    EXPECT_TRUE(PrefixEqual(dst, MakeKv(desc, tokens, 64), loaded->tokens));
  }
}

}  // namespace
}  // namespace kvstash
