// Pinned prefixes: the pin record, Store::Pin/Unpin, and every gc path
// (PlanPrune via the collector, Repair, OpenStoreWithGc) keeping pinned chains.
#include "gc/pins.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "gc/collector.h"
#include "gc/managed_store.h"
#include "gc/verify.h"
#include "tests/gc/gc_test_util.h"

namespace kvstash {
namespace {

using testing::BuildStore;
using testing::ChainHashes;
using testing::GcModel;
using testing::InsertChain;
using testing::OpenDisk;
using testing::OpenTestStore;
using testing::StoredBytes;
using testing::TempDir;

TEST(DiskPinTest, EncodesAndDecodesAndRejectsBadRecords) {
  DiskPin pin;
  pin.model = BlockHash{1, 2};
  pin.leaf = BlockHash{3, 4};
  pin.tokens = 640;
  const std::string bytes = pin.Encode();
  ASSERT_EQ(bytes.size(), 1u + 16 + 16 + 8);
  EXPECT_EQ(bytes[0], 1);
  auto back = DiskPin::Decode(bytes);
  ASSERT_OK(back.status());
  EXPECT_EQ(back->model, pin.model);
  EXPECT_EQ(back->leaf, pin.leaf);
  EXPECT_EQ(back->tokens, 640u);

  auto truncated = DiskPin::Decode(std::string_view(bytes).substr(0, bytes.size() - 1));
  EXPECT_TRUE(truncated.status().IsCorruption()) << truncated.status().ToString();
  std::string newer = bytes;
  newer[0] = 2;
  auto v2 = DiskPin::Decode(newer);
  EXPECT_TRUE(v2.status().IsNotSupported()) << v2.status().ToString();
  EXPECT_NE(v2.status().message().find("version 2"), std::string::npos);
  EXPECT_TRUE(DiskPin::Decode(bytes + "x").status().IsCorruption());
}

class PinsTest : public ::testing::Test {
 protected:
  // 4 chains of 8 blocks; chain 0 pinned as "keep".
  void SetUp() override {
    chains_ = BuildStore(dir_.path(), 4, 8, &model_);
    auto store = OpenTestStore(dir_.path());
    ASSERT_OK(store.status());
    ASSERT_OK((*store)->RegisterModel(GcModel()).status());
    ASSERT_OK((*store)->Pin("keep", model_, chains_[0]));
    ASSERT_OK((*store)->Close());
  }
  std::unique_ptr<DiskTier> Disk() {
    auto disk = OpenDisk(dir_.path());
    EXPECT_OK(disk.status());
    return disk.ok() ? std::move(disk).value() : nullptr;
  }
  size_t Present(DiskTier* disk, int chain) {
    size_t n = 0;
    for (const BlockHash& h : ChainHashes(model_, chains_[chain]))
      n += disk->GetMeta(model_, h).ok();
    return n;
  }

