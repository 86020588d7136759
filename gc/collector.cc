#include "gc/collector.h"

#include <chrono>
#include <cstdio>
#include <utility>

#include "gc/pins.h"

namespace kvstash {

Result<std::unique_ptr<BackgroundCollector>> BackgroundCollector::Start(
    DiskTier* disk, const CollectorOptions& options) {
  if (!disk) return Status::InvalidArgument("collector: no disk tier");
  if (disk->read_only()) return Status::NotSupported("collector: store opened read-only");
  if (options.interval.count() <= 0) {
    return Status::InvalidArgument("collector: interval must be positive");
  }
  if (options.disk_budget_bytes == 0 && options.max_idle.count() <= 0) {
    return Status::InvalidArgument("collector: set a disk budget or an idle limit");
  }
  std::unique_ptr<BackgroundCollector> c(new BackgroundCollector(disk, options));
  c->thread_ = std::thread([raw = c.get()] { raw->Loop(); });
  return c;
}

BackgroundCollector::BackgroundCollector(DiskTier* disk, const CollectorOptions& options)
    : disk_(disk), options_(options) {}

BackgroundCollector::~BackgroundCollector() { Stop(); }

void BackgroundCollector::Stop() {
  MutexLock stop_lock(&stop_mu_);
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

Result<ApplyResult> BackgroundCollector::RunOnce() {
  MutexLock pass(&pass_mu_);
  if (stop_) return Status::Aborted("collector stopped");
  Result<ApplyResult> result = [&]() -> Result<ApplyResult> {
    KVSTASH_ASSIGN_OR_RETURN(BlockGraph graph, BlockGraph::Load(disk_));
    PruneCriteria criteria;
    if (options_.disk_budget_bytes > 0) criteria.max_bytes = options_.disk_budget_bytes;
    if (options_.max_idle.count() > 0) criteria.older_than = options_.max_idle;
    // Pins are read at every pass, so one made or removed meanwhile counts.
    KVSTASH_ASSIGN_OR_RETURN(BlockSet exempt, PinnedBlocks(disk_));
    if (options_.exempt) {
      for (const BlockRef& r : options_.exempt()) exempt.insert(r);
    }
    KVSTASH_ASSIGN_OR_RETURN(PrunePlan plan, PlanPrune(graph, criteria, exempt));
    if (plan.blocks.empty()) return ApplyResult();
    ApplyOptions apply;
    apply.revalidate = true;  // the store keeps using and extending chains meanwhile
    apply.compact = options_.compact;
    apply.cancel = &stop_;
    return ApplyPlan(disk_, plan, apply);
  }();
  MutexLock lock(&mu_);
  ++stats_.passes;
  if (result.ok()) {
    stats_.blocks_deleted += result->blocks_deleted;
    stats_.stored_bytes_deleted += result->stored_bytes_deleted;
  } else if (!result.status().IsAborted() || !stop_) {
    ++stats_.errors;
    stats_.last_error = result.status();
  }
  return result;
}

void BackgroundCollector::Loop() {
  while (!stop_) {
    auto result = RunOnce();
    if (!result.ok() && !stop_) {
      std::fprintf(stderr, "kvstash: warning: background gc: %s\n",
                   result.status().ToString().c_str());
    }
    MutexLock lock(&mu_);
    const auto deadline = std::chrono::steady_clock::now() + options_.interval;
    for (auto now = std::chrono::steady_clock::now(); !stop_ && now < deadline;
         now = std::chrono::steady_clock::now()) {
      wake_.WaitFor(&mu_, deadline - now);
    }
  }
}

CollectorStats BackgroundCollector::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

}  // namespace kvstash
