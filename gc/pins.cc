#include "gc/pins.h"

namespace kvstash {

Result<BlockSet> PinnedBlocks(DiskTier* disk) {
  if (disk == nullptr) return Status::InvalidArgument("pinned blocks: no disk tier");
  KVSTASH_ASSIGN_OR_RETURN(std::vector<DiskPin> pins, disk->ListPins());
  BlockSet out;
  for (const DiskPin& pin : pins) out.insert({pin.model, pin.leaf});
  return out;
}

BlockSet WithAncestors(const BlockGraph& graph, const BlockSet& leaves) {
  BlockSet out;
  for (const BlockRef& leaf : leaves) {
    BlockRef r = leaf;
    // The size bound stops a parent cycle (only corrupt metas make one).
    for (uint64_t steps = 0; steps <= graph.block_count(); ++steps) {
      const BlockNode* node = graph.Find(r);
      if (node == nullptr || !out.insert(r).second) break;
      if (!node->parent_known || node->parent == kRootBlockHash) break;
      r.hash = node->parent;
    }
  }
  return out;
}

}  // namespace kvstash
