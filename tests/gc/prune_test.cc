// Pruning: the planner on hand-built forests, and real prunes of stores of
// several MB (what is kept still matches, nothing is orphaned, and the bytes
// come off the disk).
#include "gc/prune.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>

#include "gc/disk_usage.h"
#include "tests/gc/gc_test_util.h"

namespace kvstash {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using testing::TempDir;

const ModelId kA{1, 1};
const ModelId kB{2, 2};
BlockHash H(uint64_t n) { return BlockHash{n, 0}; }

// Adds a block of 100 bytes last accessed at `access`.
void Add(BlockGraph* g, const ModelId& m, uint64_t hash, uint64_t parent, uint64_t access) {
  BlockNode n;
  n.parent = H(parent);
  n.stored_bytes = 100;
  n.last_access_ms = access;
  g->AddBlock(m, H(hash), n);
}

std::vector<uint64_t> Hashes(const PrunePlan& plan) {
  std::vector<uint64_t> out;
  for (const PlannedDelete& d : plan.blocks) out.push_back(d.ref.hash.lo);
  return out;
}

// Kept blocks whose parent the plan deletes: must never happen.
size_t OrphansMade(const BlockGraph& g, const PrunePlan& plan) {
  BlockSet gone;
  for (const PlannedDelete& d : plan.blocks) gone.insert(d.ref);
  size_t n = 0;
  for (const auto& [m, mb] : g.models()) {
    for (const auto& [h, node] : mb.blocks) {
      if (!gone.count({m, h}) && gone.count({m, node.parent})) ++n;
    }
  }
  return n;
}

// Every block in a plan comes after all of its descendants in the plan.
bool ChildrenFirst(const BlockGraph& g, const PrunePlan& plan) {
  BlockSet seen;
  for (const PlannedDelete& d : plan.blocks) {
    for (const BlockHash& c : g.Find(d.ref)->children) {
      if (!seen.count({d.ref.model, c})) {
        bool planned =
            std::any_of(plan.blocks.begin(), plan.blocks.end(), [&](const PlannedDelete& x) {
              return x.ref == BlockRef{d.ref.model, c};
            });
        if (planned) return false;
      }
    }
    seen.insert(d.ref);
  }
  return true;
}

// A: 1-2-3 accessed at 10, 20, 30; B: 11-12-13 at 110, 120, 130.
BlockGraph TwoChains() {
  BlockGraph g;
  g.AddModel(kA);
  for (uint64_t i = 1; i <= 3; ++i) Add(&g, kA, i, i - 1, i * 10);
  for (uint64_t i = 11; i <= 13; ++i) Add(&g, kA, i, i == 11 ? 0 : i - 1, 100 + (i - 10) * 10);
  g.Finish();
  return g;
}

TEST(PrunePlanTest, BudgetEvictsLeastRecentlyUsedChainEndsFirst) {
  BlockGraph g = TwoChains();
  PruneCriteria c;
  c.max_bytes = 400;
  auto plan = PlanPrune(g, c);
  ASSERT_OK(plan.status());
  // The oldest chain goes from its end: a parent is never taken before its child.
  EXPECT_EQ(Hashes(*plan), (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(plan->stored_bytes, 200u);
  EXPECT_EQ(plan->kept_bytes(), 400u);
  EXPECT_TRUE(plan->budget_met);
  EXPECT_EQ(plan->blocks[0].reason, PruneReason::kBudget);

  c.max_bytes = 250;
  plan = PlanPrune(g, c);
  ASSERT_OK(plan.status());
  EXPECT_EQ(Hashes(*plan), (std::vector<uint64_t>{3, 2, 1, 13}));
  c.max_bytes = 0;
  plan = PlanPrune(g, c);
  ASSERT_OK(plan.status());
  EXPECT_EQ(plan->blocks.size(), 6u);
  EXPECT_EQ(OrphansMade(g, *plan), 0u);
}

// 1 - 2 - 3 (old)
//      \- 4 (recent): 2 and 1 stay as long as 4 does.
TEST(PrunePlanTest, BudgetNeverTakesAParentAKeptChildNeeds) {
  BlockGraph g;
  Add(&g, kA, 1, 0, 5);
  Add(&g, kA, 2, 1, 6);
  Add(&g, kA, 3, 2, 1);
  Add(&g, kA, 4, 2, 1000);
  g.Finish();
  PruneCriteria c;
  c.max_bytes = 300;
  auto plan = PlanPrune(g, c);
  ASSERT_OK(plan.status());
  EXPECT_EQ(Hashes(*plan), std::vector<uint64_t>{3});
  c.max_bytes = 200;  // then 4 must go before its (older) parents can
  plan = PlanPrune(g, c);
  ASSERT_OK(plan.status());
  EXPECT_EQ(Hashes(*plan), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(OrphansMade(g, *plan), 0u);
}

TEST(PrunePlanTest, AgeTakesOnlyWholeOldSubtrees) {
  BlockGraph g;
  // 1-2-3: old, old, recent: nothing goes (3 needs 1 and 2).
  Add(&g, kA, 1, 0, 1);
  Add(&g, kA, 2, 1, 1);
  Add(&g, kA, 3, 2, 900);
  // 11-12-13 all old: all go. 21-22-23 old with 22-24 recent: only 23.
  Add(&g, kA, 11, 0, 1);
  Add(&g, kA, 12, 11, 1);
  Add(&g, kA, 13, 12, 1);
  Add(&g, kA, 21, 0, 1);
  Add(&g, kA, 22, 21, 1);
  Add(&g, kA, 23, 22, 1);
  Add(&g, kA, 24, 22, 950);
  g.Finish();
  PruneCriteria c;
  c.older_than = milliseconds(500);
  c.now_ms = 1000;
  auto plan = PlanPrune(g, c);
  ASSERT_OK(plan.status());
  auto got = Hashes(*plan);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<uint64_t>{11, 12, 13, 23}));
  EXPECT_TRUE(ChildrenFirst(g, *plan));
  EXPECT_EQ(plan->blocks[0].reason, PruneReason::kAge);
}

TEST(PrunePlanTest, ModelAloneTakesEverythingAndTheRegistryEntry) {
  BlockGraph g;
  g.AddModel(kA);
  g.AddModel(kB);
  Add(&g, kA, 1, 0, 1);
  Add(&g, kA, 2, 1, 1);
  Add(&g, kB, 1, 0, 1);
  g.Finish();
  PruneCriteria c;
  c.model = kA;
  auto plan = PlanPrune(g, c);
  ASSERT_OK(plan.status());
  EXPECT_EQ(Hashes(*plan), (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(plan->unregister, std::vector<ModelId>{kA});
  EXPECT_EQ(plan->scope_blocks, 2u);

  // With another criterion, --model only narrows its scope.
  c.max_bytes = 100;
  plan = PlanPrune(g, c);
  ASSERT_OK(plan.status());
  EXPECT_EQ(Hashes(*plan), std::vector<uint64_t>{2});
  EXPECT_TRUE(plan->unregister.empty());

  c.model = ModelId{9, 9};
  EXPECT_TRUE(PlanPrune(g, c).status().IsNotFound());
  EXPECT_TRUE(PlanPrune(g, PruneCriteria()).status().IsInvalidArgument());
}

TEST(PrunePlanTest, OrphansGoWithEverythingBelowThem) {
  BlockGraph g;
  Add(&g, kA, 1, 0, 1);
  Add(&g, kA, 5, 4, 1000);  // 4 is missing
  Add(&g, kA, 6, 5, 1000);
  Add(&g, kA, 7, 6, 1000);
  g.Finish();
  PruneCriteria c;
  c.orphans = true;
  auto plan = PlanPrune(g, c);
  ASSERT_OK(plan.status());
  EXPECT_EQ(Hashes(*plan), (std::vector<uint64_t>{7, 6, 5}));
  EXPECT_EQ(plan->blocks[2].reason, PruneReason::kOrphan);
  EXPECT_EQ(plan->blocks[0].reason, PruneReason::kUnreachable);

  // Criteria combine: orphans and age.
  c.older_than = milliseconds(10);
  c.now_ms = 100;
  plan = PlanPrune(g, c);
  ASSERT_OK(plan.status());
  EXPECT_EQ(plan->blocks.size(), 4u);
}

TEST(PrunePlanTest, ExemptBlocksAndTheirAncestorsAreNeverPlanned) {
  BlockGraph g = TwoChains();
  const BlockSet exempt = {{kA, H(2)}};  // a pinned prefix 1-2
  PruneCriteria c;
  c.max_bytes = 0;
  auto plan = PlanPrune(g, c, exempt);
  ASSERT_OK(plan.status());
  auto got = Hashes(*plan);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<uint64_t>{3, 11, 12, 13}));
  EXPECT_FALSE(plan->budget_met);  // 1 and 2 alone exceed 0 bytes
  EXPECT_EQ(OrphansMade(g, *plan), 0u);

  PruneCriteria age;
  age.older_than = milliseconds(1);
  age.now_ms = 1000;
  plan = PlanPrune(g, age, exempt);
  ASSERT_OK(plan.status());
  got = Hashes(*plan);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<uint64_t>{3, 11, 12, 13}));

