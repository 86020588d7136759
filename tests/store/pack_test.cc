// Packs (store/pack.h): export -> import round trips that a Store can load
// byte for byte, and damaged packs that change nothing.
#include "store/pack.h"

#include <gtest/gtest.h>

#include "store/store.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::Iota;
using testing::MakeKv;
using testing::PrefixEqual;
using testing::TempDir;
using testing::TestModel;

std::unique_ptr<Store> OpenStore(const std::string& dir) {
  StoreOptions options;
  options.path = dir;
  options.device = "cpu";
  options.device_budget_bytes = 0;  // loads come from disk
  auto store = Store::Open(options);
  EXPECT_OK(store.status());
  return store.ok() ? std::move(store).value() : nullptr;
}

uint64_t BlockCount(DiskTier* disk) {
  uint64_t n = 0;
  EXPECT_OK(disk->ForEachMeta(std::nullopt, [&](const ModelId&, const BlockHash&,
                                                const Result<BlockMeta>&) { return ++n, true; }));
  return n;
}

class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = OpenStore(src_.path());
    ASSERT_NE(source_, nullptr);
    auto model = source_->RegisterModel(desc_);
    ASSERT_OK(model.status());
    model_ = *model;
    // Two prompts sharing 3 blocks; the first ends in a partial block.
    for (const auto& t : {a_, b_}) {
      ASSERT_OK(source_->Insert(model_, t, MakeKv(desc_, t, t.size())).status());
    }
    ASSERT_OK(source_->Flush());
  }
  // Imports `pack` into a fresh store at dst_; returns the status.
  Status ImportInto(const std::string& pack) {
    DiskTierOptions options;
    options.path = dst_.path();
    auto disk = DiskTier::Open(options);
    if (!disk.ok()) return disk.status();
    auto result = ImportPack(disk->get(), pack);
    blocks_after_ = BlockCount(disk->get());
    return result.ok() ? Status::OK() : result.status();
  }
  void ExpectLoads(const std::vector<int32_t>& tokens, size_t expected) {
    auto store = OpenStore(dst_.path());
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->RegisterModel(desc_).status());
    auto match = store->Match(model_, tokens);
    ASSERT_OK(match.status());
    EXPECT_EQ(match->tokens, expected);
    auto dst = MakeKv(desc_, {}, tokens.size());
    auto loaded = store->Load(model_, tokens, dst);
    ASSERT_OK(loaded.status());
    EXPECT_EQ(loaded->tokens, expected);
    EXPECT_TRUE(PrefixEqual(dst, MakeKv(desc_, tokens, tokens.size()), expected));
  }

  const ModelDescription desc_ = TestModel(DType::kBF16, 16);
  const std::vector<int32_t> a_ = Iota(16 * 5 + 7);
  const std::vector<int32_t> b_ = [] {
    auto t = Iota(16 * 6);
    t[16 * 3 + 2] = 999;
    return t;
  }();
  TempDir src_, dst_;
  std::unique_ptr<Store> source_;
  ModelId model_;
  uint64_t blocks_after_ = 0;
};

TEST_F(PackTest, ExportImportRoundTripLoadsEqualBytes) {
  auto pack = ExportPack(source_->disk(), model_);
  ASSERT_OK(pack.status());
  ASSERT_EQ(pack->substr(0, 4), "KVSP");
  auto parsed = ParsePack(*pack);
  ASSERT_OK(parsed.status());
  EXPECT_EQ(parsed->records.size(), 3u + 3 + 3);  // shared 3, a: 2 + tail, b: 3
  ASSERT_OK(ImportInto(*pack));
  EXPECT_EQ(blocks_after_, 9u);
  ExpectLoads(a_, a_.size());
  ExpectLoads(b_, b_.size());
  // Importing again adds nothing and is fine.
  ASSERT_OK(ImportInto(*pack));
  EXPECT_EQ(blocks_after_, 9u);
}

TEST_F(PackTest, PinnedChainExportHoldsOnlyThatChain) {
  ASSERT_OK(source_->Pin("a", model_, a_));
  auto pin = source_->disk()->GetPin("a");
  ASSERT_OK(pin.status());
  auto pack = ExportPack(source_->disk(), model_, pin->leaf);
  ASSERT_OK(pack.status());
  ASSERT_OK(ImportInto(*pack));
  EXPECT_EQ(blocks_after_, 6u);
  ExpectLoads(a_, a_.size());
  ExpectLoads(b_, 16 * 3 + 2);  // the shared 3 blocks, then 2 tokens of a's 4th
}

TEST_F(PackTest, TruncatedTamperedAndNewerPacksChangeNothing) {
  auto pack = ExportPack(source_->disk(), model_);
  ASSERT_OK(pack.status());
  for (size_t cut : {size_t{0}, size_t{5}, pack->size() / 2, pack->size() - 1}) {
    Status s = ImportInto(pack->substr(0, cut));
    EXPECT_TRUE(s.IsCorruption()) << cut << ": " << s.ToString();
    EXPECT_EQ(blocks_after_, 0u);
  }
  for (size_t at : {size_t{10}, pack->size() / 3, pack->size() - 3}) {
    std::string bad = *pack;
    bad[at] ^= 0x01;
    Status s = ImportInto(bad);
    EXPECT_TRUE(s.IsCorruption()) << at << ": " << s.ToString();
    EXPECT_NE(s.message().find("checksum"), std::string::npos) << s.ToString();
    EXPECT_EQ(blocks_after_, 0u);
  }
  std::string newer = *pack;
  newer[4] = 2;  // version, little-endian u16
  Status s = ImportInto(newer);
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  EXPECT_EQ(blocks_after_, 0u);
}

}  // namespace
}  // namespace kvstash
