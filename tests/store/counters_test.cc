// The store's persisted hit/miss/corruption counters: the record's format,
// DiskTier::GetCounters/AddCounters, and Store adding each session's counts
// on Flush() and Close().
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <thread>
#include <vector>

#include "store/disk_tier.h"
#include "store/store.h"
#include "tests/raw_store.h"
#include "tests/store/store_open_util.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::Iota;
using testing::MakeKv;
using testing::OpenCpuStore;
using testing::TempDir;
using testing::TestModel;

DiskCounters Sample() {
  DiskCounters c;
  c.hit_tokens_device = 1;
  c.hit_tokens_disk = 2;
  c.miss_tokens = 3;
  c.blocks_inserted = 4;
  c.hash_collisions = 5;
  c.corrupt_blocks = 6;
  c.loads = 0x0102030405060708ull;
  c.hit_tokens_remote = 9;
  c.remote_puts = 10;
  c.remote_put_errors = 11;
  return c;
}

void ExpectEqual(const DiskCounters& a, const DiskCounters& b) {
  EXPECT_EQ(a.hit_tokens_device, b.hit_tokens_device);
  EXPECT_EQ(a.hit_tokens_disk, b.hit_tokens_disk);
  EXPECT_EQ(a.miss_tokens, b.miss_tokens);
  EXPECT_EQ(a.blocks_inserted, b.blocks_inserted);
  EXPECT_EQ(a.hash_collisions, b.hash_collisions);
  EXPECT_EQ(a.corrupt_blocks, b.corrupt_blocks);
  EXPECT_EQ(a.loads, b.loads);
  EXPECT_EQ(a.hit_tokens_remote, b.hit_tokens_remote);
  EXPECT_EQ(a.remote_puts, b.remote_puts);
  EXPECT_EQ(a.remote_put_errors, b.remote_put_errors);
}

std::unique_ptr<DiskTier> OpenDisk(const std::string& path, bool read_only = false) {
  DiskTierOptions options;
  options.path = path;
  options.read_only = read_only;
  auto disk = DiskTier::Open(options);
  EXPECT_TRUE(disk.ok()) << disk.status().ToString();
  return disk.ok() ? std::move(disk).value() : nullptr;
}

TEST(CountersRecordTest, GoldenBytes) {
  const std::string bytes = Sample().Encode();
  ASSERT_EQ(bytes.size(), 81u);                                          // version + 10 x u64
  EXPECT_EQ(bytes[0], 2);                                                // version
  EXPECT_EQ(bytes.substr(1, 8), std::string("\x01\0\0\0\0\0\0\0", 8));   // hit_tokens_device
  EXPECT_EQ(bytes.substr(41, 8), std::string("\x06\0\0\0\0\0\0\0", 8));  // corrupt_blocks
  EXPECT_EQ(bytes.substr(49, 8), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));  // loads
  EXPECT_EQ(bytes.substr(57, 8), std::string("\x09\0\0\0\0\0\0\0", 8));  // hit_tokens_remote
  EXPECT_EQ(bytes.substr(65, 8), std::string("\x0a\0\0\0\0\0\0\0", 8));  // remote_puts
  EXPECT_EQ(bytes.substr(73, 8), std::string("\x0b\0\0\0\0\0\0\0", 8));  // remote_put_errors
  auto decoded = DiskCounters::Decode(bytes);
  ASSERT_OK(decoded.status());
  ExpectEqual(*decoded, Sample());
}

// Stores written before the remote put counts (version 1: 8 counters) read
// with those two at zero.
TEST(CountersRecordTest, Version1RecordsStillRead) {
  std::string v1 = Sample().Encode().substr(0, 65);
  v1[0] = 1;
  auto decoded = DiskCounters::Decode(v1);
  ASSERT_OK(decoded.status());
  DiskCounters expected = Sample();
  expected.remote_puts = expected.remote_put_errors = 0;
  ExpectEqual(*decoded, expected);
  EXPECT_TRUE(DiskCounters::Decode(v1 + std::string(16, '\0')).status().IsCorruption());
}

TEST(CountersRecordTest, BadRecordsAreRejectedByName) {
  const std::string good = Sample().Encode();
  auto truncated = DiskCounters::Decode(good.substr(0, 80));
  EXPECT_TRUE(truncated.status().IsCorruption());
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos);
  auto trailing = DiskCounters::Decode(good + "x");
  EXPECT_TRUE(trailing.status().IsCorruption());
  EXPECT_NE(trailing.status().message().find("trailing"), std::string::npos);
  EXPECT_TRUE(DiskCounters::Decode("").status().IsCorruption());
  std::string v0 = good, v3 = good;
  v0[0] = 0;
  v3[0] = 3;
  EXPECT_TRUE(DiskCounters::Decode(v0).status().IsCorruption());
  auto newer = DiskCounters::Decode(v3);
  EXPECT_TRUE(newer.status().IsNotSupported()) << newer.status().ToString();
}

