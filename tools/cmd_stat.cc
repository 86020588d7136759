// kvstash stat: one summary of a store: what it holds, what RocksDB and the
// directory occupy, and the hit/miss counters every writer persisted. Works on
// a live store (it opens a read-only view).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "gc/disk_usage.h"
#include "gc/inventory.h"
#include "store/disk_tier.h"
#include "tools/commands.h"

namespace kvstash::cli {

namespace {

struct Totals {
  uint64_t models = 0, blocks = 0, chains = 0, tokens = 0;
  uint64_t raw_bytes = 0, stored_bytes = 0, hits = 0, unreadable_metas = 0;
  uint64_t logits_records = 0, logits_bytes = 0;
  double ratio() const {
    return stored_bytes ? static_cast<double>(raw_bytes) / static_cast<double>(stored_bytes) : 0;
  }
};

Totals Sum(const std::vector<ModelInventory>& inventory) {
  Totals t;
  for (const ModelInventory& m : inventory) {
    ++t.models;
    t.blocks += m.blocks;
    t.chains += m.chains;
    t.tokens += m.tokens;
    t.raw_bytes += m.raw_bytes;
    t.stored_bytes += m.stored_bytes;
    t.hits += m.hits;
    t.unreadable_metas += m.unreadable_metas;
  }
  return t;
}

// Share of the tokens asked for that came from the store; 0 if none asked.
double HitRatio(const DiskCounters& c) {
  const double hit =
      static_cast<double>(c.hit_tokens_device + c.hit_tokens_disk + c.hit_tokens_remote);
  const double asked = hit + static_cast<double>(c.miss_tokens);
  return asked > 0 ? hit / asked : 0;
}

nlohmann::json ToJson(const std::string& dir, const Totals& t, const DiskTierSizes& z,
                      const Result<uint64_t>& usage, const Result<DiskCounters>& counters) {
  nlohmann::json j = {
      {"store", dir},
      {"models", t.models},
      {"blocks", t.blocks},
      {"chains", t.chains},
      {"tokens", t.tokens},
      {"raw_bytes", t.raw_bytes},
      {"stored_bytes", t.stored_bytes},
      {"compression_ratio", t.ratio()},
      {"block_hits", t.hits},
      {"unreadable_metas", t.unreadable_metas},
      {"logits_records", t.logits_records},
      {"logits_bytes", t.logits_bytes},
      {"disk_usage_bytes", usage.ok() ? nlohmann::json(*usage) : nlohmann::json()},
      {"rocksdb",
       {{"sst_bytes", z.sst_bytes},
        {"sst_files", z.sst_files},
        {"blob_bytes", z.blob_bytes},
        {"live_blob_bytes", z.live_blob_bytes},
        {"blob_files", z.blob_files},
        {"wal_bytes", z.wal_bytes},
        {"memtable_bytes", z.memtable_bytes},
        {"estimate_live_data_bytes", z.estimate_live_data_bytes}}},
  };
  if (counters.ok()) {
    const DiskCounters& c = *counters;
    j["counters"] = {{"loads", c.loads},
                     {"hit_tokens_device", c.hit_tokens_device},
                     {"hit_tokens_disk", c.hit_tokens_disk},
                     {"hit_tokens_remote", c.hit_tokens_remote},
                     {"miss_tokens", c.miss_tokens},
                     {"hit_token_ratio", HitRatio(c)},
                     {"blocks_inserted", c.blocks_inserted},
                     {"hash_collisions", c.hash_collisions},
                     {"corrupt_blocks", c.corrupt_blocks},
                     {"remote_puts", c.remote_puts},
                     {"remote_put_errors", c.remote_put_errors}};
  } else {
    j["counters"] = nullptr;
    j["counters_error"] = counters.status().ToString();
  }
  return j;
}

void PrintHuman(const std::string& dir, const Totals& t, const DiskTierSizes& z,
                const Result<uint64_t>& usage, const Result<DiskCounters>& counters) {
  auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("store        %s\n", dir.c_str());
  std::printf("models       %llu\n", u(t.models));
  std::printf("blocks       %llu in %llu chains", u(t.blocks), u(t.chains));
  if (t.unreadable_metas) std::printf(" (%llu with unreadable metadata)", u(t.unreadable_metas));
  std::printf("\n");
  std::printf("tokens       %llu\n", u(t.tokens));
  std::printf("raw          %s\n", HumanBytes(t.raw_bytes).c_str());
  std::printf("stored       %s (%.2fx)\n", HumanBytes(t.stored_bytes).c_str(), t.ratio());
  std::printf("logits       %llu records (%s): next-token logits of whole prompts\n",
              u(t.logits_records), HumanBytes(t.logits_bytes).c_str());
  std::printf("on disk      %s\n",
              usage.ok() ? HumanBytes(*usage).c_str() : usage.status().ToString().c_str());
  std::printf("rocksdb      sst %s in %llu files; blobs %s in %llu files (%s live)\n",
              HumanBytes(z.sst_bytes).c_str(), u(z.sst_files), HumanBytes(z.blob_bytes).c_str(),
              u(z.blob_files), HumanBytes(z.live_blob_bytes).c_str());
  std::printf("             wal %s; memtables %s; live data estimate %s\n",
              HumanBytes(z.wal_bytes).c_str(), HumanBytes(z.memtable_bytes).c_str(),
              HumanBytes(z.estimate_live_data_bytes).c_str());
  if (!counters.ok()) {
    std::printf("counters     unreadable: %s\n", counters.status().ToString().c_str());
    return;
  }
  const DiskCounters& c = *counters;
  std::printf(
      "loads        %llu; hit tokens %llu (device %llu, disk %llu, remote %llu), missed %llu "
      "(%.1f%% hit)\n",
      u(c.loads), u(c.hit_tokens_device + c.hit_tokens_disk + c.hit_tokens_remote),
      u(c.hit_tokens_device), u(c.hit_tokens_disk), u(c.hit_tokens_remote), u(c.miss_tokens),
      100 * HitRatio(c));
  std::printf("inserted     %llu blocks; %llu hash collisions; %llu corrupt blocks dropped\n",
              u(c.blocks_inserted), u(c.hash_collisions), u(c.corrupt_blocks));
  if (c.remote_puts + c.remote_put_errors > 0) {
    std::printf("peer puts    %llu blocks sent, %llu failed\n", u(c.remote_puts),
                u(c.remote_put_errors));
  }
}

}  // namespace

void AddStatCommand(CLI::App& app, Action* action) {
  struct Flags {
    std::string store;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("stat", "Summarize a store: contents, sizes, hit counters");
  cmd->add_option("--store", flags->store, "Store directory (default: $KVSTASH_DIR, ...)");
  cmd->add_flag("--json", flags->json, "Print one JSON document");
  cmd->callback([flags, action] {
    *action = [flags]() -> int {
      auto disk = OpenStoreReadOnly(flags->store, "summarize");
      if (!disk.ok()) return Fail("stat", disk.status());
      auto inventory = InventoryByModel(disk->get());
      if (!inventory.ok()) return Fail("stat", inventory.status());
      Totals totals = Sum(*inventory);
      Status listed =
          (*disk)->ForEachLogits(std::nullopt, [&](const LogitsKey&, std::string_view record) {
            ++totals.logits_records;
            totals.logits_bytes += record.size();
            return true;
          });
      if (!listed.ok()) return Fail("stat", listed);
      const DiskTierSizes sizes = (*disk)->Sizes();
      const Result<uint64_t> usage = DiskUsageBytes((*disk)->path());
      const Result<DiskCounters> counters = (*disk)->GetCounters();
      if (flags->json) {
        PrintJson(ToJson((*disk)->path(), totals, sizes, usage, counters));
      } else {
        PrintHuman((*disk)->path(), totals, sizes, usage, counters);
      }
      // Everything readable was shown; an unreadable counters record still fails.
      if (!counters.ok()) return Fail("stat", counters.status());
      return kExitOk;
    };
  });
}

}  // namespace kvstash::cli
