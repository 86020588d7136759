// Logits records through the Store: what a warm start of exactly a stored
// prompt reads instead of running its last token through the model.
#include <ATen/ops/equal.h>
#include <ATen/ops/randn.h>
#include <gtest/gtest.h>

#include "store/disk_tier.h"
#include "store/store.h"
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

class LogitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenCpuStore(dir_.path());
    ASSERT_NE(store_, nullptr);
    auto model = store_->RegisterModel(desc_);
    ASSERT_OK(model.status());
    model_ = *model;
  }
  // Reopens the store: nothing comes from the in-memory records.
  void Reopen() {
    ASSERT_OK(store_->Close());
    store_.reset();
    SetUp();
  }
  // Stores the prompt's KV and then its logits, and waits for the disk: a
  // record is kept on disk only once its parent block is there.
  void InsertPrompt(const std::vector<int32_t>& tokens) {
    ASSERT_OK(store_->Insert(model_, tokens, MakeKv(desc_, tokens, tokens.size())).status());
    ASSERT_OK(store_->InsertLogits(model_, tokens, logits_));
    ASSERT_OK(store_->Flush());
  }
  at::Tensor Load(const std::vector<int32_t>& tokens) {
    auto logits = store_->LoadLogits(model_, tokens);
    EXPECT_TRUE(logits.ok()) << logits.status().ToString();
    return logits.ok() ? *logits : at::Tensor();
  }

  TempDir dir_;
  const ModelDescription desc_ = TestModel();  // 16 tokens per block, vocab 1000
  std::unique_ptr<Store> store_;
  ModelId model_;
  const at::Tensor logits_ = at::randn({1, 1000});
};

TEST_F(LogitsTest, StoredLogitsComeBackBitForBitInANewStore) {
  const auto prompt = Iota(40);  // 2 full blocks + 8
  InsertPrompt(prompt);
  EXPECT_TRUE(at::equal(Load(prompt), logits_));  // from memory
  Reopen();
  const at::Tensor loaded = Load(prompt);
  ASSERT_TRUE(loaded.defined());
  EXPECT_EQ(loaded.sizes(), logits_.sizes());
  EXPECT_TRUE(at::equal(loaded, logits_));
}

TEST_F(LogitsTest, OnlyTheExactPromptFindsThem) {
  const auto prompt = Iota(40);
  InsertPrompt(prompt);
  Reopen();
  auto changed = prompt;
  changed.back() += 1;
  EXPECT_FALSE(Load(changed).defined());
  EXPECT_FALSE(Load(Iota(39)).defined());
  EXPECT_FALSE(Load(Iota(41)).defined());
  EXPECT_FALSE(Load(Iota(32)).defined());
  EXPECT_TRUE(Load(prompt).defined());
}

// Without its blocks on disk (not written yet, or kOnEvict keeping them in
// memory) a record lives in memory only: on disk it could outlive them.
TEST_F(LogitsTest, ARecordWithoutItsBlocksStaysInMemory) {
  const auto prompt = Iota(40);
  ASSERT_OK(store_->InsertLogits(model_, prompt, logits_));
  ASSERT_OK(store_->Flush());
  EXPECT_TRUE(at::equal(Load(prompt), logits_));
  uint64_t on_disk = 0;
  ASSERT_OK(store_->disk()->ForEachLogits(
      std::nullopt, [&](const LogitsKey&, std::string_view) { return ++on_disk, true; }));
  EXPECT_EQ(on_disk, 0u);
  Reopen();
  EXPECT_FALSE(Load(prompt).defined());
}

// kOnEvict keeps blocks in memory until eviction or Close(); the prompt's
// record is kept with them at Close(), so a restarted process finds both.
TEST_F(LogitsTest, OnEvictStoreKeepsRecordsAtClose) {
  ASSERT_OK(store_->Close());
  store_.reset();
  {
    auto store = OpenCpuStore(dir_.path(), 1ull << 30, SpillPolicy::kOnEvict);
    const auto prompt = Iota(40);
    ASSERT_OK(store->Insert(model_, prompt, MakeKv(desc_, prompt, prompt.size())).status());
    ASSERT_OK(store->InsertLogits(model_, prompt, logits_));
    ASSERT_OK(store->Flush());
    uint64_t on_disk = 0;  // the blocks are still only in memory, so the record too
    ASSERT_OK(store->disk()->ForEachLogits(
        std::nullopt, [&](const LogitsKey&, std::string_view) { return ++on_disk, true; }));
    EXPECT_EQ(on_disk, 0u);
    ASSERT_OK(store->Close());
  }
  SetUp();
  EXPECT_TRUE(at::equal(Load(Iota(40)), logits_));
}

