// BackgroundCollector: holds a live store's disk tier to a byte budget and
// an idle limit, from a thread of its own, with the planner behind
// `kvstash prune` (PlanPrune + ApplyPlan with revalidation).
//
//   CollectorOptions options;
//   options.disk_budget_bytes = 20ull << 30;
//   options.max_idle = std::chrono::hours(24 * 7);
//   KVSTASH_ASSIGN_OR_RETURN(auto collector, BackgroundCollector::Start(store->disk(), options));
//
// Each pass loads the block graph, plans (budget: least recently used chain
// ends first; idle: whole subtrees idle that long) and deletes children
// before parents, skipping any block used or extended since the plan was
// made. Blocks stay in the Store's device tier, which is a cache of its own.
//
// Pinned prefixes (gc/pins.h) are never deleted. A pin made while a pass is
// deleting may lose blocks that pass already planned: pin, then check with
// `kvstash ls --pinned`, or pin right after inserting (fresh access times).
//
// Known race: the Store writes access times back in batches (read meta, then
// write meta). If such a write-back reads a block's meta just before a pass
// deletes the block, it writes the meta back: a meta without its blob, which
// costs only a miss and which `kvstash verify --repair` removes.
//
// Thread-safety: all methods may be called concurrently. Passes never
// overlap: RunOnce() waits for a background pass and the other way round.
#ifndef KVSTASH_GC_COLLECTOR_H_
#define KVSTASH_GC_COLLECTOR_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "gc/block_graph.h"
#include "gc/prune.h"
#include "serde/mutex.h"
#include "serde/status.h"
#include "store/disk_tier.h"

namespace kvstash {

struct CollectorOptions {
  // Keep the blocks' stored bytes (BlockMeta::stored_bytes summed over the
  // whole store) at or under this. 0: no budget. Default: 0.
  uint64_t disk_budget_bytes = 0;
  // Delete blocks not accessed for this long, where their whole subtree is
  // that idle. 0: no limit. Default: 0.
  std::chrono::milliseconds max_idle{0};
  // Time from the end of one pass to the start of the next. The first pass
  // starts at once. Default: 60 s.
  std::chrono::milliseconds interval{std::chrono::seconds(60)};
  // Compact after a pass that deleted something, so the space is reclaimed
  // now. Default: true.
  bool compact = true;
  // Blocks never to delete (with their ancestors), asked for at each pass,
  // in addition to the store's pins (PinnedBlocks), which every pass reads
  // itself. Default: none.
  std::function<BlockSet()> exempt;
};

struct CollectorStats {
  uint64_t passes = 0;  // finished, with or without an error
  uint64_t blocks_deleted = 0;
  uint64_t stored_bytes_deleted = 0;
  uint64_t errors = 0;
  Status last_error;  // OK if no pass failed
};

class BackgroundCollector {
 public:
  // Starts the thread. InvalidArgument for a null disk, a zero interval or
  // neither a budget nor an idle limit; NotSupported for a read-only disk.
  // REQUIRES: `disk` outlives the collector (stop it before closing a Store).
  static Result<std::unique_ptr<BackgroundCollector>> Start(DiskTier* disk,
                                                            const CollectorOptions& options);
  // Stops (see Stop()).
  ~BackgroundCollector();
  BackgroundCollector(const BackgroundCollector&) = delete;
  BackgroundCollector& operator=(const BackgroundCollector&) = delete;

  // Ends the thread: a pass in progress stops at its next delete batch (a
  // compaction already running finishes first). Idempotent.
  void Stop();

  // Runs one pass now on the calling thread. Aborted after Stop().
  Result<ApplyResult> RunOnce();

  CollectorStats stats() const;

 private:
  BackgroundCollector(DiskTier* disk, const CollectorOptions& options);
  void Loop();

  DiskTier* const disk_;
  const CollectorOptions options_;
  std::atomic<bool> stop_{false};

  Mutex pass_mu_;  // held for a whole pass

  mutable Mutex mu_;  // guards stats_, wakes the thread
  CondVar wake_;
  CollectorStats stats_ KVSTASH_GUARDED_BY(mu_);

  Mutex stop_mu_;  // serializes Stop() callers
  std::thread thread_;
};

}  // namespace kvstash

#endif  // KVSTASH_GC_COLLECTOR_H_
