// Pruning: which blocks go (PlanPrune, a pure function of a BlockGraph) and
// deleting them (ApplyPlan). `kvstash prune`, `kvstash verify --repair` and
// the BackgroundCollector share this code.
//
// The one rule every plan keeps: a kept block never loses its parent. Every
// criterion selects whole subtrees (a block goes only with all of its
// descendants), and a plan lists children before parents, so deleting it in
// order, in any number of batches, never leaves an unreachable block behind,
// even if it stops half-way.
//
// Thread-safety: PlanPrune is a pure function. ApplyPlan may run while a
// Store writes to the same disk tier (see ApplyOptions::revalidate).
#ifndef KVSTASH_GC_PRUNE_H_
#define KVSTASH_GC_PRUNE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "gc/block_graph.h"
#include "serde/status.h"
#include "store/disk_tier.h"

namespace kvstash {

// What to delete. Criteria combine: the plan is the union of what each
// selects, within the scope set by `model`.
struct PruneCriteria {
  // Keep at most this many bytes (BlockMeta::stored_bytes, summed over the
  // blocks in scope): least recently used blocks go first, and only blocks
  // no kept block continues are candidates, so whole chains are evicted from
  // their ends. Default: none.
  std::optional<uint64_t> max_bytes;
  // Delete blocks not accessed for this long, but only where every
  // descendant is that old too (old subtrees, evicted from their leaves).
  // Default: none.
  std::optional<std::chrono::milliseconds> older_than;
  // Only this model's blocks. Alone (no other criterion): all of the model's
  // blocks and its registry entry. Default: every model.
  std::optional<ModelId> model;
  // Blocks whose parent is missing, and everything below them. Default: false.
  bool orphans = false;
  // "Now" for older_than, in unix milliseconds. Default 0: the system clock.
  uint64_t now_ms = 0;

  bool Any() const { return max_bytes || older_than || model || orphans; }
};

// Why a block is in a plan.
enum class PruneReason : uint8_t {
  kOrphan,       // its parent is missing
  kUnreachable,  // below an orphan or a corrupt block
  kCorrupt,      // failed verification (Repair)
  kModel,        // --model alone
  kAge,          // older_than
  kBudget,       // max_bytes
};
inline constexpr int kNumPruneReasons = 6;
// "orphan", "unreachable", "corrupt", "model", "age", "budget".
const char* PruneReasonName(PruneReason reason);

struct PlannedDelete {
  BlockRef ref;
  BlockHash parent;  // names the child link
  uint64_t stored_bytes = 0;
  uint64_t last_access_ms = 0;  // as planned; ApplyPlan skips a block accessed since
  PruneReason reason = PruneReason::kOrphan;
};

struct PrunePlan {
  std::vector<PlannedDelete> blocks;  // every block after all of its descendants
  std::vector<ModelId> unregister;    // registry entries to remove (--model alone)
  uint64_t stored_bytes = 0;          // sum over `blocks`
  uint64_t scope_blocks = 0;          // blocks in scope before
  uint64_t scope_bytes = 0;           // stored bytes in scope before
  // False if max_bytes cannot be met because exempt blocks (and their
  // ancestors) alone exceed it.
  bool budget_met = true;
  // Blocks a criterion selected but the exempt set protected.
  uint64_t exempt_blocks = 0;

  uint64_t kept_bytes() const { return scope_bytes - stored_bytes; }
};

// Plans a prune of `graph`. Blocks in `exempt` and all of their ancestors are
// never planned (pinned prefixes); an exempt block's model keeps its registry
// entry. InvalidArgument if no criterion is set; NotFound if `model` is
// neither registered nor holds blocks.
Result<PrunePlan> PlanPrune(const BlockGraph& graph, const PruneCriteria& criteria,
                            const BlockSet& exempt = {});

struct ApplyOptions {
  // Blocks per atomic delete batch. Default: 256.
  size_t batch_blocks = 256;
  // Before deleting a block, re-read its meta and children and skip it if it
  // was accessed since the plan was made (last_access_ms changed) or has a
  // child that is not being deleted (written since). Skipping a block skips
  // its ancestors too. Needed on a live store. Default: true.
  bool revalidate = true;
  // Compact afterwards (DiskTier::Compact) so the space is reclaimed on disk
  // now, not at some later compaction. Default: true.
  bool compact = true;
  // Called after each batch with (blocks done, blocks planned). Default: none.
  std::function<void(uint64_t, uint64_t)> progress;
  // When it points at true, ApplyPlan stops before its next batch and
  // returns Aborted (what was deleted stays deleted). Default: none.
  const std::atomic<bool>* cancel = nullptr;
};

struct ApplyResult {
  uint64_t blocks_deleted = 0;
  uint64_t stored_bytes_deleted = 0;
  uint64_t blocks_skipped = 0;  // revalidation kept them
  uint64_t blocks_gone = 0;     // already deleted by someone else
  std::vector<ModelId> unregistered;
  bool compacted = false;
};

// Deletes `plan` from `disk` in order, in atomic batches, then compacts.
// A model in plan.unregister is unregistered only if no block of it remains.
// On an error, returns it; what was deleted before stays deleted (and still
// leaves no orphan). REQUIRES: `disk` opened read-write.
Result<ApplyResult> ApplyPlan(DiskTier* disk, const PrunePlan& plan,
                              const ApplyOptions& options = {});

}  // namespace kvstash

#endif  // KVSTASH_GC_PRUNE_H_
