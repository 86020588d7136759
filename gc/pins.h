// Pinned prefixes as gc sees them: the blocks no prune, background pass or
// repair (unless corrupt) may delete. Pins are written by Store::Pin and
// `kvstash run --pin`, removed by Store::Unpin and `kvstash unpin`.
#ifndef KVSTASH_GC_PINS_H_
#define KVSTASH_GC_PINS_H_

#include "gc/block_graph.h"
#include "serde/status.h"
#include "store/disk_tier.h"

namespace kvstash {

// The leaf block of every pin in `disk`. Pass it to PlanPrune as the exempt
// set: PlanPrune keeps each leaf's ancestors too. A pin record that does not
// decode is an error (gc must not guess what it protected).
Result<BlockSet> PinnedBlocks(DiskTier* disk);

// `leaves` and all of their ancestors present in `graph`.
BlockSet WithAncestors(const BlockGraph& graph, const BlockSet& leaves);

}  // namespace kvstash

#endif  // KVSTASH_GC_PINS_H_
