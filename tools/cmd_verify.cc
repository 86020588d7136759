// kvstash verify: reads every block of a store and checks it (checksum,
// header against key and meta, parent present). Without --repair it works on
// a live store through a read-only view; --repair needs the store to itself.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "gc/disk_usage.h"
#include "gc/verify.h"
#include "store/disk_tier.h"
#include "tools/commands.h"

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

Result<std::unique_ptr<DiskTier>> OpenForRepair(const std::string& flag) {
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
  return disk;
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
};

int Verify(const Flags& f) {
  // Measured before opening: a read-write open preallocates a new WAL file.
  const auto before = DiskUsageBytes(ResolveStoreDir(f.store));
  auto disk = f.repair ? OpenForRepair(f.store) : OpenStoreReadOnly(f.store, "verify");
  if (!disk.ok()) return Fail("verify", disk.status());
  const std::string path = (*disk)->path();

  ProgressBar bar(isatty(STDERR_FILENO));
  VerifyOptions options;
  options.progress = [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); };
  auto report = VerifyStore(disk->get(), options);
  bar.Clear();
  if (!report.ok()) return Fail("verify", report.status());

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
  out["repaired"] = f.repair && !report->clean();
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
  cmd->callback([flags, action] { *action = [flags] { return Verify(*flags); }; });
}

}  // namespace kvstash::cli
