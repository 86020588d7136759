#include "store/store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "store/disk_tier.h"
#include "tests/store/store_open_util.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::CorruptStoredBlobs;
using testing::Iota;
using testing::MakeKv;
using testing::OpenCpuStore;
using testing::PrefixEqual;
using testing::TempDir;
using testing::TestModel;

TEST(StoreTest, InsertCloseReopenLoadsEqualBytes) {
  TempDir dir;
  const auto desc = TestModel();
  const auto tokens = Iota(100);  // 6 full blocks of 16 and a partial of 4
  const auto kv = MakeKv(desc, tokens, 128);
  {
    auto store = OpenCpuStore(dir.path());
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc);
    ASSERT_OK(model.status());
    auto ins = store->Insert(*model, tokens, kv);
    ASSERT_OK(ins.status());
    EXPECT_EQ(ins->blocks_added, 7u);
    EXPECT_EQ(ins->tokens_stored, 100u);
    ASSERT_OK(store->Close());
  }
  auto store = OpenCpuStore(dir.path());
  ASSERT_NE(store, nullptr);
  auto model = store->RegisterModel(desc);
  ASSERT_OK(model.status());
  auto match = store->Match(*model, tokens);
  ASSERT_OK(match.status());
  EXPECT_EQ(match->tokens, 100u);
  EXPECT_EQ(match->disk_tokens, 100u);
  auto dst = MakeKv(desc, {}, 128);
  auto loaded = store->Load(*model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 100u);
  EXPECT_EQ(loaded->disk_tokens, 100u);
  EXPECT_TRUE(PrefixEqual(dst, kv, 100));
}

// A clean close writes the memtables out: the blobs sit in blob files and
// the WAL is left (nearly) empty, so the next open -- often a warm start
// waiting for its first token -- replays nothing, and a read-only open (which
// would replay the WAL into memory every time) loads the same bytes.
TEST(StoreTest, CleanCloseLeavesNoBlobsInTheWalForTheNextOpen) {
  TempDir dir;
  const auto desc = TestModel();
  const auto tokens = Iota(100);
  const auto kv = MakeKv(desc, tokens, 128);
  uint64_t raw_bytes = 0;
  {
    auto store = OpenCpuStore(dir.path());
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc);
    ASSERT_OK(model.status());
    ASSERT_OK(store->Insert(*model, tokens, kv).status());
    raw_bytes = kv.keys.size() * 2 * kv.keys[0].nbytes() * 100 / 128;
    ASSERT_OK(store->Close());
  }
  uint64_t wal = 0, blob_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().extension() == ".log") wal += entry.file_size();
    if (entry.path().extension() == ".blob") blob_files += entry.file_size();
  }
  EXPECT_GT(blob_files, raw_bytes / 4) << "the blocks' bytes are in blob files";
  EXPECT_LT(wal, raw_bytes / 20) << "WAL bytes left for the next open to replay";

  StoreOptions options;
  options.path = dir.path();
  options.device = "cpu";
  options.read_only = true;
  auto store = Store::Open(options);
  ASSERT_OK(store.status());
  auto model = (*store)->RegisterModel(desc);
  ASSERT_OK(model.status());
  auto dst = MakeKv(desc, {}, 128);
  auto loaded = (*store)->Load(*model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->disk_tokens, 100u);
  EXPECT_TRUE(PrefixEqual(dst, kv, 100));
}

TEST(StoreTest, ExactRepeatReusesEverythingFromDevice) {
  TempDir dir;
  const auto desc = TestModel(DType::kBF16);
  auto store = OpenCpuStore(dir.path());
  auto model = store->RegisterModel(desc);
  ASSERT_OK(model.status());
  const auto tokens = Iota(37);  // 2 full blocks + 5
  const auto kv = MakeKv(desc, tokens, 64);
  ASSERT_OK(store->Insert(*model, tokens, kv).status());
  auto dst = MakeKv(desc, {}, 64);
  auto loaded = store->Load(*model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 37u);
  EXPECT_EQ(loaded->device_tokens, 37u);
  EXPECT_TRUE(PrefixEqual(dst, kv, 37));
  // Untouched positions stay as they were.
  EXPECT_EQ(dst.keys[0].narrow(1, 37, 27).abs().sum().item<float>(), 0.0f);
}