TEST_F(LogitsTest, OneBlockPromptsKeepNone) {
  const auto prompt = Iota(16);
  ASSERT_OK(store_->InsertLogits(model_, prompt, logits_));
  EXPECT_FALSE(Load(prompt).defined());
}

TEST_F(LogitsTest, WrongVocabIsRejected) {
  auto s = store_->InsertLogits(model_, Iota(40), at::randn({1, 999}));
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.ToString().find("999"), std::string::npos) << s.ToString();
}

TEST_F(LogitsTest, CorruptRecordIsAMissCountedAndDeleted) {
  const auto prompt = Iota(40);
  InsertPrompt(prompt);
  Reopen();
  // Overwrite the record with a copy whose last logit has one flipped bit.
  LogitsKey key{model_, {}, {}};
  key.parent = ComputeBlockHash(model_, kRootBlockHash, prompt.data(), 16);
  key.parent = ComputeBlockHash(model_, key.parent, prompt.data() + 16, 16);
  key.tail = ComputeBlockHash(model_, key.parent, prompt.data() + 32, 8);
  std::string record;
  ASSERT_OK(store_->disk()->GetLogits(key, &record));
  record[record.size() - 9] ^= 0x01;
  ASSERT_OK(store_->disk()->PutLogits(key, record));
  EXPECT_FALSE(Load(prompt).defined());
  EXPECT_EQ(store_->Stats().corrupt_blocks, 1u);
  EXPECT_EQ(store_->disk()->GetLogits(key, &record).code(), Status::Code::kNotFound);
}

TEST_F(LogitsTest, DeletedWithTheBlockBeforeThePromptsLast) {
  const auto prompt = Iota(40);
  const auto kv = MakeKv(desc_, prompt, 64);
  ASSERT_OK(store_->Insert(model_, prompt, kv).status());
  ASSERT_OK(store_->InsertLogits(model_, prompt, logits_));
  ASSERT_OK(store_->Flush());
  Reopen();
  const BlockHash b0 = ComputeBlockHash(model_, kRootBlockHash, prompt.data(), 16);
  const BlockHash b1 = ComputeBlockHash(model_, b0, prompt.data() + 16, 16);
  const BlockHash b2 = ComputeBlockHash(model_, b1, prompt.data() + 32, 8);
  // Deleting the last block alone leaves the record (the parent still stands).
  ASSERT_OK(store_->disk()->DeleteBlocks({{model_, b2, b1, {}}}));
  EXPECT_TRUE(Load(prompt).defined());
  Reopen();
  ASSERT_OK(store_->disk()->DeleteBlocks({{model_, b1, b0, {}}}));
  EXPECT_FALSE(Load(prompt).defined());
}

TEST_F(LogitsTest, SurvivesTheLastPartialBlockBeingSuperseded) {
  // A prompt ending mid-block, then the same prompt plus its answer: the
  // longer block replaces the partial one, and the prompt's record stays.
  const auto prompt = Iota(40);
  const auto longer = Iota(46);
  const auto kv = MakeKv(desc_, longer, 64);
  ASSERT_OK(store_->Insert(model_, prompt, kv).status());
  ASSERT_OK(store_->InsertLogits(model_, prompt, logits_));
  ASSERT_OK(store_->Insert(model_, longer, kv).status());
  ASSERT_OK(store_->Flush());
  Reopen();
  auto dst = MakeKv(desc_, {}, 64);
  auto loaded = store_->Load(model_, prompt, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 40u);
  EXPECT_TRUE(at::equal(Load(prompt), logits_));
}

TEST_F(LogitsTest, ReadOnlyStoreReadsButDoesNotWrite) {
  const auto prompt = Iota(40);
  InsertPrompt(prompt);
  ASSERT_OK(store_->Close());
  store_.reset();
  StoreOptions options;
  options.path = dir_.path();
  options.device = "cpu";
  options.read_only = true;
  auto reader = Store::Open(options);
  ASSERT_OK(reader.status());
  auto model = (*reader)->RegisterModel(desc_);
  ASSERT_OK(model.status());
  auto logits = (*reader)->LoadLogits(*model, prompt);
  ASSERT_OK(logits.status());
  EXPECT_TRUE(at::equal(*logits, logits_));
  EXPECT_OK((*reader)->InsertLogits(*model, Iota(50), logits_));
  logits = (*reader)->LoadLogits(*model, Iota(50));
  ASSERT_OK(logits.status());
  EXPECT_FALSE(logits->defined());
}

}  // namespace
}  // namespace kvstash
