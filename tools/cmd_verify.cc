// kvstash verify: reads every block of a store and checks it (checksum,
// header against key and meta, parent present). Without --repair it works on
// a live store through a read-only view; --repair needs the store to itself,
// and salvages a store RocksDB cannot open (gc/salvage.h). --recompute also
// runs the model on a sample of stored prompts (tools/verify_recompute.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "gc/disk_usage.h"
#include "gc/salvage.h"
#include "gc/verify.h"
#include "store/disk_tier.h"
#include "tools/commands.h"
#include "tools/model_flags.h"
#include "tools/verify_recompute.h"

namespace kvstash::cli {

namespace {

constexpr size_t kMaxProblemLines = 50;

// A one-line progress bar on stderr, redrawn at most ten times a second.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  ~ProgressBar() { Clear(); }

  void Update(uint64_t done, uint64_t total) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (done != total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    constexpr int kWidth = 30;
    const int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\rverifying [%s] %llu/%llu blocks", bar.c_str(),
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
    std::fflush(stderr);
    drawn_ = true;
  }
  void Clear() {
    if (!drawn_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }

 private:
  const bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// Opens the store for --repair; a store RocksDB cannot open is salvaged
// (sets `*salvaged` and fills `*salvage`).
Result<std::unique_ptr<DiskTier>> OpenForRepair(const std::string& flag, bool* salvaged,
                                                SalvageReport* salvage) {
  DiskTierOptions options;
  options.path = ResolveStoreDir(flag);
  if (options.path.empty()) return Status::InvalidArgument("--store none has nothing to verify");
  if (!std::filesystem::exists(options.path + "/CURRENT")) {
    return Status::NotFound("no kvstash store at " + options.path);
  }
  auto disk = DiskTier::Open(options);
  if (disk.status().IsBusy()) {
    return Status::Busy("the store at " + options.path +
                        " is in use by another process; stop that process and run "
                        "verify --repair again (verify without --repair works on a live store)");
  }
  if (!disk.ok() && IsSalvageable(disk.status())) {
    // RocksDB cannot open it: build a new store from its blob files
    // (gc/salvage.h), then verify and repair that.
    std::fprintf(stderr, "kvstash verify: the store does not open (%s); salvaging its blocks\n",
                 disk.status().ToString().c_str());
    *salvaged = true;
    return SalvageStore(options, salvage);
  }
  return disk;
}

nlohmann::json SalvageJson(const SalvageReport& r) {
  return {{"damaged_path", r.damaged_path}, {"files", r.files},
          {"records", r.records},           {"blocks", r.blocks},
          {"stored_bytes", r.stored_bytes}, {"bad_records", r.bad_records},
          {"duplicates", r.duplicates}};
}

std::string SalvageSummary(const SalvageReport& r) {
  return "salvaged " + std::to_string(r.blocks) + " blocks (" + HumanBytes(r.stored_bytes) +
         ") from " + std::to_string(r.files) + " files into a new store (" +
         std::to_string(r.bad_records) +
         " damaged blobs skipped); models are registered again by their next run; the "
         "damaged store is kept at " +
         r.damaged_path + " (delete it when done)";
}

nlohmann::json ProblemJson(const BlockProblem& p) {
  return {{"kind", ProblemKindName(p.kind)}, {"model_id", p.ref.model.ToHex()},
          {"hash", p.ref.hash.ToHex()},      {"parent", p.parent.ToHex()},
          {"stored_bytes", p.stored_bytes},  {"detail", p.detail}};
}

std::string Summary(const VerifyReport& r) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "%llu blocks (%s) in %llu model%s: %llu corrupt, %llu orphaned, %llu unreachable "
                "below them, %llu dangling links; %llu logits records (%s), %llu bad",
                static_cast<unsigned long long>(r.blocks), HumanBytes(r.stored_bytes).c_str(),
                static_cast<unsigned long long>(r.models), r.models == 1 ? "" : "s",
                static_cast<unsigned long long>(r.corrupt),
                static_cast<unsigned long long>(r.orphans),
                static_cast<unsigned long long>(r.unreachable),
                static_cast<unsigned long long>(r.dangling_links),
                static_cast<unsigned long long>(r.logits_records),
                HumanBytes(r.logits_bytes).c_str(), static_cast<unsigned long long>(r.bad_logits));
  return buf;
}

struct Flags {
  std::string store;
  bool repair = false, json = false;
  // --recompute
  bool recompute = false;
  std::string model;
  size_t sample = 8;
  double tolerance = 0;
  ModelFlags model_flags;
};

// A difference or tolerance for people: three significant digits.
std::string ThreeDigits(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g", v);
  return buf;
}

// Recomputes a sample of the model's stored chains (tools/verify_recompute.h)
// and adds the blocks whose K/V differ to `report` as corrupt, so that
// --repair deletes them and what was computed on top of them.
Result<nlohmann::json> Recompute(DiskTier* disk, const LlamaModel& model, const Flags& f,
                                 VerifyReport* report) {
  KVSTASH_ASSIGN_OR_RETURN(ModelId id, FindStoredModel(disk, model));
  RecomputeOptions options;
  options.sample_chains = f.sample;
  options.tolerance = f.tolerance;
  KVSTASH_ASSIGN_OR_RETURN(RecomputeReport r, RecomputeStoredChains(disk, model, id, options));
  const std::string tolerance = ThreeDigits(r.tolerance);
  nlohmann::json wrong = nlohmann::json::array();
  for (const RecomputedBlock& b : r.wrong) {
    BlockProblem p;
    p.kind = BlockProblem::Kind::kCorrupt;
    p.ref = BlockRef{id, b.hash};
    p.parent = b.parent;
    p.stored_bytes = b.stored_bytes;
    p.detail = "K/V differ from the model's by " + ThreeDigits(b.difference) + " (tolerance " +
               tolerance + ") at positions " + std::to_string(b.first_position) + ".." +
               std::to_string(b.first_position + b.tokens);
    report->problems.push_back(p);
    ++report->corrupt;
    wrong.push_back({{"hash", b.hash.ToHex()},
                     {"first_position", b.first_position},
                     {"tokens", b.tokens},
                     {"difference", b.difference}});
  }
  return nlohmann::json{
      {"model_id", id.ToHex()},
      {"stored_chains", r.stored_chains},
      {"chains", r.chains},
      {"blocks", r.blocks},
      {"tokens", r.tokens},
      {"tolerance", r.tolerance},
      {"largest_difference_within", r.largest_difference},
      {"unreadable", r.unreadable},
      {"wrong", wrong},
      {"seconds", r.seconds},
      {"summary", "recomputed " + std::to_string(r.chains) + " of " +
                      std::to_string(r.stored_chains) + " chains (" + std::to_string(r.blocks) +
                      " blocks, " + std::to_string(r.tokens) +
                      " tokens): " + std::to_string(r.wrong.size()) +
                      " differ (largest difference within tolerance " +
                      ThreeDigits(r.largest_difference) + ", tolerance " + tolerance + ")"}};
}

int Verify(const Flags& f) {
  // The model first: a bad --model fails before a long read of the store.
  std::unique_ptr<LlamaModel> model;
  if (f.recompute) {
    if (f.model.empty())
      return Fail("verify", Status::InvalidArgument("--recompute needs --model DIR"));
    auto load = LoadOptionsFromFlags(f.model_flags);
    if (!load.ok()) return Fail("verify", load.status());
    auto loaded = LlamaModel::Load(f.model, *load);
    if (!loaded.ok()) return Fail("verify", loaded.status());
    model = std::move(loaded).value();
  }
  // Measured before opening: a read-write open preallocates a new WAL file.
  const auto before = DiskUsageBytes(ResolveStoreDir(f.store));
  bool salvaged = false;
  SalvageReport salvage;
  auto disk =
      f.repair ? OpenForRepair(f.store, &salvaged, &salvage) : OpenStoreReadOnly(f.store, "verify");
  if (!disk.ok()) return Fail("verify", disk.status());
  const std::string path = (*disk)->path();

  ProgressBar bar(isatty(STDERR_FILENO));
  VerifyOptions options;
  options.progress = [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); };
  auto report = VerifyStore(disk->get(), options);
  bar.Clear();
  if (!report.ok()) return Fail("verify", report.status());
  nlohmann::json recomputed;
  if (model) {
    auto r = Recompute(disk->get(), *model, f, &*report);
    if (!r.ok()) return Fail("verify", r.status().WithContext("--recompute"));
    recomputed = std::move(r).value();
  }