TEST(StoreTest, ExtendingAndDivergingPromptsReuseExactlyTheSharedPrefix) {
  TempDir dir;
  const auto desc = TestModel();
  auto store = OpenCpuStore(dir.path());
  auto model = store->RegisterModel(desc).value();
  const auto base = Iota(37);
  ASSERT_OK(store->Insert(model, base, MakeKv(desc, base, 64)).status());

  // Extends the cached prompt: all 37 cached tokens are reused, including the
  // 5 of the partial block.
  auto longer = Iota(60);
  auto m = store->Match(model, longer);
  ASSERT_OK(m.status());
  EXPECT_EQ(m->tokens, 37u);

  // Diverges in the middle of the third block (position 40) after inserting
  // the longer one: reuse stops at the divergence.
  ASSERT_OK(store->Insert(model, longer, MakeKv(desc, longer, 64)).status());
  auto diverging = longer;
  diverging[40] = 9999;
  auto kv_div = MakeKv(desc, diverging, 64);
  auto dst = MakeKv(desc, {}, 64);
  auto loaded = store->Load(model, diverging, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 40u);
  EXPECT_TRUE(PrefixEqual(dst, kv_div, 40));

  // Diverging in the first block, at position 0: nothing.
  auto other = longer;
  other[0] = 4242;
  EXPECT_EQ(store->Match(model, other)->tokens, 0u);
}

TEST(StoreTest, SharedPrefixIsStoredOnce) {
  TempDir dir;
  const auto desc = TestModel();
  auto store = OpenCpuStore(dir.path());
  auto model = store->RegisterModel(desc).value();
  auto a = Iota(64);  // 4 blocks
  auto b = Iota(64);
  b[50] = 7777;  // shares blocks 0..2 (48 tokens)
  auto ins_a = store->Insert(model, a, MakeKv(desc, a, 64));
  auto ins_b = store->Insert(model, b, MakeKv(desc, b, 64));
  ASSERT_OK(ins_a.status());
  ASSERT_OK(ins_b.status());
  EXPECT_EQ(ins_a->blocks_added, 4u);
  EXPECT_EQ(ins_b->blocks_present, 3u);
  EXPECT_EQ(ins_b->blocks_added, 1u);
  ASSERT_OK(store->Flush());
  size_t on_disk = 0;
  ASSERT_OK(store->disk()->ForEachMeta(
      model, [&](const ModelId&, const BlockHash&, const Result<BlockMeta>& meta) {
        EXPECT_TRUE(meta.ok());
        ++on_disk;
        return true;
      }));
  EXPECT_EQ(on_disk, 5u);
  EXPECT_EQ(store->Match(model, a)->tokens, 64u);
  EXPECT_EQ(store->Match(model, b)->tokens, 64u);
}

TEST(StoreTest, AnotherModelReusesNothing) {
  TempDir dir;
  auto store = OpenCpuStore(dir.path());
  const auto tokens = Iota(40);
  auto m1 = store->RegisterModel(TestModel()).value();
  ASSERT_OK(store->Insert(m1, tokens, MakeKv(TestModel(), tokens, 64)).status());
  // Same shapes, different weights digest / tag / block size / dtype.
  auto d2 = TestModel();
  d2.weights_digest = "ffffffffffffffffffffffffffffffff";
  auto d3 = TestModel(DType::kF32, 16, "other-deployment");
  auto d4 = TestModel(DType::kF32, 8);
  auto d5 = TestModel(DType::kBF16);
  for (const auto& d : {d2, d3, d4, d5}) {
    auto id = store->RegisterModel(d);
    ASSERT_OK(id.status());
    EXPECT_NE(*id, m1);
    EXPECT_EQ(store->Match(*id, tokens)->tokens, 0u);
  }
  EXPECT_EQ(store->Match(m1, tokens)->tokens, 40u);
}

