// kvstash ls: what a store holds, one row per model. Works on a live store
// (it opens a read-only view).
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/tokenizer.h"
#include "gc/inventory.h"
#include "store/disk_tier.h"
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
  if (json) PrintJson(nlohmann::json{{"pins", rows}});
  return kExitOk;
}

}  // namespace

void AddLsCommand(CLI::App& app, Action* action) {
  struct Flags {
    std::string store, model;
    std::string tokenizer, model_dir;
    bool json = false, pinned = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("ls", "List the models a store holds KV for");
  cmd->add_option("--store", flags->store, "Store directory (default: $KVSTASH_DIR, ...)");
  cmd->add_option("--model", flags->model, "Only this model id (hex)");
  cmd->add_flag("--pinned", flags->pinned,
                "List pinned prefixes (name, model, tokens, leaf block) instead of models");
  cmd->add_option("--tokenizer", flags->tokenizer,
                  "With --model: decode each chain's first tokens with this tokenizer.json");
  cmd->add_option("--model-dir", flags->model_dir, "With --model: decode with DIR/tokenizer.json");
  cmd->add_flag("--json", flags->json, "Print one JSON document");
  cmd->callback([flags, action] {
    *action = [flags]() -> int {
      std::optional<ModelId> only;
      if (!flags->model.empty()) {
        auto id = Hash128::FromHex(flags->model);
        if (!id.ok()) return Fail("ls", id.status().WithContext("--model"));
        only = *id;
      }
      auto disk = OpenStoreReadOnly(flags->store, "list");
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
        nlohmann::json chains = nlohmann::json::array();
        std::vector<ChainInventory> chain_list;
        std::unique_ptr<Tokenizer> tokenizer;
        if (only) {
          auto listed = ChainsOfModel(disk->get(), m.model);
          if (!listed.ok()) return Fail("ls", listed.status());
          chain_list = std::move(listed).value();
          const std::string tok_path = !flags->tokenizer.empty() ? flags->tokenizer
                                       : !flags->model_dir.empty()
                                           ? flags->model_dir + "/tokenizer.json"
                                           : "";
          if (!tok_path.empty()) {
            auto t = Tokenizer::FromFile(tok_path);
            if (!t.ok()) return Fail("ls", t.status());
            tokenizer = std::move(t).value();
          }
          for (const ChainInventory& c : chain_list) {
            nlohmann::json row = {{"leaf", c.leaf.ToHex()},
                                  {"blocks", c.blocks},
                                  {"tokens", c.tokens},
                                  {"stored_bytes", c.stored_bytes},
                                  {"last_access_ms", c.last_access_ms},
                                  {"complete", c.complete},
                                  {"first_tokens", c.first_tokens}};
            if (tokenizer) row["first_text"] = tokenizer->Decode(c.first_tokens);
            chains.push_back(row);
          }
        }
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
          if (only) rows.back()["chains_detail"] = chains;
          continue;
        }
        std::printf("%-32s  %-40s %7llu %6llu %8llu %10s %10s %5.2fx  %s\n",
                    m.model.ToHex().c_str(), summary.substr(0, 40).c_str(),
                    static_cast<unsigned long long>(m.blocks),
                    static_cast<unsigned long long>(m.chains),
                    static_cast<unsigned long long>(m.tokens), HumanBytes(m.raw_bytes).c_str(),
                    HumanBytes(m.stored_bytes).c_str(), ratio, Age(m.last_access_ms).c_str());
        if (!only) continue;
        std::printf("\n  %-32s %7s %8s %10s %12s  %s\n", "CHAIN END", "BLOCKS", "TOKENS", "STORED",
                    "LAST ACCESS", tokenizer ? "BEGINS WITH" : "FIRST TOKENS");
        for (size_t i = 0; i < chain_list.size(); ++i) {
          const ChainInventory& c = chain_list[i];
          std::string begins;
          if (tokenizer) {
            begins = tokenizer->Decode(c.first_tokens);
            for (char& ch : begins) {
              if (ch == '\n' || ch == '\t' || ch == '\r') ch = ' ';
            }
            begins = "\"" + begins.substr(0, 48) + "\"";
          } else {
            for (size_t k = 0; k < c.first_tokens.size() && k < 8; ++k) {
              begins += (k ? " " : "") + std::to_string(c.first_tokens[k]);
            }
          }
          std::printf("  %-32s %7llu %8llu %10s %12s  %s%s\n", c.leaf.ToHex().c_str(),
                      static_cast<unsigned long long>(c.blocks),
                      static_cast<unsigned long long>(c.tokens), HumanBytes(c.stored_bytes).c_str(),
                      Age(c.last_access_ms).c_str(), begins.c_str(),
                      c.complete ? "" : " (orphaned: a parent is missing)");
        }
      }
      if (flags->json) PrintJson(nlohmann::json{{"models", rows}});
      return kExitOk;
    };
  });
}

}  // namespace kvstash::cli