  PruneCriteria model;
  model.model = kA;
  plan = PlanPrune(g, model, exempt);
  ASSERT_OK(plan.status());
  EXPECT_EQ(plan->blocks.size(), 4u);
  EXPECT_EQ(plan->exempt_blocks, 2u);
  EXPECT_TRUE(plan->unregister.empty());  // the pinned blocks keep their model

  // Pinning a leaf pins its whole chain.
  plan = PlanPrune(g, c, {{kA, H(13)}, {kA, H(3)}});
  ASSERT_OK(plan.status());
  EXPECT_TRUE(plan->blocks.empty());
}

// Random forests and criteria: no plan ever orphans a kept block or lists a
// parent before its child, and an unconstrained budget is always met.
TEST(PrunePlanTest, RandomForestsNeverOrphanAKeptBlock) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 200; ++round) {
    BlockGraph g;
    const int n = 1 + rng() % 60;
    for (int i = 1; i <= n; ++i) {
      const uint64_t parent =
          (i == 1 || rng() % 5 == 0) ? (rng() % 7 == 0 ? 999 : 0) : 1 + rng() % (i - 1);
      Add(&g, rng() % 4 == 0 ? kB : kA, i, parent, rng() % 1000);
    }
    g.Finish();
    PruneCriteria c;
    if (rng() % 2) c.max_bytes = rng() % (n * 100);
    if (rng() % 2) c.older_than = milliseconds(rng() % 1000), c.now_ms = 1000;
    if (rng() % 3 == 0) c.orphans = true;
    if (!c.Any()) c.max_bytes = 0;
    auto plan = PlanPrune(g, c);
    ASSERT_OK(plan.status());
    EXPECT_EQ(OrphansMade(g, *plan), 0u) << "round " << round;
    EXPECT_TRUE(ChildrenFirst(g, *plan)) << "round " << round;
    if (c.max_bytes) {
      EXPECT_TRUE(plan->budget_met);
      EXPECT_LE(plan->kept_bytes(), *c.max_bytes);
    }
  }
}