TEST(StoreTest, UnregisteredModelIsNotFound) {
  TempDir dir;
  auto store = OpenCpuStore(dir.path());
  auto m = store->Match(ModelId{1, 2}, Iota(10));
  EXPECT_TRUE(m.status().IsNotFound()) << m.status().ToString();
}

TEST(StoreTest, ForcedHashCollisionIsAMiss) {
  TempDir dir;
  StoreOptions options;
  options.path = dir.path();
  options.device = "cpu";
  // Every block hashes to the same value.
  options.hash_function_for_testing = [](const ModelId&, const BlockHash&, const int32_t*, size_t) {
    return BlockHash{42, 42};
  };
  auto store = Store::Open(options).value();
  const auto desc = TestModel();
  auto model = store->RegisterModel(desc).value();
  auto a = Iota(16);
  auto b = Iota(16, 500);
  ASSERT_OK(store->Insert(model, a, MakeKv(desc, a, 16)).status());
  EXPECT_EQ(store->Match(model, a)->tokens, 16u);
  // b's first block has the same hash but other tokens: a miss, not a's KV.
  auto dst = MakeKv(desc, {}, 16);
  auto loaded = store->Load(model, b, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 0u);
  EXPECT_GE(store->Stats().hash_collisions, 1u);
  // And inserting b does not overwrite a.
  ASSERT_OK(store->Insert(model, b, MakeKv(desc, b, 16)).status());
  ASSERT_OK(store->Flush());
  EXPECT_EQ(store->Match(model, a)->tokens, 16u);
  EXPECT_EQ(store->Match(model, b)->tokens, 0u);
}

TEST(StoreTest, SmallDeviceBudgetSpillsAndLoadsBackFromDisk) {
  TempDir dir;
  const auto desc = TestModel();
  const uint64_t block_bytes = testing::ShapeOf(desc).RawBytes(16);
  for (SpillPolicy policy : {SpillPolicy::kWriteThrough, SpillPolicy::kOnEvict}) {
    SCOPED_TRACE(policy == SpillPolicy::kOnEvict ? "on_evict" : "write_through");
    TempDir sub;
    auto store = OpenCpuStore(sub.path(), 2 * block_bytes, policy);
    auto model = store->RegisterModel(desc).value();
    const auto tokens = Iota(160);  // 10 blocks, only 2 fit in device memory
    const auto kv = MakeKv(desc, tokens, 160);
    ASSERT_OK(store->Insert(model, tokens, kv).status());
    EXPECT_LE(store->Stats().device_bytes, 2 * block_bytes);
    ASSERT_OK(store->Flush());
    auto dst = MakeKv(desc, {}, 160);
    auto loaded = store->Load(model, tokens, dst);
    ASSERT_OK(loaded.status());
    EXPECT_EQ(loaded->tokens, 160u);
    EXPECT_GE(loaded->disk_tokens, 128u);
    EXPECT_TRUE(PrefixEqual(dst, kv, 160));
  }
}

TEST(StoreTest, OnEvictPolicyPersistsEverythingAtClose) {
  TempDir dir;
  const auto desc = TestModel();
  const auto tokens = Iota(50);
  const auto kv = MakeKv(desc, tokens, 64);
  {
    auto store = OpenCpuStore(dir.path(), 1ull << 30, SpillPolicy::kOnEvict);
    auto model = store->RegisterModel(desc).value();
    ASSERT_OK(store->Insert(model, tokens, kv).status());
    ASSERT_OK(store->Flush());
    EXPECT_EQ(store->Stats().disk_blocks_written, 0u);  // nothing evicted yet
  }
  auto store = OpenCpuStore(dir.path());
  auto model = store->RegisterModel(desc).value();
  auto dst = MakeKv(desc, {}, 64);
  auto loaded = store->Load(model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->disk_tokens, 50u);
  EXPECT_TRUE(PrefixEqual(dst, kv, 50));
}

