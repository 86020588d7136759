// kvstash prune: deletes blocks by byte budget, age, model or orphanhood,
// never leaving a kept block without its parent, and compacts so the space
// is freed on disk. --dry-run works on a live store (read-only view); a real
// prune needs the store to itself.
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "gc/block_graph.h"
#include "gc/disk_usage.h"
#include "gc/pins.h"
#include "gc/prune.h"
#include "gc/units.h"
#include "store/disk_tier.h"
#include "tools/commands.h"

namespace kvstash::cli {

namespace {

struct Flags {
  std::string store, max_bytes, older_than, model;
  bool orphans = false, dry_run = false, json = false;
};

Result<std::unique_ptr<DiskTier>> OpenForPrune(const std::string& flag) {
  DiskTierOptions options;
  options.path = ResolveStoreDir(flag);
  if (options.path.empty()) return Status::InvalidArgument("--store none has nothing to prune");
  if (!std::filesystem::exists(options.path + "/CURRENT")) {
    return Status::NotFound("no kvstash store at " + options.path);
  }
  auto disk = DiskTier::Open(options);
  if (disk.status().IsBusy()) {
    return Status::Busy("the store at " + options.path +
                        " is in use by another process; stop that process and run prune again "
                        "(--dry-run shows what would go without stopping it)");
  }
  return disk;
}

int Usage(const Status& s) {
  std::fprintf(stderr, "kvstash prune: %s\n", s.message().c_str());
  return kExitUsage;
}

struct ModelTotals {
  uint64_t blocks = 0, bytes = 0;
};

int Prune(const Flags& f) {
  PruneCriteria criteria;
  if (!f.max_bytes.empty()) {
    auto v = ParseByteSize(f.max_bytes);
    if (!v.ok()) return Usage(v.status().WithContext("--max-bytes"));
    criteria.max_bytes = *v;
  }
  if (!f.older_than.empty()) {
    auto v = ParseDuration(f.older_than);
    if (!v.ok()) return Usage(v.status().WithContext("--older-than"));
    criteria.older_than = *v;
  }
  if (!f.model.empty()) {
    auto v = Hash128::FromHex(f.model);
    if (!v.ok()) return Usage(v.status().WithContext("--model"));
    criteria.model = *v;
  }
  criteria.orphans = f.orphans;
  if (!criteria.Any()) {
    return Usage(Status::InvalidArgument(
        "give at least one of --max-bytes, --older-than, --model, --orphans"));
  }

  // Measured before opening: a read-write open preallocates a new WAL file.
  const auto before = DiskUsageBytes(ResolveStoreDir(f.store));
  // --dry-run works on a live store: a read-only view (the graph may read the
  // blob of a block whose meta is unreadable).
  auto disk = f.dry_run ? OpenStoreReadOnly(f.store, "prune") : OpenForPrune(f.store);
  if (!disk.ok()) return Fail("prune", disk.status());
  const std::string path = (*disk)->path();
  auto graph = BlockGraph::Load(disk->get(), criteria.model);
  if (!graph.ok()) return Fail("prune", graph.status());
  auto pinned = PinnedBlocks(disk->get());
  if (!pinned.ok()) return Fail("prune", pinned.status());
  auto plan = PlanPrune(*graph, criteria, *pinned);
  const uint64_t pinned_blocks = WithAncestors(*graph, *pinned).size();
  if (!plan.ok()) return Fail("prune", plan.status());

  std::map<ModelId, ModelTotals> by_model;
  uint64_t by_reason[kNumPruneReasons] = {};
  for (const PlannedDelete& d : plan->blocks) {
    ModelTotals& t = by_model[d.ref.model];
    ++t.blocks;
    t.bytes += d.stored_bytes;
    ++by_reason[static_cast<int>(d.reason)];
  }
  std::string reasons;
  nlohmann::json reasons_json = nlohmann::json::object();
  for (int i = 0; i < kNumPruneReasons; ++i) {
    if (!by_reason[i]) continue;
    const char* name = PruneReasonName(static_cast<PruneReason>(i));
    reasons_json[name] = by_reason[i];
    reasons += (reasons.empty() ? ": " : ", ") + std::to_string(by_reason[i]) + " " + name;
  }

  ApplyResult applied;
  if (!f.dry_run) {
    auto result = ApplyPlan(disk->get(), *plan);
    if (!result.ok()) return Fail("prune", result.status());
    applied = std::move(result).value();
  }
  disk->reset();  // closing lets RocksDB remove the files compaction obsoleted
  const auto after = DiskUsageBytes(path);
  const uint64_t b = before.ok() ? *before : 0, a = after.ok() ? *after : 0;
  std::unordered_set<ModelId, Hash128Hasher> unregistered(applied.unregistered.begin(),
                                                          applied.unregistered.end());
  const uint64_t blocks = f.dry_run ? plan->blocks.size() : applied.blocks_deleted;
  const uint64_t bytes = f.dry_run ? plan->stored_bytes : applied.stored_bytes_deleted;

  if (f.json) {
    nlohmann::json models = nlohmann::json::array();
    for (const auto& [model, t] : by_model) {
      models.push_back({{"model_id", model.ToHex()},
                        {"blocks", t.blocks},
                        {"stored_bytes", t.bytes},
                        {"unregistered", unregistered.count(model) != 0}});
    }
    nlohmann::json out = {{"store", path},
                          {"dry_run", f.dry_run},
                          {"blocks", blocks},
                          {"stored_bytes", bytes},
                          {"reasons", reasons_json},
                          {"models", models},
                          {"kept_blocks", plan->scope_blocks - plan->blocks.size()},
                          {"kept_bytes", plan->kept_bytes()},
                          {"budget_met", plan->budget_met},
                          {"pinned_blocks", pinned_blocks},
                          {"skipped", applied.blocks_skipped},
                          {"disk_bytes_before", b}};
    if (!f.dry_run) {
      out["disk_bytes_after"] = a;
      out["freed_bytes"] = b > a ? b - a : 0;
    }
    PrintJson(out);
    return kExitOk;
  }
  std::printf("%s %llu blocks (%s stored)%s\n", f.dry_run ? "would delete" : "deleted",
              static_cast<unsigned long long>(blocks), HumanBytes(bytes).c_str(), reasons.c_str());
  for (const auto& [model, t] : by_model) {
    std::printf("  %s  %llu blocks  %s%s\n", model.ToHex().c_str(),
                static_cast<unsigned long long>(t.blocks), HumanBytes(t.bytes).c_str(),
                unregistered.count(model) ? "  (unregistered)" : "");
  }
  std::printf("kept %llu blocks (%s stored)\n",
              static_cast<unsigned long long>(plan->scope_blocks - plan->blocks.size()),
              HumanBytes(plan->kept_bytes()).c_str());
  if (pinned_blocks > 0) {
    std::printf(
        "kept %llu blocks of pinned prefixes, whatever the criteria (kvstash ls --pinned)\n",
        static_cast<unsigned long long>(pinned_blocks));
  }
  if (f.dry_run) {
    std::printf("disk: %s (nothing changed: --dry-run)\n", HumanBytes(b).c_str());
  } else {
    std::printf("disk: %s -> %s, freed %s\n", HumanBytes(b).c_str(), HumanBytes(a).c_str(),
                HumanBytes(b > a ? b - a : 0).c_str());
  }
  return kExitOk;
}

}  // namespace

void AddPruneCommand(CLI::App& app, Action* action) {
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "prune", "Delete blocks by size budget, age, model or orphanhood, and reclaim the space");
  cmd->add_option("--store", flags->store, "Store directory (default: $KVSTASH_DIR, ...)");
  cmd->add_option("--max-bytes", flags->max_bytes,
                  "Keep at most SIZE of blocks (500M, 1.5G, 2GiB, bytes); least recently used "
                  "chain ends go first");
  cmd->add_option(
      "--older-than", flags->older_than,
      "Delete blocks not accessed for DURATION (30s, 10m, 2h, 7d), whole subtrees only");
  cmd->add_option("--model", flags->model,
                  "Only this model id (hex); alone: all of its blocks and its registry entry");
  cmd->add_flag("--orphans", flags->orphans, "Delete blocks whose parent is missing");
  cmd->add_flag("--dry-run", flags->dry_run, "Show what would go; change nothing");
  cmd->add_flag("--json", flags->json, "Print one JSON document");
  cmd->callback([flags, action] { *action = [flags] { return Prune(*flags); }; });
}

}  // namespace kvstash::cli
