// A request's work on the disk tier does not grow with the store (issue 11):
// the same requests against a store of 100 prompts and of 3,000 prompts make
// the same number of point reads, seeks and iterator steps. Counted through
// DiskTier::Work(), not timed. Every stored prompt starts with the same four
// tokens (a chat template, say), so the root has 3,000 children that all
// share a prefix with every query: a scan of siblings would show at once.
#include <gtest/gtest.h>

#include <random>

#include "serde/block_hash.h"
#include "store/disk_tier.h"
#include "store/store.h"
#include "tests/store/store_open_util.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::MakeKv;
using testing::TempDir;

constexpr uint32_t kB = 16;  // block tokens

DiskTierWork operator-(const DiskTierWork& a, const DiskTierWork& b) {
  return {a.point_reads - b.point_reads, a.seeks - b.seeks, a.steps - b.steps};
}

std::string Str(const DiskTierWork& w) {
  return std::to_string(w.point_reads) + " point reads, " + std::to_string(w.seeks) + " seeks, " +
         std::to_string(w.steps) + " steps";
}

class IndexScaleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    desc_ = testing::TestModel(DType::kF32, kB);
    Open();
    // One KV view for every prompt: what is counted does not look at values.
    kv_ = MakeKv(desc_, std::vector<int32_t>(3 * kB, 1), 3 * kB);
  }
  void Open() {
    store_.reset();
    // Device tier off: every block lives on disk only.
    store_ = testing::OpenCpuStore(dir_.path(), /*device_budget=*/0);
    ASSERT_NE(store_, nullptr);
    model_ = store_->RegisterModel(desc_).value();
  }
  // Prompt i: the shared template, then tokens that depend on i (drawn from
  // a real vocabulary's range, so two prompts rarely share more than the
  // template), two blocks.
  static std::vector<int32_t> Prompt(uint32_t i, size_t length = 2 * kB) {
    std::vector<int32_t> t = {900, 901, 902, 903};
    std::mt19937 rng(i);
    while (t.size() < length) t.push_back(static_cast<int32_t>(1000 + rng() % 150000));
    return t;
  }
  void Fill(uint32_t from, uint32_t to) {
    for (uint32_t i = from; i < to; ++i) ASSERT_OK(store_->Insert(model_, Prompt(i), kv_).status());
    ASSERT_OK(store_->Flush());
    Open();  // everything in SST files, as in a store that has been running a while
  }
  template <typename Fn>
  DiskTierWork Count(Fn&& fn) {
    const DiskTierWork before = store_->disk()->Work();
    fn();
    return store_->disk()->Work() - before;
  }

  // The requests whose work is compared, against prompts >= `fresh` (never
  // stored before this call).
  struct Works {
    DiskTierWork match_stored, match_new, match_diverging, load, insert, insert_partial, supersede,
        delete_block;
  };
  Works Measure(uint32_t stored, uint32_t fresh) {
    Works w;
    const auto p = Prompt(stored / 2);
    w.match_stored = Count([&] { EXPECT_EQ(store_->Match(model_, p).value().tokens, 2 * kB); });
    w.match_new = Count([&] {
      // Shares only the template with every stored prompt.
      auto fresh_prompt = Prompt(fresh);
      fresh_prompt[4] = 999;
      EXPECT_EQ(store_->Match(model_, fresh_prompt).value().tokens, 4u);
    });
    auto diverging = p;
    diverging[9] = 999;
    w.match_diverging =
        Count([&] { EXPECT_EQ(store_->Match(model_, diverging).value().tokens, 9u); });
    KvCacheView out = MakeKv(desc_, {}, 2 * kB);
    w.load = Count([&] { EXPECT_EQ(store_->Load(model_, p, out).value().tokens, 2 * kB); });
    w.insert = Count([&] {
      EXPECT_EQ(store_->Insert(model_, Prompt(fresh + 1), kv_).value().blocks_added, 2u);
      EXPECT_OK(store_->Flush());
    });
    const auto partial = Prompt(fresh + 2, kB + 5);
    w.insert_partial = Count([&] {
      EXPECT_EQ(store_->Insert(model_, partial, kv_).value().blocks_added, 2u);
      EXPECT_OK(store_->Flush());
    });
    // A longer tail supersedes the 5-token one, which leaves the disk.
    const auto longer = Prompt(fresh + 2, kB + 11);
    w.supersede = Count([&] {
      EXPECT_EQ(store_->Insert(model_, longer, kv_).value().blocks_added, 1u);
      EXPECT_OK(store_->Flush());
    });
    const BlockHash first = ComputeBlockHash(model_, kRootBlockHash, partial.data(), kB);
    const BlockHash short_tail = ComputeBlockHash(model_, first, partial.data() + kB, 5);
    EXPECT_TRUE(store_->disk()->GetMeta(model_, short_tail).status().IsNotFound());
    // The shorter prompt is still served whole, by the longer block.
    EXPECT_EQ(store_->Match(model_, partial).value().tokens, kB + 5);
    const BlockHash doomed = ComputeBlockHash(model_, first, longer.data() + kB, 11);
    w.delete_block = Count([&] { EXPECT_OK(store_->disk()->DeleteBlock(model_, doomed, first)); });
    EXPECT_EQ(store_->Match(model_, longer).value().tokens, kB);
    return w;
  }

  TempDir dir_;
  ModelDescription desc_;
  ModelId model_;
  KvCacheView kv_;
  std::unique_ptr<Store> store_;
};

TEST_F(IndexScaleTest, RequestWorkDoesNotGrowWithTheStore) {
  Fill(0, 100);
  const Works small = Measure(100, 1000000);
  Fill(100, 3000);
  const Works large = Measure(3000, 2000000);
  auto same = [](const char* what, const DiskTierWork& a, const DiskTierWork& b) {
    EXPECT_EQ(a.point_reads, b.point_reads) << what << ": " << Str(a) << " vs " << Str(b);
    EXPECT_EQ(a.seeks, b.seeks) << what << ": " << Str(a) << " vs " << Str(b);
    EXPECT_EQ(a.steps, b.steps) << what << ": " << Str(a) << " vs " << Str(b);
    // And small in absolute terms: a handful of reads, not one per sibling.
    EXPECT_LE(b.point_reads + b.seeks + b.steps, 12u) << what << ": " << Str(b);
  };
  same("match of a stored prompt", small.match_stored, large.match_stored);
  same("match of a new prompt", small.match_new, large.match_new);
  same("match diverging inside a block", small.match_diverging, large.match_diverging);
  same("load", small.load, large.load);
  same("insert", small.insert, large.insert);
  same("insert with a partial tail", small.insert_partial, large.insert_partial);
  same("insert superseding a partial", small.supersede, large.supersede);
  same("delete of a block", small.delete_block, large.delete_block);
}

}  // namespace
}  // namespace kvstash