TEST(DiskTierCountersTest, StartAtZeroAddUpAndSurviveReopen) {
  TempDir dir;
  {
    auto disk = OpenDisk(dir.path());
    ASSERT_NE(disk, nullptr);
    auto fresh = disk->GetCounters();
    ASSERT_OK(fresh.status());
    EXPECT_TRUE(fresh->IsZero());
    ASSERT_OK(disk->AddCounters(Sample()));
    ASSERT_OK(disk->AddCounters(Sample()));
  }
  auto disk = OpenDisk(dir.path());
  ASSERT_NE(disk, nullptr);
  DiskCounters twice = Sample();
  twice += Sample();
  auto read = disk->GetCounters();
  ASSERT_OK(read.status());
  ExpectEqual(*read, twice);
  // The record does not show up as a model.
  auto models = disk->ListModels();
  ASSERT_OK(models.status());
  EXPECT_TRUE(models->empty());
}

TEST(DiskTierCountersTest, ConcurrentAddsLoseNothing) {
  TempDir dir;
  auto disk = OpenDisk(dir.path());
  ASSERT_NE(disk, nullptr);
  DiskCounters one;
  one.loads = 1;
  one.miss_tokens = 3;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) EXPECT_OK(disk->AddCounters(one));
    });
  }
  for (auto& t : threads) t.join();
  auto read = disk->GetCounters();
  ASSERT_OK(read.status());
  EXPECT_EQ(read->loads, 200u);
  EXPECT_EQ(read->miss_tokens, 600u);
}

TEST(DiskTierCountersTest, ReadOnlyViewReadsButCannotAdd) {
  TempDir dir;
  auto writer = OpenDisk(dir.path());
  ASSERT_NE(writer, nullptr);
  ASSERT_OK(writer->AddCounters(Sample()));
  auto reader = OpenDisk(dir.path(), /*read_only=*/true);
  ASSERT_NE(reader, nullptr);
  auto read = reader->GetCounters();
  ASSERT_OK(read.status());
  ExpectEqual(*read, Sample());
  EXPECT_TRUE(reader->AddCounters(Sample()).IsNotSupported());
}

// Two sessions, each inserting and loading: the persisted counters are the
// sum of what each session's Stats() said, Flush() after Flush() adds only
// what is new, and Close() adds the rest.
TEST(StoreCountersTest, SessionsAddUpAcrossCloseAndReopen) {
  TempDir dir;
  const auto desc = TestModel();
  const auto tokens = Iota(40);  // 2 full blocks of 16 and a partial of 8
  const auto other = Iota(20, 1000);
  StoreStats first, second;
  {
    auto store = OpenCpuStore(dir.path());
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc).value();
    auto dst = MakeKv(desc, {}, 64);
    ASSERT_OK(store->Load(model, tokens, dst).status());  // a miss: 40 tokens
    ASSERT_OK(store->Insert(model, tokens, MakeKv(desc, tokens, 40)).status());
    ASSERT_OK(store->Flush());
    ASSERT_OK(store->Flush());                            // nothing new: adds nothing
    ASSERT_OK(store->Load(model, tokens, dst).status());  // a device hit
    first = store->Stats();
    ASSERT_OK(store->Close());  // adds the second load
  }
  {
    auto reader = OpenDisk(dir.path(), /*read_only=*/true);
    ASSERT_NE(reader, nullptr);
    auto persisted = reader->GetCounters();
    ASSERT_OK(persisted.status());
    EXPECT_EQ(persisted->loads, 2u);
    EXPECT_EQ(persisted->miss_tokens, 40u);
    EXPECT_EQ(persisted->hit_tokens_device, 40u);
    EXPECT_EQ(persisted->blocks_inserted, 3u);
  }
  {
    auto store = OpenCpuStore(dir.path());
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc).value();
    auto dst = MakeKv(desc, {}, 64);
    ASSERT_OK(store->Load(model, tokens, dst).status());  // from disk this time
    ASSERT_OK(store->Insert(model, other, MakeKv(desc, other, 20)).status());
    second = store->Stats();
  }  // the destructor closes, and so persists
  auto disk = OpenDisk(dir.path());
  ASSERT_NE(disk, nullptr);
  auto total = disk->GetCounters();
  ASSERT_OK(total.status());
  EXPECT_EQ(second.hit_tokens_disk, 40u);
  EXPECT_EQ(total->loads, first.loads + second.loads);
  EXPECT_EQ(total->loads, 3u);
  EXPECT_EQ(total->hit_tokens_device, first.hit_tokens_device + second.hit_tokens_device);
  EXPECT_EQ(total->hit_tokens_disk, first.hit_tokens_disk + second.hit_tokens_disk);
  EXPECT_EQ(total->miss_tokens, first.miss_tokens + second.miss_tokens);
  EXPECT_EQ(total->blocks_inserted, first.blocks_inserted + second.blocks_inserted);
  EXPECT_EQ(total->blocks_inserted, 5u);
  EXPECT_EQ(total->hit_tokens_remote, 0u);
  EXPECT_EQ(total->hash_collisions, 0u);
  EXPECT_EQ(total->corrupt_blocks, 0u);
}