// --- Real stores ---

class PruneStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chains_ = testing::BuildStore(dir_.path(), kChains, kBlocks, &model_);
    auto disk = testing::OpenDisk(dir_.path());
    ASSERT_OK(disk.status());
    disk_ = std::move(disk).value();
  }

  size_t Matched(int chain) {
    disk_.reset();
    size_t n = testing::MatchedTokens(dir_.path(), testing::GcModel(), chains_[chain]);
    auto disk = testing::OpenDisk(dir_.path());
    EXPECT_OK(disk.status());
    disk_ = std::move(disk).value();
    return n;
  }

  static constexpr int kChains = 8;
  static constexpr size_t kBlocks = 16;
  TempDir dir_;
  ModelId model_;
  std::vector<std::vector<int32_t>> chains_;
  std::unique_ptr<DiskTier> disk_;
};

TEST_F(PruneStoreTest, BudgetKeepsRecentChainsAndFreesTheBytesOnDisk) {
  // Chain i was last used at minute i: chain 7 is the most recent.
  for (int i = 0; i < kChains; ++i) {
    testing::SetAccess(disk_.get(), model_, chains_[i], 1'700'000'000'000ull + i * 60'000);
  }
  ASSERT_OK(disk_->Compact());  // a settled store, so "before" is not inflated by the WAL
  disk_.reset();
  auto before = DiskUsageBytes(dir_.path());
  ASSERT_OK(before.status());
  disk_ = testing::OpenDisk(dir_.path()).value();

  auto graph = BlockGraph::Load(disk_.get());
  ASSERT_OK(graph.status());
  const uint64_t stored = graph->stored_bytes();
  ASSERT_GT(stored, 3u << 20) << "the test wants a store of several MB";
  PruneCriteria c;
  c.max_bytes = stored / 2;
  auto plan = PlanPrune(*graph, c);
  ASSERT_OK(plan.status());
  auto applied = ApplyPlan(disk_.get(), *plan);
  ASSERT_OK(applied.status());
  EXPECT_EQ(applied->blocks_deleted, plan->blocks.size());
  EXPECT_EQ(applied->blocks_skipped, 0u);
  EXPECT_TRUE(applied->compacted);

  auto after_graph = BlockGraph::Load(disk_.get());
  ASSERT_OK(after_graph.status());
  EXPECT_LE(after_graph->stored_bytes(), stored / 2);
  EXPECT_TRUE(after_graph->Orphans().empty());
  disk_.reset();
  auto after = DiskUsageBytes(dir_.path());
  ASSERT_OK(after.status());
  std::printf("stored %llu -> %llu bytes; on disk %llu -> %llu bytes (freed %llu)\n",
              (unsigned long long)stored, (unsigned long long)after_graph->stored_bytes(),
              (unsigned long long)*before, (unsigned long long)*after,
              (unsigned long long)(*before - std::min(*before, *after)));
  // At least 80% of the deleted blocks' bytes left the disk.
  ASSERT_LT(*after, *before);
  EXPECT_GE(*before - *after, applied->stored_bytes_deleted * 8 / 10);
  disk_ = testing::OpenDisk(dir_.path()).value();

  // The most recent chains still match in full; the oldest is gone.
  const size_t full = kBlocks * testing::kGcBlockTokens;
  for (int i = kChains / 2 + 1; i < kChains; ++i) EXPECT_EQ(Matched(i), full) << "chain " << i;
  EXPECT_EQ(Matched(0), 0u);
}

TEST_F(PruneStoreTest, AgeDeletesIdleChainsOnly) {
  const uint64_t now = 1'800'000'000'000ull;
  for (int i = 0; i < kChains; ++i) {
    testing::SetAccess(disk_.get(), model_, chains_[i], i < 3 ? now - 10 * 86'400'000ull : now);
  }
  auto graph = BlockGraph::Load(disk_.get());
  ASSERT_OK(graph.status());
  PruneCriteria c;
  c.older_than = hours(24 * 7);
  c.now_ms = now;
  auto plan = PlanPrune(*graph, c);
  ASSERT_OK(plan.status());
  EXPECT_EQ(plan->blocks.size(), 3 * kBlocks);
  ASSERT_OK(ApplyPlan(disk_.get(), *plan).status());
  for (int i = 0; i < kChains; ++i) {
    EXPECT_EQ(Matched(i), i < 3 ? 0 : kBlocks * testing::kGcBlockTokens) << "chain " << i;
  }
}

TEST_F(PruneStoreTest, ModelAloneRemovesTheModelAndItsRegistryEntry) {
  // A second model with one chain.
  const auto other = testing::GcModel("other");
  disk_.reset();
  ModelId other_id;
  {
    auto store = testing::OpenTestStore(dir_.path());
    ASSERT_OK(store.status());
    other_id = (*store)->RegisterModel(other).value();
    ASSERT_OK(testing::InsertChain(store->get(), other, other_id, chains_[0]));
    ASSERT_OK((*store)->Close());
  }
  disk_ = testing::OpenDisk(dir_.path()).value();
  auto graph = BlockGraph::Load(disk_.get());
  ASSERT_OK(graph.status());
  PruneCriteria c;
  c.model = model_;
  auto plan = PlanPrune(*graph, c);
  ASSERT_OK(plan.status());
  auto applied = ApplyPlan(disk_.get(), *plan);
  ASSERT_OK(applied.status());
  EXPECT_EQ(applied->blocks_deleted, kChains * kBlocks);
  EXPECT_EQ(applied->unregistered, std::vector<ModelId>{model_});
  auto models = disk_->ListModels();
  ASSERT_OK(models.status());
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].first, other_id);
  auto left = BlockGraph::Load(disk_.get());
  ASSERT_OK(left.status());
  EXPECT_EQ(left->block_count(), kBlocks);
  EXPECT_FALSE(left->Contains(model_));
  disk_.reset();
  EXPECT_EQ(testing::MatchedTokens(dir_.path(), other, chains_[0]),
            kBlocks * testing::kGcBlockTokens);
}