TEST(StoreTest, GarbageOnDiskIsAMissCountedAndDropped) {
  TempDir dir;
  const auto desc = TestModel();
  const auto tokens = Iota(64);
  const auto kv = MakeKv(desc, tokens, 64);
  ModelId model;
  BlockHash victim;
  {
    auto store = OpenCpuStore(dir.path());
    model = store->RegisterModel(desc).value();
    ASSERT_OK(store->Insert(model, tokens, kv).status());
    victim = store->Match(model, tokens)->pieces[2].hash;
    ASSERT_OK(store->Close());
  }
  {
    // Overwrite block 2's value with garbage of the same size.
    auto disk = DiskTier::Open(DiskTierOptions{dir.path()}).value();
    std::string blob;
    ASSERT_OK(disk->GetBlob(model, victim, &blob));
    for (size_t i = 200; i < blob.size(); i += 97) blob[i] = static_cast<char>(blob[i] ^ 0x5a);
    DiskBlockWrite w{model, victim, disk->GetMeta(model, victim).value(), blob};
    ASSERT_OK(disk->PutBlocks({w}, true));
  }
  auto store = OpenCpuStore(dir.path());
  model = store->RegisterModel(desc).value();
  auto dst = MakeKv(desc, {}, 64);
  auto loaded = store->Load(model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 32u);  // blocks 0 and 1 only
  EXPECT_EQ(loaded->corrupt_blocks, 1u);
  EXPECT_EQ(store->Stats().corrupt_blocks, 1u);
  EXPECT_TRUE(PrefixEqual(dst, kv, 32));
  // Dropped: the next match stops before it without reading it again.
  EXPECT_EQ(store->Match(model, tokens)->tokens, 32u);
  EXPECT_TRUE(store->disk()->GetMeta(model, victim).status().IsNotFound());
  // Inserting again repairs the chain.
  ASSERT_OK(store->Insert(model, tokens, kv).status());
  EXPECT_EQ(store->Match(model, tokens)->tokens, 64u);
}

// With one load thread or many, a corrupt block in the middle of a long
// chain ends the prefix right before it, and nothing after it counts.
TEST(StoreTest, CorruptMiddleBlockEndsThePrefixWithAnyNumberOfLoadThreads) {
  const auto desc = TestModel();
  const auto tokens = Iota(16 * 12 + 5);  // 12 full blocks + 5
  const auto kv = MakeKv(desc, tokens, tokens.size());
  for (unsigned threads : {1u, 2u, 8u}) {
    SCOPED_TRACE(threads);
    TempDir dir;
    ModelId model;
    BlockHash victim;
    {
      auto store = OpenCpuStore(dir.path());
      model = store->RegisterModel(desc).value();
      ASSERT_OK(store->Insert(model, tokens, kv).status());
      victim = store->Match(model, tokens)->pieces[5].hash;
      ASSERT_OK(store->Close());
    }
    CorruptStoredBlobs(dir.path(), model, {victim});
    StoreOptions options;
    options.path = dir.path();
    options.device = "cpu";
    options.device_budget_bytes = 0;
    options.load_threads = threads;
    auto store = Store::Open(options).value();
    model = store->RegisterModel(desc).value();
    auto dst = MakeKv(desc, {}, tokens.size());
    auto loaded = store->Load(model, tokens, dst);
    ASSERT_OK(loaded.status());
    EXPECT_EQ(loaded->tokens, 16u * 5);
    EXPECT_EQ(loaded->disk_tokens, 16u * 5);
    EXPECT_EQ(loaded->corrupt_blocks, 1u);
    EXPECT_TRUE(PrefixEqual(dst, kv, 16 * 5));
    EXPECT_EQ(store->Stats().hit_tokens_disk, 16u * 5);
    EXPECT_EQ(store->Stats().miss_tokens, tokens.size() - 16 * 5);
  }
}