// Issue 13: the background writer counted puts to the peer and their
// failures, but no stats showed them, so a peer that refused every put went
// unnoticed. Stats() has them, and Flush() persists them for `kvstash stat`.
TEST(StoreCountersTest, FailedRemotePutsAreCountedAndPersisted) {
  TempDir dir;
  const auto desc = TestModel();
  const auto tokens = Iota(32);
  StoreOptions options;
  options.path = dir.path();
  options.device = "cpu";
  options.remote = "127.0.0.1:1";  // nothing listens there
  {
    auto store = Store::Open(options);
    ASSERT_OK(store.status());
    auto model = (*store)->RegisterModel(desc).value();
    ASSERT_OK((*store)->Insert(model, tokens, MakeKv(desc, tokens, 32)).status());
    ASSERT_OK((*store)->Flush());  // a peer that is down does not fail it
    const StoreStats stats = (*store)->Stats();
    EXPECT_EQ(stats.remote_puts, 0u);
    EXPECT_EQ(stats.remote_put_errors, 2u);  // two blocks of 16
    ASSERT_OK((*store)->Close());
  }
  auto disk = OpenDisk(dir.path(), /*read_only=*/true);
  ASSERT_NE(disk, nullptr);
  auto persisted = disk->GetCounters();
  ASSERT_OK(persisted.status());
  EXPECT_EQ(persisted->remote_put_errors, 2u);
}

TEST(StoreCountersTest, ConcurrentFlushesCountEachLoadOnce) {
  TempDir dir;
  const auto desc = TestModel();
  const auto tokens = Iota(16);
  auto store = OpenCpuStore(dir.path());
  ASSERT_NE(store, nullptr);
  auto model = store->RegisterModel(desc).value();
  ASSERT_OK(store->Insert(model, tokens, MakeKv(desc, tokens, 16)).status());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto dst = MakeKv(desc, {}, 16);
      for (int i = 0; i < 10; ++i) {
        EXPECT_OK(store->Load(model, tokens, dst).status());
        EXPECT_OK(store->Flush());
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_OK(store->Close());
  auto disk = OpenDisk(dir.path());
  ASSERT_NE(disk, nullptr);
  auto total = disk->GetCounters();
  ASSERT_OK(total.status());
  EXPECT_EQ(total->loads, 40u);
  EXPECT_EQ(total->hit_tokens_device + total->hit_tokens_disk, 40u * 16);
  EXPECT_EQ(total->blocks_inserted, 1u);
}

// Writes `value` under the counters key with RocksDB itself, as a newer or
// broken kvstash might.
void PutRawCounters(const std::string& path, const std::string& value) {
  testing::RawStore raw(path);
  ASSERT_TRUE(raw.ok()) << raw.error();
  EXPECT_TRUE(raw.db()->Put(rocksdb::WriteOptions(), "stats/counters", value).ok());
}

// An unreadable record (here: written by a newer kvstash) is reported by
// GetCounters, left alone by the store, and never turns into a failed Flush().
TEST(StoreCountersTest, UnreadableRecordIsLeftAloneAndDoesNotFailFlush) {
  TempDir dir;
  const auto desc = TestModel();
  const auto tokens = Iota(16);
  { ASSERT_NE(OpenDisk(dir.path()), nullptr); }
  std::string newer = Sample().Encode();
  newer[0] = kDiskCountersVersion + 1;
  PutRawCounters(dir.path(), newer);
  {
    auto store = OpenCpuStore(dir.path());
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc).value();
    auto dst = MakeKv(desc, {}, 16);
    ASSERT_OK(store->Load(model, tokens, dst).status());
    ASSERT_OK(store->Insert(model, tokens, MakeKv(desc, tokens, 16)).status());
    ASSERT_OK(store->Flush());
    ASSERT_OK(store->Close());
  }
  auto disk = OpenDisk(dir.path());
  ASSERT_NE(disk, nullptr);
  auto read = disk->GetCounters();
  EXPECT_TRUE(read.status().IsNotSupported()) << read.status().ToString();
  EXPECT_TRUE(disk->AddCounters(Sample()).IsNotSupported());
}

}  // namespace
}  // namespace kvstash
