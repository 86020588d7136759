#include "gc/prune.h"

#include <algorithm>
#include <queue>
#include <tuple>
#include <unordered_map>

#include "store/clock.h"

namespace kvstash {

const char* PruneReasonName(PruneReason reason) {
  switch (reason) {
    case PruneReason::kOrphan:
      return "orphan";
    case PruneReason::kUnreachable:
      return "unreachable";
    case PruneReason::kCorrupt:
      return "corrupt";
    case PruneReason::kModel:
      return "model";
    case PruneReason::kAge:
      return "age";
    case PruneReason::kBudget:
      return "budget";
  }
  return "unknown";
}

namespace {

// Exempt blocks and everything they need: their ancestors.
BlockSet Protected(const BlockGraph& graph, const BlockSet& exempt) {
  BlockSet out;
  for (const BlockRef& e : exempt) {
    BlockRef r = e;
    for (const BlockNode* node = graph.Find(r); node && out.insert(r).second;
         node = graph.Find(r)) {
      if (!node->parent_known || node->parent.IsZero()) break;
      r.hash = node->parent;
    }
  }
  return out;
}

// Selection in progress: reason per block, first reason wins.
class Selection {
 public:
  Selection(const BlockGraph& graph, const BlockSet& protect) : graph_(graph), protect_(protect) {}

  bool Has(const BlockRef& r) const { return reasons_.count(r) != 0; }
  bool Protected(const BlockRef& r) const { return protect_.count(r) != 0; }

  // Selects `r`; false (and counts it) if protected.
  bool Add(const BlockRef& r, PruneReason reason) {
    if (Protected(r)) {
      exempt_.insert(r);
      return false;
    }
    reasons_.try_emplace(r, reason);
    return true;
  }

  // `top` with `top_reason`, its descendants with `below`.
  void AddSubtree(const BlockRef& top, PruneReason top_reason, PruneReason below) {
    BlockSet subtree;
    graph_.AddSubtree(top, &subtree);
    for (const BlockRef& r : subtree) Add(r, r == top ? top_reason : below);
  }

  BlockSet Blocks() const {
    BlockSet out;
    for (const auto& [r, reason] : reasons_) out.insert(r);
    return out;
  }
  PruneReason ReasonOf(const BlockRef& r) const { return reasons_.at(r); }
  uint64_t exempt_count() const { return exempt_.size(); }

