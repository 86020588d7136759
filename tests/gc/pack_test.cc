// Packs (gc/pack.h): export -> import round trips that a Store can load
// byte for byte, and damaged packs that change nothing.
#include "gc/pack.h"

#include <ATen/ops/equal.h>
#include <ATen/ops/randn.h>
#include <gtest/gtest.h>

#include "serde/hash128.h"
#include "store/store.h"
#include "tests/store/store_open_util.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::Iota;
using testing::MakeKv;
using testing::OpenCpuStore;
using testing::PrefixEqual;
using testing::TempDir;
using testing::TestModel;

uint64_t BlockCount(DiskTier* disk) {
  uint64_t n = 0;
  EXPECT_OK(disk->ForEachMeta(std::nullopt, [&](const ModelId&, const BlockHash&,
                                                const Result<BlockMeta>&) { return ++n, true; }));
  return n;
}

class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = OpenCpuStore(src_.path(), /*device_budget=*/0);
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
    auto store = OpenCpuStore(dst_.path(), /*device_budget=*/0);
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
  newer[4] = 3;  // version, little-endian u16
  Status s = ImportInto(newer);
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  EXPECT_EQ(blocks_after_, 0u);
}

// Logits records of exported prompts travel in the pack (format version 2):
// the importing store serves them bit for bit; a pinned chain takes only its
// own prompt's record; a bad record inside a well-sealed pack is refused.
TEST_F(PackTest, LogitsRecordsTravelWithTheirPrompts) {
  const at::Tensor la = at::randn({1, desc_.vocab_size}), lb = at::randn({1, desc_.vocab_size});
  ASSERT_OK(source_->InsertLogits(model_, a_, la));
  ASSERT_OK(source_->InsertLogits(model_, b_, lb));
  ASSERT_OK(source_->Flush());  // records reach the disk behind their blocks
  auto pack = ExportPack(source_->disk(), model_);
  ASSERT_OK(pack.status());
  EXPECT_EQ((*pack)[4], 2);  // version 2: it carries logits records
  auto parsed = ParsePack(*pack);
  ASSERT_OK(parsed.status());
  EXPECT_EQ(parsed->logits.size(), 2u);
  ASSERT_OK(ImportInto(*pack));
  {
    auto store = OpenCpuStore(dst_.path(), /*device_budget=*/0);
    ASSERT_OK(store->RegisterModel(desc_).status());
    auto got = store->LoadLogits(model_, a_);
    ASSERT_OK(got.status());
    ASSERT_TRUE(got->defined());
    EXPECT_TRUE(at::equal(*got, la));
    got = store->LoadLogits(model_, b_);
    ASSERT_OK(got.status());
    ASSERT_TRUE(got->defined());
    EXPECT_TRUE(at::equal(*got, lb));
  }

  ASSERT_OK(source_->Pin("a", model_, a_));
  auto pin = source_->disk()->GetPin("a");
  ASSERT_OK(pin.status());
  auto pinned = ExportPack(source_->disk(), model_, pin->leaf);
  ASSERT_OK(pinned.status());
  auto pinned_parsed = ParsePack(*pinned);
  ASSERT_OK(pinned_parsed.status());
  ASSERT_EQ(pinned_parsed->logits.size(), 1u);

  // A flipped logit, resealed with a valid trailer: the record's own checksum
  // catches it and nothing is imported.
  std::string bad = *pinned;
  bad[bad.size() - 8 - 8 - 4] ^= 0x01;  // inside the last logit of the last record
  const uint64_t sum = Xxh3Hash64(bad.data(), bad.size() - 8);
  for (int i = 0; i < 8; ++i) bad[bad.size() - 8 + i] = static_cast<char>(sum >> (8 * i));
  TempDir other;
  DiskTierOptions options;
  options.path = other.path();
  auto disk = DiskTier::Open(options);
  ASSERT_OK(disk.status());
  auto result = ImportPack(disk->get(), bad);
  EXPECT_TRUE(result.status().IsCorruption()) << result.status().ToString();
  EXPECT_NE(result.status().ToString().find("logits record"), std::string::npos)
      << result.status().ToString();
  EXPECT_EQ(BlockCount(disk->get()), 0u);
}

// A pack without logits records is written as version 1, which older
// kvstash builds import.
TEST_F(PackTest, PacksWithoutLogitsStayVersionOne) {
  auto pack = ExportPack(source_->disk(), model_);
  ASSERT_OK(pack.status());
  EXPECT_EQ((*pack)[4], 1);
  EXPECT_EQ((*pack)[5], 0);
}

}  // namespace
}  // namespace kvstash
