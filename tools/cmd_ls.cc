// kvstash ls: what a store holds, one row per model. Works on a live store
// (it opens a read-only view).
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "store/disk_tier.h"
#include "store/inventory.h"
#include "tools/commands.h"

namespace kvstash::cli {

namespace {

std::string Age(uint64_t unix_ms) {
  if (unix_ms == 0) return "-";
  const double s = std::difftime(std::time(nullptr), static_cast<std::time_t>(unix_ms / 1000));
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof(buf), "%.0fs ago", std::max(0.0, s));
  } else if (s < 7200) {
    std::snprintf(buf, sizeof(buf), "%.0fm ago", s / 60);
  } else if (s < 172800) {
    std::snprintf(buf, sizeof(buf), "%.0fh ago", s / 3600);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0fd ago", s / 86400);
  }
  return buf;
}

// `ls --pinned`: one row per pin. "present" is false when the leaf block is
// gone (e.g. deleted as corrupt by verify --repair).
int ListPinned(DiskTier* disk, const std::optional<ModelId>& only, bool json) {
  auto pins = disk->ListPins();
  if (!pins.ok()) return Fail("ls", pins.status());
  nlohmann::json rows = nlohmann::json::array();
  if (!json) {
    std::printf("%-24s  %-32s  %8s  %-32s\n", "PIN", "MODEL", "TOKENS", "LEAF BLOCK");
  }
  for (const DiskPin& pin : *pins) {
    if (only && pin.model != *only) continue;
    const bool present = disk->GetMeta(pin.model, pin.leaf).ok();
    if (json) {
      rows.push_back({{"name", pin.name},
                      {"model_id", pin.model.ToHex()},
                      {"tokens", pin.tokens},
                      {"leaf_hash", pin.leaf.ToHex()},
                      {"present", present}});
      continue;
    }
    std::printf("%-24s  %-32s  %8llu  %-32s%s\n", pin.name.c_str(), pin.model.ToHex().c_str(),
                static_cast<unsigned long long>(pin.tokens), pin.leaf.ToHex().c_str(),
                present ? "" : "  (missing)");
  }
  if (json) std::printf("%s\n", nlohmann::json{{"pins", rows}}.dump().c_str());
  return kExitOk;
}

}  // namespace

Result<std::unique_ptr<DiskTier>> OpenStoreReadOnly(const std::string& flag) {
  DiskTierOptions options;
  options.path = ResolveStoreDir(flag);
  if (options.path.empty()) return Status::InvalidArgument("--store none has nothing to list");
  options.read_only = true;
  // A fixed view as of now: RocksDB 7.8 secondaries crash reading blob files.
  options.snapshot = true;
  return DiskTier::Open(options);
}

void AddLsCommand(CLI::App& app, Action* action) {
  struct Flags {
    std::string store, model;
    bool json = false, pinned = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("ls", "List the models a store holds KV for");
  cmd->add_option("--store", flags->store, "Store directory (default: $KVSTASH_DIR, ...)");
  cmd->add_option("--model", flags->model, "Only this model id (hex)");
  cmd->add_flag("--pinned", flags->pinned,
                "List pinned prefixes (name, model, tokens, leaf block) instead of models");
  cmd->add_flag("--json", flags->json, "Print one JSON document");
  cmd->callback([flags, action] {
    *action = [flags]() -> int {
      std::optional<ModelId> only;
      if (!flags->model.empty()) {
        auto id = Hash128::FromHex(flags->model);
        if (!id.ok()) return Fail("ls", id.status().WithContext("--model"));
        only = *id;
      }
      auto disk = OpenStoreReadOnly(flags->store);
      if (!disk.ok()) return Fail("ls", disk.status());
      if (flags->pinned) return ListPinned(disk->get(), only, flags->json);
      auto inventory = InventoryByModel(disk->get());
      if (!inventory.ok()) return Fail("ls", inventory.status());
      nlohmann::json rows = nlohmann::json::array();
      if (!flags->json) {
        std::printf("%-32s  %-40s %7s %6s %8s %10s %10s %6s  %s\n", "MODEL", "DESCRIPTION",
                    "BLOCKS", "CHAINS", "TOKENS", "RAW", "STORED", "RATIO", "LAST ACCESS");
      }
      for (const ModelInventory& m : *inventory) {
        if (only && m.model != *only) continue;
        const std::string summary = m.description ? m.description->Summary() : "(unregistered)";
        const double ratio =
            m.stored_bytes ? static_cast<double>(m.raw_bytes) / m.stored_bytes : 0.0;
        if (flags->json) {
          rows.push_back({{"model_id", m.model.ToHex()},
                          {"description", summary},
                          {"blocks", m.blocks},
                          {"chains", m.chains},
                          {"tokens", m.tokens},
                          {"raw_bytes", m.raw_bytes},
                          {"stored_bytes", m.stored_bytes},
                          {"compression_ratio", ratio},
                          {"hits", m.hits},
                          {"created_ms", m.created_ms},
                          {"last_access_ms", m.last_access_ms},
                          {"unreadable_metas", m.unreadable_metas}});
          continue;
        }
        std::printf("%-32s  %-40s %7llu %6llu %8llu %10s %10s %5.2fx  %s\n",
                    m.model.ToHex().c_str(), summary.substr(0, 40).c_str(),
                    static_cast<unsigned long long>(m.blocks),
                    static_cast<unsigned long long>(m.chains),
                    static_cast<unsigned long long>(m.tokens), HumanBytes(m.raw_bytes).c_str(),
                    HumanBytes(m.stored_bytes).c_str(), ratio, Age(m.last_access_ms).c_str());
      }
      if (flags->json) std::printf("%s\n", nlohmann::json{{"models", rows}}.dump().c_str());
      return kExitOk;
    };
  });
}

}  // namespace kvstash::cli