 private:
  const BlockGraph& graph_;
  const BlockSet& protect_;
  std::unordered_map<BlockRef, PruneReason, BlockRefHasher> reasons_;
  BlockSet exempt_;
};

// Whole subtrees whose every block was last accessed before `cutoff_ms`.
void SelectOld(const BlockGraph& graph, const ModelId& model, const ModelBlocks& mb,
               uint64_t cutoff_ms, Selection* sel) {
  std::vector<std::pair<uint32_t, BlockHash>> by_depth;
  by_depth.reserve(mb.blocks.size());
  for (const auto& [h, node] : mb.blocks) by_depth.push_back({node.depth, h});
  std::sort(by_depth.begin(), by_depth.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::unordered_map<BlockHash, bool, Hash128Hasher> old;  // absent: not (yet) known old
  for (const auto& [depth, h] : by_depth) {
    const BlockNode& node = mb.blocks.at(h);
    bool o = node.last_access_ms < cutoff_ms && !sel->Protected({model, h});
    for (const BlockHash& c : node.children) {
      auto it = old.find(c);
      o = o && it != old.end() && it->second;
    }
    old[h] = o;
  }
  for (const auto& [h, o] : old) {
    if (o) sel->Add({model, h}, PruneReason::kAge);
  }
}

// Least recently used leaves first, until the kept bytes fit `max_bytes`.
// Returns the picks in order; `*kept_bytes` is what remains in scope.
std::vector<BlockRef> SelectForBudget(const BlockGraph& graph, const std::optional<ModelId>& scope,
                                      uint64_t max_bytes, Selection* sel, uint64_t* kept_bytes) {
  using Key = std::tuple<uint64_t, uint64_t, ModelId, BlockHash>;  // access, created, ref
  std::priority_queue<Key, std::vector<Key>, std::greater<Key>> leaves;
  std::unordered_map<BlockRef, size_t, BlockRefHasher> kept_children;
  uint64_t kept = 0;
  for (const auto& [model, mb] : graph.models()) {
    if (scope && model != *scope) continue;
    for (const auto& [h, node] : mb.blocks) {
      const BlockRef r{model, h};
      if (sel->Has(r)) continue;
      kept += node.stored_bytes;
      size_t n = 0;
      for (const BlockHash& c : node.children) n += !sel->Has({model, c});
      kept_children[r] = n;
      if (n == 0 && !sel->Protected(r)) {
        leaves.push({node.last_access_ms, node.created_ms, model, h});
      }
    }
  }
  std::vector<BlockRef> picks;
  while (kept > max_bytes && !leaves.empty()) {
    const auto [access, created, model, h] = leaves.top();
    leaves.pop();
    const BlockRef r{model, h};
    const BlockNode* node = graph.Find(r);
    sel->Add(r, PruneReason::kBudget);
    picks.push_back(r);
    kept -= node->stored_bytes;
    if (!node->parent_known || node->parent.IsZero()) continue;
    const BlockRef p{model, node->parent};
    auto it = kept_children.find(p);
    if (it == kept_children.end() || --it->second != 0 || sel->Protected(p)) continue;
    const BlockNode* parent = graph.Find(p);
    leaves.push({parent->last_access_ms, parent->created_ms, model, p.hash});
  }
  *kept_bytes = kept;
  return picks;
}

}  // namespace

Result<PrunePlan> PlanPrune(const BlockGraph& graph, const PruneCriteria& criteria,
                            const BlockSet& exempt) {
  if (!criteria.Any()) {
    return Status::InvalidArgument(
        "nothing to prune: give a byte budget, an age, a model or orphans");
  }
  if (criteria.model && !graph.Contains(*criteria.model)) {
    return Status::NotFound("model " + criteria.model->ToHex() + " is not in the store");
  }
  const auto in_scope = [&](const ModelId& m) { return !criteria.model || m == *criteria.model; };
  const BlockSet protect = Protected(graph, exempt);
  Selection sel(graph, protect);
  PrunePlan plan;
  for (const auto& [model, mb] : graph.models()) {
    if (!in_scope(model)) continue;
    plan.scope_blocks += mb.blocks.size();
    for (const auto& [h, node] : mb.blocks) plan.scope_bytes += node.stored_bytes;
  }

  if (criteria.orphans) {
    for (const BlockRef& r : graph.Orphans()) {
      if (in_scope(r.model)) sel.AddSubtree(r, PruneReason::kOrphan, PruneReason::kUnreachable);
    }
  }
  const bool model_alone =
      criteria.model && !criteria.max_bytes && !criteria.older_than && !criteria.orphans;
  if (model_alone) {
    const ModelBlocks& mb = graph.models().at(*criteria.model);
    bool all = true;
    for (const auto& [h, node] : mb.blocks) {
      all &= sel.Add({*criteria.model, h}, PruneReason::kModel);
    }
    if (all) plan.unregister.push_back(*criteria.model);
  }
  if (criteria.older_than) {
    const uint64_t now = criteria.now_ms ? criteria.now_ms : NowMs();
    const uint64_t age = static_cast<uint64_t>(std::max<int64_t>(0, criteria.older_than->count()));
    const uint64_t cutoff = now > age ? now - age : 0;
    for (const auto& [model, mb] : graph.models()) {
      if (in_scope(model)) SelectOld(graph, model, mb, cutoff, &sel);
    }
  }
  // Everything so far is closed under "descendants go too"; children first.
  for (const BlockRef& r : graph.LeafFirst(sel.Blocks())) {
    const BlockNode* node = graph.Find(r);
    plan.blocks.push_back(
        {r, node->parent, node->stored_bytes, node->last_access_ms, sel.ReasonOf(r)});
  }
  if (criteria.max_bytes) {
    uint64_t kept = 0;
    for (const BlockRef& r :
         SelectForBudget(graph, criteria.model, *criteria.max_bytes, &sel, &kept)) {
      const BlockNode* node = graph.Find(r);
      plan.blocks.push_back(
          {r, node->parent, node->stored_bytes, node->last_access_ms, PruneReason::kBudget});
    }
    plan.budget_met = kept <= *criteria.max_bytes;
  }
  for (const PlannedDelete& d : plan.blocks) plan.stored_bytes += d.stored_bytes;
  plan.exempt_blocks = sel.exempt_count();
  return plan;
}

Result<ApplyResult> ApplyPlan(DiskTier* disk, const PrunePlan& plan, const ApplyOptions& options) {
  ApplyResult result;
  BlockSet gone;  // deleted (or being deleted) in this run, or found absent
  std::unordered_set<ModelId, Hash128Hasher> models_with_skips;
  std::vector<DiskBlockDelete> batch;
  uint64_t batch_bytes = 0, done = 0;
  const size_t batch_limit = std::max<size_t>(1, options.batch_blocks);

  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::OK();
    if (options.cancel && options.cancel->load()) {
      return Status::Aborted("prune stopped after deleting " +
                             std::to_string(result.blocks_deleted) + " blocks");
    }
    KVSTASH_RETURN_IF_ERROR(disk->DeleteBlocks(batch));
    result.blocks_deleted += batch.size();
    result.stored_bytes_deleted += batch_bytes;
    batch.clear();
    batch_bytes = 0;
    if (options.progress) options.progress(done, plan.blocks.size());
    return Status::OK();
  };