// Several corrupt blocks in one chain (as a damaged blob file leaves) are
// all found and dropped by the first load that meets one, so the insert that
// follows repairs the whole chain at once (before: one block per run).
TEST(StoreTest, EveryCorruptBlockOfAChainIsDroppedByTheFirstLoad) {
  const auto desc = TestModel();
  const auto tokens = Iota(16 * 12);
  const auto kv = MakeKv(desc, tokens, tokens.size());
  TempDir dir;
  ModelId model;
  std::vector<BlockHash> victims;
  {
    auto store = OpenCpuStore(dir.path());
    model = store->RegisterModel(desc).value();
    ASSERT_OK(store->Insert(model, tokens, kv).status());
    auto match = store->Match(model, tokens);
    for (size_t i : {2, 5, 9}) victims.push_back(match->pieces[i].hash);
    ASSERT_OK(store->Close());
  }
  CorruptStoredBlobs(dir.path(), model, victims);
  StoreOptions options;
  options.path = dir.path();
  options.device = "cpu";
  options.device_budget_bytes = 0;
  options.load_threads = 1;
  auto store = Store::Open(options).value();
  model = store->RegisterModel(desc).value();
  auto dst = MakeKv(desc, {}, tokens.size());
  auto loaded = store->Load(model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 16u * 2);
  EXPECT_EQ(loaded->corrupt_blocks, 3u);
  for (const BlockHash& victim : victims) {
    EXPECT_TRUE(store->disk()->GetMeta(model, victim).status().IsNotFound()) << victim.ToHex();
  }
  // The request's insert (after its prefill) repairs the whole chain.
  ASSERT_OK(store->Insert(model, tokens, kv).status());
  auto again = MakeKv(desc, {}, tokens.size());
  auto reloaded = store->Load(model, tokens, again);
  ASSERT_OK(reloaded.status());
  EXPECT_EQ(reloaded->tokens, tokens.size());
  EXPECT_EQ(reloaded->corrupt_blocks, 0u);
  EXPECT_TRUE(PrefixEqual(again, kv, tokens.size()));
}

TEST(StoreTest, SecondReadWriteOpenIsBusyAndReadOnlyWorks) {
  TempDir dir;
  const auto desc = TestModel();
  const auto tokens = Iota(32);
  auto writer = OpenCpuStore(dir.path());
  auto model = writer->RegisterModel(desc).value();
  ASSERT_OK(writer->Insert(model, tokens, MakeKv(desc, tokens, 32)).status());
  ASSERT_OK(writer->Flush());

  StoreOptions options;
  options.path = dir.path();
  options.device = "cpu";
  auto second = Store::Open(options);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsBusy()) << second.status().ToString();
  EXPECT_NE(second.status().message().find("in use by another process"), std::string::npos)
      << second.status().ToString();

  options.read_only = true;
  auto reader = Store::Open(options);
  ASSERT_OK(reader.status());
  auto dst = MakeKv(desc, {}, 32);
  auto loaded = (*reader)->Load(model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 32u);
  EXPECT_TRUE((*reader)->Insert(model, tokens, dst).status().IsNotSupported());
}

// Issue 13: Store::Open never runs the background collector, so a library
// user who set a disk budget or an idle limit got no gc and no error. They
// are refused, naming what honours them (OpenStoreWithGc, gc/managed_store.h).
TEST(StoreTest, GcOptionsAreRefusedByStoreOpen) {
  TempDir dir;
  StoreOptions options;
  options.path = dir.path();
  options.device = "cpu";
  options.disk_budget_bytes = 1 << 20;
  auto budget = Store::Open(options);
  ASSERT_FALSE(budget.ok());
  EXPECT_TRUE(budget.status().IsInvalidArgument()) << budget.status().ToString();
  EXPECT_NE(budget.status().message().find("OpenStoreWithGc"), std::string::npos)
      << budget.status().ToString();
  options.disk_budget_bytes = 0;
  options.max_idle = std::chrono::seconds(60);
  EXPECT_TRUE(Store::Open(options).status().IsInvalidArgument());
  options.max_idle = std::chrono::seconds(0);
  ASSERT_OK(Store::Open(options).status());
}