  TempDir dir_;
  ModelId model_;
  std::vector<std::vector<int32_t>> chains_;
};

TEST_F(PinsTest, PinRecordsTheLeafAndPinnedBlocksListsIt) {
  auto disk = Disk();
  auto pin = disk->GetPin("keep");
  ASSERT_OK(pin.status());
  EXPECT_EQ(pin->name, "keep");
  EXPECT_EQ(pin->model, model_);
  EXPECT_EQ(pin->tokens, chains_[0].size());
  EXPECT_EQ(pin->leaf, ChainHashes(model_, chains_[0]).back());
  auto pinned = PinnedBlocks(disk.get());
  ASSERT_OK(pinned.status());
  ASSERT_EQ(pinned->size(), 1u);
  EXPECT_EQ(pinned->count({model_, pin->leaf}), 1u);
  auto graph = BlockGraph::Load(disk.get());
  ASSERT_OK(graph.status());
  EXPECT_EQ(WithAncestors(*graph, *pinned).size(), 8u);
}

TEST_F(PinsTest, PinOfUnstoredTokensIsNotFoundAndUnpinRemoves) {
  auto store = OpenTestStore(dir_.path());
  ASSERT_OK(store.status());
  ASSERT_OK((*store)->RegisterModel(GcModel()).status());
  std::vector<int32_t> longer = chains_[1];
  longer.push_back(999999);  // one token beyond what is stored
  Status s = (*store)->Pin("x", model_, longer);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_TRUE((*store)->Pin("", model_, chains_[1]).IsInvalidArgument());
  EXPECT_TRUE((*store)->Unpin("nope").IsNotFound());
  ASSERT_OK((*store)->Unpin("keep"));
  auto pins = (*store)->disk()->ListPins();
  ASSERT_OK(pins.status());
  EXPECT_TRUE(pins->empty());
}

TEST_F(PinsTest, CollectorKeepsThePinnedChain) {
  auto disk = Disk();
  CollectorOptions options;
  options.disk_budget_bytes = 1;  // everything it may delete goes
  options.interval = std::chrono::hours(1);
  auto collector = BackgroundCollector::Start(disk.get(), options);
  ASSERT_OK(collector.status());
  auto pass = (*collector)->RunOnce();
  ASSERT_OK(pass.status());
  (*collector)->Stop();
  EXPECT_EQ(Present(disk.get(), 0), 8u);
  for (int c = 1; c < 4; ++c) EXPECT_EQ(Present(disk.get(), c), 0u) << c;

  ASSERT_OK(disk->DeletePin("keep"));
  auto again = BackgroundCollector::Start(disk.get(), options);
  ASSERT_OK(again.status());
  ASSERT_OK((*again)->RunOnce().status());
  EXPECT_EQ(Present(disk.get(), 0), 0u);
}

TEST_F(PinsTest, RepairDeletesOnlyCorruptPinnedBlocks) {
  auto disk = Disk();
  for (int chain : {0, 1}) {
    const BlockHash h = ChainHashes(model_, chains_[chain])[3];
    auto meta = disk->GetMeta(model_, h);
    ASSERT_OK(meta.status());
    std::string blob;
    ASSERT_OK(disk->GetBlob(model_, h, &blob));
    blob[blob.size() / 2] ^= 0x10;
    ASSERT_OK(disk->PutBlocks({{model_, h, *meta, blob}}, /*sync=*/false));
  }
  auto report = VerifyStore(disk.get());
  ASSERT_OK(report.status());
  EXPECT_EQ(report->corrupt, 2u);
  ASSERT_OK(Repair(disk.get(), *report).status());
  EXPECT_EQ(Present(disk.get(), 0), 7u);  // only the corrupt block of the pinned chain
  EXPECT_EQ(Present(disk.get(), 1), 3u);  // the corrupt block and everything below it
  EXPECT_EQ(Present(disk.get(), 2), 8u);
}

TEST(ManagedStoreTest, NoLimitsMeansNoCollector) {
  TempDir dir;
  StoreOptions options;
  options.path = dir.path();
  options.device = "cpu";
  auto managed = OpenStoreWithGc(options);
  ASSERT_OK(managed.status());
  EXPECT_NE(managed->store(), nullptr);
  EXPECT_EQ(managed->collector(), nullptr);
  ASSERT_OK(managed->Close());
}

TEST(ManagedStoreTest, AStoreThatKeepsInsertingStaysNearItsBudget) {
  TempDir dir;
  StoreOptions options;
  options.path = dir.path();
  options.device = "cpu";
  options.device_budget_bytes = 0;
  options.disk_budget_bytes = 1ull << 20;  // ~27 blocks of ~37 KiB
  options.gc_interval = std::chrono::seconds(3600);
  auto managed = OpenStoreWithGc(options);
  ASSERT_OK(managed.status());
  ASSERT_NE(managed->collector(), nullptr);
  Store* store = managed->store();
  const ModelDescription desc = GcModel();
  auto model = store->RegisterModel(desc);
  ASSERT_OK(model.status());
  // A pinned chain inserted first is the least recently used, yet it stays.
  const auto pinned = testing::ChainTokens(100, 4);
  ASSERT_OK(InsertChain(store, desc, *model, pinned));
  ASSERT_OK(store->Pin("sys", *model, pinned));
  for (int i = 0; i < 16; ++i) {
    ASSERT_OK(InsertChain(store, desc, *model, testing::ChainTokens(i, 4)));
    // Each chain in its own write, a few ms apart: access times have
    // millisecond resolution, and "newest" must be unambiguous.
    ASSERT_OK(store->Flush());
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  EXPECT_GT(StoredBytes(store->disk()), 2 * options.disk_budget_bytes);
  auto pass = managed->collector()->RunOnce();
  ASSERT_OK(pass.status());
  EXPECT_GT(pass->blocks_deleted, 0u);
  const uint64_t after = StoredBytes(store->disk());
  EXPECT_LE(after, options.disk_budget_bytes);
  EXPECT_GT(after, options.disk_budget_bytes / 2);
  for (const BlockHash& h : ChainHashes(*model, pinned)) {
    EXPECT_OK(store->disk()->GetMeta(*model, h).status());
  }
  auto match = store->Match(*model, testing::ChainTokens(15, 4));  // the newest chain
  ASSERT_OK(match.status());
  EXPECT_EQ(match->tokens, 4u * testing::kGcBlockTokens);
  ASSERT_OK(managed->Close());
}

}  // namespace
}  // namespace kvstash