  for (const PlannedDelete& d : plan.blocks) {
    ++done;
    if (options.revalidate) {
      auto meta = disk->GetMeta(d.ref.model, d.ref.hash);
      if (meta.status().IsNotFound()) {
        gone.insert(d.ref);
        ++result.blocks_gone;
        continue;
      }
      if (!meta.ok() && !meta.status().IsCorruption()) return meta.status();
      bool keep = meta.ok() && meta->last_access_ms != d.last_access_ms;
      if (!keep) {
        KVSTASH_ASSIGN_OR_RETURN(auto children, disk->Children(d.ref.model, d.ref.hash));
        for (const ChildLink& c : children) {
          // A link to a block without a meta (left by a damaged block) is no child.
          keep = keep || (!gone.count({d.ref.model, c.hash}) &&
                          !disk->GetMeta(d.ref.model, c.hash).status().IsNotFound());
        }
      }
      if (keep) {
        ++result.blocks_skipped;
        models_with_skips.insert(d.ref.model);
        continue;
      }
    }
    gone.insert(d.ref);
    batch.push_back({d.ref.model, d.ref.hash, d.parent, {}});
    batch_bytes += d.stored_bytes;
    if (batch.size() >= batch_limit) KVSTASH_RETURN_IF_ERROR(flush());
  }
  KVSTASH_RETURN_IF_ERROR(flush());
  if (options.progress && plan.blocks.empty()) options.progress(0, 0);

  for (const ModelId& model : plan.unregister) {
    if (models_with_skips.count(model)) continue;
    bool empty = true;
    KVSTASH_RETURN_IF_ERROR(
        disk->ForEachMeta(model, [&](const ModelId&, const BlockHash&, const Result<BlockMeta>&) {
          empty = false;
          return false;
        }));
    if (!empty) continue;
    KVSTASH_RETURN_IF_ERROR(disk->DeleteModel(model));
    result.unregistered.push_back(model);
  }
  if (options.compact && (result.blocks_deleted > 0 || !result.unregistered.empty())) {
    KVSTASH_RETURN_IF_ERROR(disk->Compact());
    result.compacted = true;
  }
  return result;
}

}  // namespace kvstash