  nlohmann::json out = {{"store", path},
                        {"models", report->models},
                        {"blocks", report->blocks},
                        {"stored_bytes", report->stored_bytes},
                        {"corrupt", report->corrupt},
                        {"orphans", report->orphans},
                        {"unreachable", report->unreachable},
                        {"dangling_links", report->dangling_links},
                        {"logits_records", report->logits_records},
                        {"logits_bytes", report->logits_bytes},
                        {"bad_logits", report->bad_logits},
                        {"clean", report->clean()}};
  nlohmann::json problems = nlohmann::json::array();
  for (const BlockProblem& p : report->problems) problems.push_back(ProblemJson(p));
  out["problems"] = problems;
  if (model) out["recompute"] = recomputed;
  if (salvaged) out["salvage"] = SalvageJson(salvage);
  if (!f.json) {
    for (size_t i = 0; i < report->problems.size() && i < kMaxProblemLines; ++i) {
      const BlockProblem& p = report->problems[i];
      std::printf("%-13s %s %s  %s\n", ProblemKindName(p.kind), p.ref.model.ToHex().c_str(),
                  p.ref.hash.ToHex().c_str(), p.detail.c_str());
    }
    if (report->problems.size() > kMaxProblemLines) {
      std::printf("... and %zu more problems (--json lists them all)\n",
                  report->problems.size() - kMaxProblemLines);
    }
  }
  std::string summary = "verify: " + Summary(*report);
  if (model) summary += "; " + recomputed["summary"].get<std::string>();
  if (salvaged) summary = "verify: " + SalvageSummary(salvage) + "\n" + summary;

