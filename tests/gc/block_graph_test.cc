// BlockGraph: the forest of blocks gc plans on.
#include "gc/block_graph.h"

#include <gtest/gtest.h>

#include "gc/inventory.h"
#include "tests/gc/gc_test_util.h"

namespace kvstash {
namespace {

using testing::TempDir;

const ModelId kModel{7, 7};
BlockHash H(uint64_t n) { return BlockHash{n, 0}; }

BlockNode Node(uint64_t parent, uint64_t bytes = 100, uint64_t access = 0) {
  BlockNode n;
  n.parent = H(parent);
  n.stored_bytes = bytes;
  n.last_access_ms = access;
  return n;
}

//   1 - 2 - 3        5 (parent 4 missing) - 6
//        \- 7
TEST(BlockGraphTest, LinksChildrenFindsOrphansAndDepths) {
  BlockGraph g;
  g.AddModel(kModel);
  g.AddBlock(kModel, H(1), Node(0));
  g.AddBlock(kModel, H(2), Node(1));
  g.AddBlock(kModel, H(3), Node(2));
  g.AddBlock(kModel, H(7), Node(2));
  g.AddBlock(kModel, H(5), Node(4));
  g.AddBlock(kModel, H(6), Node(5));
  g.Finish();
  EXPECT_EQ(g.block_count(), 6u);
  EXPECT_EQ(g.stored_bytes(), 600u);
  EXPECT_TRUE(g.models().at(kModel).registered);
  const BlockNode* two = g.Find({kModel, H(2)});
  ASSERT_NE(two, nullptr);
  EXPECT_EQ(two->children, (std::vector<BlockHash>{H(3), H(7)}));
  EXPECT_EQ(two->depth, 1u);
  EXPECT_EQ(g.Find({kModel, H(3)})->depth, 2u);
  EXPECT_EQ(g.Find({kModel, H(6)})->depth, 1u);
  EXPECT_EQ(g.Find({kModel, H(4)}), nullptr);
  ASSERT_EQ(g.Orphans().size(), 1u);
  EXPECT_EQ(g.Orphans()[0].hash, H(5));

  BlockSet sub;
  g.AddSubtree({kModel, H(2)}, &sub);
  EXPECT_EQ(sub.size(), 3u);
  EXPECT_TRUE(sub.count({kModel, H(7)}));

  // Deepest first: every block after its descendants.
  BlockSet all;
  for (uint64_t h : {1, 2, 3, 5, 6, 7}) all.insert({kModel, H(h)});
  auto order = g.LeafFirst(all);
  ASSERT_EQ(order.size(), 6u);
  auto pos = [&](uint64_t h) {
    return std::find(order.begin(), order.end(), BlockRef{kModel, H(h)}) - order.begin();
  };
  EXPECT_LT(pos(3), pos(2));
  EXPECT_LT(pos(7), pos(2));
  EXPECT_LT(pos(2), pos(1));
  EXPECT_LT(pos(6), pos(5));
}

// Only corrupt metas can make a parent cycle; gc must not loop on one and
// treats it as unreachable.
TEST(BlockGraphTest, ParentCycleIsOrphanedNotAnInfiniteLoop) {
  BlockGraph g;
  g.AddBlock(kModel, H(1), Node(2));
  g.AddBlock(kModel, H(2), Node(1));
  g.AddBlock(kModel, H(3), Node(2));
  g.Finish();
  EXPECT_EQ(g.Orphans().size(), 3u);
  BlockSet sub;
  g.AddSubtree({kModel, H(1)}, &sub);
  EXPECT_EQ(sub.size(), 3u);
  EXPECT_FALSE(g.models().at(kModel).registered);
}

TEST(BlockGraphTest, LoadsAStoreLikeTheInventory) {
  TempDir dir;
  ModelId model;
  auto chains = testing::BuildStore(dir.path(), 3, 4, &model);
  auto disk = testing::OpenDisk(dir.path());
  ASSERT_OK(disk.status());
  auto g = BlockGraph::Load(disk->get());
  ASSERT_OK(g.status());
  auto inv = InventoryByModel(disk->get());
  ASSERT_OK(inv.status());
  ASSERT_EQ(inv->size(), 1u);
  EXPECT_EQ(g->block_count(), 12u);
  EXPECT_EQ(g->block_count(), (*inv)[0].blocks);
  EXPECT_EQ(g->stored_bytes(), (*inv)[0].stored_bytes);
  EXPECT_TRUE(g->Orphans().empty());
  const auto hashes = testing::ChainHashes(model, chains[1]);
  EXPECT_EQ(g->Find({model, hashes[3]})->depth, 3u);
  EXPECT_EQ(g->Find({model, hashes[1]})->children, std::vector<BlockHash>{hashes[2]});

  // One model only; another id is absent.
  auto only = BlockGraph::Load(disk->get(), ModelId{1, 2});
  ASSERT_OK(only.status());
  EXPECT_EQ(only->block_count(), 0u);
  EXPECT_FALSE(only->Contains(model));
}

}  // namespace
}  // namespace kvstash