TEST(StoreTest, ViewOfTheWrongShapeIsRejectedWithBothValues) {
  TempDir dir;
  const auto desc = TestModel();
  auto store = OpenCpuStore(dir.path());
  auto model = store->RegisterModel(desc).value();
  auto wrong = desc;
  wrong.head_dim = 8;
  const auto tokens = Iota(16);
  auto s = store->Insert(model, tokens, MakeKv(wrong, tokens, 16)).status();
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("2x8 != 2x16"), std::string::npos) << s.ToString();
  auto small = store->Insert(model, tokens, MakeKv(desc, {}, 8)).status();
  EXPECT_TRUE(small.IsInvalidArgument()) << small.ToString();
}

TEST(StoreTest, ConcurrentInsertsAndLoadsOfOverlappingPrefixes) {
  TempDir dir;
  const auto desc = testing::TestModel(DType::kBF16);
  // A small device budget so eviction, spill and promotion all run too.
  auto store = OpenCpuStore(dir.path(), 6 * testing::ShapeOf(desc).RawBytes(16));
  auto model = store->RegisterModel(desc).value();
  // Sequences share a 40-token prefix and diverge after it.
  auto make_tokens = [](int t, int i) {
    auto tokens = Iota(40 + 8 * (i % 5));
    for (size_t p = 40; p < tokens.size(); ++p) tokens[p] = 1000 * (t + 1) + i + int(p);
    return tokens;
  };
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  auto fail = [&](int t, int i, const std::string& what) {
    std::lock_guard<std::mutex> lock(failures_mutex);
    failures.push_back("thread " + std::to_string(t) + " step " + std::to_string(i) + ": " + what);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto tokens = make_tokens(t, i);
        auto kv = MakeKv(desc, tokens, 96);
        auto inserted = store->Insert(model, tokens, kv);
        if (!inserted.ok()) fail(t, i, "insert: " + inserted.status().ToString());
        auto probe = make_tokens((t + 1) % 4, i);
        auto dst = MakeKv(desc, {}, 96);
        auto loaded = store->Load(model, probe, dst);
        if (!loaded.ok()) {
          fail(t, i, "load: " + loaded.status().ToString());
          continue;
        }
        if (loaded->tokens < 40) {
          fail(t, i, "loaded " + std::to_string(loaded->tokens) + " of the shared 40 tokens");
          continue;
        }
        // Whatever was loaded must be exactly the probe's KV.
        if (!PrefixEqual(dst, MakeKv(desc, probe, 96), loaded->tokens)) {
          fail(t, i, "loaded " + std::to_string(loaded->tokens) + " tokens of wrong KV");
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& failure : failures) ADD_FAILURE() << failure;
  ASSERT_OK(store->Flush());
  EXPECT_EQ(store->Stats().corrupt_blocks, 0u);
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 25; ++i) {
      auto tokens = make_tokens(t, i);
      EXPECT_EQ(store->Match(model, tokens)->tokens, tokens.size());
    }
  }
}

// An allocation that fails inside libtorch (or the standard library) is
// ResourceExhausted, not IOError: a read-only Load turns IOError into a miss,
// which would hide running out of memory (issue 13).
TEST(CatchTorchTest, AllocationFailureIsResourceExhausted) {
  Status torch_oom = CatchTorch("allocate", [] {
    at::Tensor t = at::empty({int64_t{1} << 50}, at::kByte);  // 1 PiB
    return Status::OK();
  });
  EXPECT_TRUE(torch_oom.IsResourceExhausted()) << torch_oom.ToString();
  Status std_oom = CatchTorch("allocate", []() -> Status { throw std::bad_alloc(); });
  EXPECT_TRUE(std_oom.IsResourceExhausted()) << std_oom.ToString();
  // Other libtorch errors stay what they were.
  Status other = CatchTorch("reshape", [] {
    at::Tensor t = at::zeros({6}).view({4, 4});
    return Status::OK();
  });
  EXPECT_TRUE(other.IsIOError()) << other.ToString();
}

}  // namespace
}  // namespace kvstash