// On a live store a block may be used, or extended, between plan and apply:
// it is kept, and so are its ancestors.
TEST_F(PruneStoreTest, ApplySkipsBlocksUsedOrExtendedSinceThePlan) {
  auto graph = BlockGraph::Load(disk_.get());
  ASSERT_OK(graph.status());
  PruneCriteria c;
  c.max_bytes = 0;
  auto plan = PlanPrune(*graph, c);
  ASSERT_OK(plan.status());
  // Chain 2's block 9 is used after planning.
  const auto hashes = testing::ChainHashes(model_, chains_[2]);
  auto meta = disk_->GetMeta(model_, hashes[9]);
  ASSERT_OK(meta.status());
  meta->last_access_ms += 1;
  ASSERT_OK(disk_->PutMetas({{{model_, hashes[9]}, *meta}}));
  ApplyOptions options;
  options.batch_blocks = 5;
  auto applied = ApplyPlan(disk_.get(), *plan, options);
  ASSERT_OK(applied.status());
  EXPECT_EQ(applied->blocks_skipped, 10u);  // block 9 and its 9 ancestors
  auto left = BlockGraph::Load(disk_.get());
  ASSERT_OK(left.status());
  EXPECT_EQ(left->block_count(), 10u);
  EXPECT_TRUE(left->Orphans().empty());
  EXPECT_EQ(Matched(2), 10 * testing::kGcBlockTokens);
}