  bool clean = report->clean();
  if (f.repair && !clean) {
    auto repaired = Repair(disk->get(), *report);
    if (!repaired.ok()) return Fail("verify", repaired.status().WithContext("repair"));
    disk->reset();  // closing lets RocksDB remove the files compaction obsoleted
    const auto after = DiskUsageBytes(path);
    const uint64_t b = before.ok() ? *before : 0, a = after.ok() ? *after : 0;
    const ApplyResult& applied = repaired->applied;
    out["repair"] = {{"blocks_deleted", applied.blocks_deleted},
                     {"unreachable_deleted", repaired->unreachable},
                     {"stored_bytes_deleted", applied.stored_bytes_deleted},
                     {"links_deleted", repaired->links_deleted},
                     {"logits_deleted", repaired->logits_deleted},
                     {"disk_bytes_before", b},
                     {"disk_bytes_after", a},
                     {"freed_bytes", b > a ? b - a : 0}};
    summary += "; repaired: deleted " + std::to_string(applied.blocks_deleted) + " blocks (" +
               HumanBytes(applied.stored_bytes_deleted) + ") and " +
               std::to_string(repaired->links_deleted) + " links and " +
               std::to_string(repaired->logits_deleted) + " logits records, disk " + HumanBytes(b) +
               " -> " + HumanBytes(a);
    clean = true;
  }
  out["repaired"] = f.repair && (!report->clean() || salvaged);
  if (f.json) {
    PrintJson(out);
    std::fprintf(stderr, "%s\n", summary.c_str());
  } else {
    std::printf("%s\n", summary.c_str());
  }
  return clean ? kExitOk : kExitFailure;
}

}  // namespace

void AddVerifyCommand(CLI::App& app, Action* action) {
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "verify",
      "Check every stored block (checksum, header, parent) and logits record; --repair deletes "
      "bad ones");
  cmd->add_option("--store", flags->store, "Store directory (default: $KVSTASH_DIR, ...)");
  cmd->add_flag("--repair", flags->repair,
                "Delete corrupt and orphaned blocks and what hangs below them, keeping pinned "
                "blocks that are not corrupt themselves (needs the store to itself)");
  cmd->add_flag("--json", flags->json, "Print one JSON document");
  cmd->add_flag("--recompute", flags->recompute,
                "Also run the model (--model) on a sample of stored prompts and compare the K/V "
                "it computes with what is stored: finds K/V that is well-formed but wrong "
                "(poisoned, or from a model that computes differently)");
  cmd->add_option("--model", flags->model, "Model directory for --recompute");
  cmd->add_option("--sample", flags->sample,
                  "Stored prompts (chains of blocks) to recompute; 0: all")
      ->capture_default_str();
  cmd->add_option("--tolerance", flags->tolerance,
                  "Largest relative difference of a block's K/V (default: 1e-3 for f32 compute, "
                  "5e-2 for bf16)")
      ->check(CLI::PositiveNumber);
  AddModelFlags(cmd, &flags->model_flags);
  cmd->callback([flags, action] { *action = [flags] { return Verify(*flags); }; });
}

}  // namespace kvstash::cli
