// BackgroundCollector on a live Store: it holds the budget while blocks keep
// arriving, deletes idle chains, spares exempt ones, and stops cleanly.
#include "gc/collector.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/gc/gc_test_util.h"

namespace kvstash {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using testing::TempDir;

constexpr size_t kBlocks = 8;
constexpr size_t kFull = kBlocks * testing::kGcBlockTokens;

class CollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = testing::OpenTestStore(dir_.path());
    ASSERT_OK(store.status());
    store_ = std::move(store).value();
    model_ = store_->RegisterModel(desc_).value();
  }
  void Insert(int chain) {
    ASSERT_OK(
        testing::InsertChain(store_.get(), desc_, model_, testing::ChainTokens(chain, kBlocks)));
    ASSERT_OK(store_->Flush());
  }
  size_t Matched(int chain) {
    auto m = store_->Match(model_, testing::ChainTokens(chain, kBlocks));
    return m.ok() ? m->tokens : 0;
  }
  BlockGraph Graph() {
    auto g = BlockGraph::Load(store_->disk());
    EXPECT_OK(g.status());
    return g.ok() ? std::move(g).value() : BlockGraph();
  }

  TempDir dir_;
  const ModelDescription desc_ = testing::GcModel();
  std::unique_ptr<Store> store_;
  ModelId model_;
};

TEST_F(CollectorTest, StartRejectsWhatCannotWork) {
  CollectorOptions options;
  options.disk_budget_bytes = 1 << 20;
  EXPECT_TRUE(BackgroundCollector::Start(nullptr, options).status().IsInvalidArgument());
  CollectorOptions nothing;
  EXPECT_TRUE(BackgroundCollector::Start(store_->disk(), nothing).status().IsInvalidArgument());
  CollectorOptions no_interval = options;
  no_interval.interval = milliseconds(0);
  EXPECT_TRUE(BackgroundCollector::Start(store_->disk(), no_interval).status().IsInvalidArgument());
  DiskTierOptions ro;
  ro.path = dir_.path();
  ro.read_only = true;
  auto view = DiskTier::Open(ro);
  ASSERT_OK(view.status());
  EXPECT_TRUE(BackgroundCollector::Start(view->get(), options).status().IsNotSupported());
}

TEST_F(CollectorTest, HoldsTheBudgetWhileChainsArriveAndKeepsTheNewest) {
  Insert(0);
  const uint64_t chain_bytes = Graph().stored_bytes();
  CollectorOptions options;
  options.disk_budget_bytes = chain_bytes * 3 + chain_bytes / 2;  // room for 3.5 chains
  options.interval = milliseconds(20);
  auto collector = BackgroundCollector::Start(store_->disk(), options);
  ASSERT_OK(collector.status());
  for (int chain = 1; chain < 8; ++chain) {
    std::this_thread::sleep_for(milliseconds(5));  // distinct access times
    Insert(chain);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Graph().stored_bytes() > options.disk_budget_bytes &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  (*collector)->Stop();
  BlockGraph g = Graph();
  EXPECT_LE(g.stored_bytes(), options.disk_budget_bytes);
  EXPECT_TRUE(g.Orphans().empty());
  const CollectorStats stats = (*collector)->stats();
  EXPECT_GT(stats.passes, 0u);
  EXPECT_GE(stats.blocks_deleted, 4 * kBlocks);
  EXPECT_EQ(stats.errors, 0u) << stats.last_error.ToString();
  // The three newest chains are whole; the oldest are gone from disk.
  for (int chain = 5; chain < 8; ++chain) EXPECT_EQ(Matched(chain), kFull) << chain;
  EXPECT_EQ(Matched(0), 0u);
}

TEST_F(CollectorTest, DeletesIdleChainsAndSparesExemptOnes) {
  for (int chain = 0; chain < 4; ++chain) Insert(chain);
  const uint64_t two_hours_ago = std::chrono::duration_cast<milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch() - hours(2))
                                     .count();
  for (int chain : {0, 1, 2}) {
    testing::SetAccess(store_->disk(), model_, testing::ChainTokens(chain, kBlocks), two_hours_ago);
  }
  const BlockHash pinned = testing::ChainHashes(model_, testing::ChainTokens(2, kBlocks)).back();
  CollectorOptions options;
  options.max_idle = hours(1);
  options.interval = hours(1);  // only the first pass and RunOnce
  options.exempt = [&] { return BlockSet{{model_, pinned}}; };
  auto collector = BackgroundCollector::Start(store_->disk(), options);
  ASSERT_OK(collector.status());
  ASSERT_OK((*collector)->RunOnce().status());
  EXPECT_EQ(Matched(0), 0u);
  EXPECT_EQ(Matched(1), 0u);
  EXPECT_EQ(Matched(2), kFull);  // idle, but pinned
  EXPECT_EQ(Matched(3), kFull);
  EXPECT_EQ((*collector)->stats().blocks_deleted, 2 * kBlocks);
}

TEST_F(CollectorTest, StopIsPromptIdempotentAndSafeFromManyThreads) {
  for (int chain = 0; chain < 3; ++chain) Insert(chain);
  CollectorOptions options;
  options.disk_budget_bytes = 1;
  options.interval = milliseconds(1);
  auto collector = BackgroundCollector::Start(store_->disk(), options);
  ASSERT_OK(collector.status());
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto r = (*collector)->RunOnce();
        EXPECT_TRUE(r.ok() || r.status().IsAborted()) << r.status().ToString();
        (void)(*collector)->stats();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(Graph().block_count() == 0 || Graph().stored_bytes() <= 1);
  std::thread a([&] { (*collector)->Stop(); });
  std::thread b([&] { (*collector)->Stop(); });
  a.join();
  b.join();
  (*collector)->Stop();
  EXPECT_TRUE((*collector)->RunOnce().status().IsAborted());
  EXPECT_EQ((*collector)->stats().errors, 0u);

  // A collector waiting out a long interval stops at once.
  options.interval = hours(1);
  auto idle = BackgroundCollector::Start(store_->disk(), options);
  ASSERT_OK(idle.status());
  std::this_thread::sleep_for(milliseconds(50));
  const auto t0 = std::chrono::steady_clock::now();
  idle->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

}  // namespace
}  // namespace kvstash