TEST_F(PruneStoreTest, ExemptChainSurvivesABudgetOfZero) {
  auto graph = BlockGraph::Load(disk_.get());
  ASSERT_OK(graph.status());
  PruneCriteria c;
  c.max_bytes = 0;
  const auto pinned = testing::ChainHashes(model_, chains_[5]);
  auto plan = PlanPrune(*graph, c, {{model_, pinned[7]}});  // pin the first 8 blocks
  ASSERT_OK(plan.status());
  EXPECT_FALSE(plan->budget_met);
  ASSERT_OK(ApplyPlan(disk_.get(), *plan).status());
  EXPECT_EQ(Matched(5), 8 * testing::kGcBlockTokens);
  EXPECT_EQ(Matched(4), 0u);
}

std::vector<std::string> BlobFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".blob") out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Compaction after a prune rewrites only the blob files up to the newest one
// holding garbage: pruning the oldest chains leaves newer files untouched.
TEST(PruneCompactionTest, OnlyBlobFilesWithGarbageAndOlderAreRewritten) {
  TempDir dir;
  const auto desc = testing::GcModel();
  ModelId model;
  std::vector<std::vector<int32_t>> chains;
  for (int phase = 0; phase < 2; ++phase) {
    {
      auto store = testing::OpenTestStore(dir.path());
      ASSERT_OK(store.status());
      model = (*store)->RegisterModel(desc).value();
      for (int i = phase * 4; i < phase * 4 + 4; ++i) {
        chains.push_back(testing::ChainTokens(i, 8));
        ASSERT_OK(testing::InsertChain(store->get(), desc, model, chains.back()));
      }
      ASSERT_OK((*store)->Close());
    }
    auto disk = testing::OpenDisk(dir.path());
    ASSERT_OK(disk.status());
    ASSERT_OK((*disk)->Compact());  // one blob file per phase
  }
  const auto before = BlobFiles(dir.path());
  ASSERT_EQ(before.size(), 2u);
  auto disk = testing::OpenDisk(dir.path());
  ASSERT_OK(disk.status());
  // Chains 0 and 1 are idle: their blocks are garbage in the old file.
  for (int i = 0; i < 8; ++i) {
    testing::SetAccess(disk->get(), model, chains[i], i < 2 ? 1000 : 1'000'000);
  }
  auto graph = BlockGraph::Load(disk->get());
  ASSERT_OK(graph.status());
  PruneCriteria c;
  c.older_than = std::chrono::milliseconds(1000);
  c.now_ms = 1'000'000;
  auto plan = PlanPrune(*graph, c);
  ASSERT_OK(plan.status());
  ASSERT_OK(ApplyPlan(disk->get(), *plan).status());
  disk->reset();
  const auto after = BlobFiles(dir.path());
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(std::count(after.begin(), after.end(), before[0]), 0) << "old file rewritten";
  EXPECT_EQ(std::count(after.begin(), after.end(), before[1]), 1) << "new file untouched";
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(testing::MatchedTokens(dir.path(), desc, chains[i]), i < 2 ? 0 : 8 * 64) << i;
  }
}

}  // namespace
}  // namespace kvstash
