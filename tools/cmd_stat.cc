// kvstash stat: one summary of a store: what it holds, what RocksDB and the
// directory occupy, and the hit/miss counters every writer persisted. Works on
// a live store (it opens a read-only view).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "gc/disk_usage.h"
#include "gc/inventory.h"
#include "store/disk_tier.h"
#include "store/remote/peer_client.h"
#include "store/remote/redis_address.h"
#include "store/remote/redis_cluster_tier.h"
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

// `stat --remote redis://...`: what each master holds for kvstash.
int StatRedis(const RedisClusterOptions& options, bool json) {
  auto tier = RedisClusterTier::Open(options);
  const std::vector<RedisNodeCensus> census = tier->Census();
  if (census.empty()) {
    return Fail("stat", Status::IOError("remote " + DescribeRedisSeeds(options) +
                                        ": no node answered with a slot map"));
  }
  RedisNodeCensus total;
  size_t failed = 0;
  nlohmann::json nodes = nlohmann::json::array();
  for (const RedisNodeCensus& n : census) {
    total.blocks += n.blocks;
    total.block_bytes += n.block_bytes;
    total.logits += n.logits;
    total.logits_bytes += n.logits_bytes;
    total.models += n.models;
    total.used_memory += n.used_memory;
    total.evicted_keys += n.evicted_keys;
    failed += !n.error.empty();
    nodes.push_back({{"node", n.address.ToString()},
                     {"slots", n.slots},
                     {"error", n.error.empty() ? nlohmann::json() : nlohmann::json(n.error)},
                     {"blocks", n.blocks},
                     {"block_bytes", n.block_bytes},
                     {"logits_records", n.logits},
                     {"logits_bytes", n.logits_bytes},
                     {"used_memory_bytes", n.used_memory},
                     {"maxmemory_bytes", n.maxmemory},
                     {"maxmemory_policy", n.maxmemory_policy},
                     {"evicted_keys", n.evicted_keys}});
  }
  if (json) {
    PrintJson(nlohmann::json{{"remote", DescribeRedisSeeds(options)},
                             {"masters", census.size()},
                             {"masters_unreachable", failed},
                             {"blocks", total.blocks},
                             {"block_bytes", total.block_bytes},
                             {"logits_records", total.logits},
                             {"logits_bytes", total.logits_bytes},
                             {"models", total.models},
                             {"used_memory_bytes", total.used_memory},
                             {"evicted_keys", total.evicted_keys},
                             {"nodes", nodes}});
  } else {
    auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    std::printf("remote       %s (Redis Cluster, %zu masters%s)\n",
                DescribeRedisSeeds(options).c_str(), census.size(),
                failed ? (", " + std::to_string(failed) + " not answering").c_str() : "");
    std::printf("blocks       %llu (%s)\n", u(total.blocks), HumanBytes(total.block_bytes).c_str());
    std::printf("logits       %llu records (%s)\n", u(total.logits),
                HumanBytes(total.logits_bytes).c_str());
    std::printf("memory       %s used; %llu keys evicted by Redis\n",
                HumanBytes(total.used_memory).c_str(), u(total.evicted_keys));
    for (const RedisNodeCensus& n : census) {
      if (!n.error.empty()) {
        std::printf("  %-21s %5zu slots  error: %s\n", n.address.ToString().c_str(), n.slots,
                    n.error.c_str());
        continue;
      }
      std::printf("  %-21s %5zu slots  %8llu blocks %10s  used %s of %s (%s), %llu evicted\n",
                  n.address.ToString().c_str(), n.slots, u(n.blocks),
                  HumanBytes(n.block_bytes).c_str(), HumanBytes(n.used_memory).c_str(),
                  n.maxmemory ? HumanBytes(n.maxmemory).c_str() : "no limit",
                  n.maxmemory_policy.c_str(), u(n.evicted_keys));
    }
  }
  // Shown what answered; a master that did not makes the census partial.
  if (failed > 0) {
    return Fail("stat",
                Status::IOError(std::to_string(failed) + " of " + std::to_string(census.size()) +
                                " masters did not answer: the census is partial"));
  }
  return kExitOk;
}

// `stat --remote HOST:PORT`: the peer's own counters.
int StatPeer(const std::string& address, const std::string& token, bool json) {
  auto options = ParsePeerAddress(address);
  if (!options.ok()) return Fail("stat", options.status());
  options->token = token;
  PeerClient peer(*options);
  auto stats = peer.Stats();
  if (!stats.ok()) return Fail("stat", stats.status().WithContext("kvstash serve " + address));
  auto parsed = nlohmann::json::parse(*stats, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Fail("stat", Status::Corruption("kvstash serve " + address + ": stats are not JSON"));
  }
  if (json) {
    PrintJson(nlohmann::json{{"remote", address}, {"server", parsed}});
  } else {
    std::printf("remote       kvstash serve %s\n", address.c_str());
    for (const auto& [key, value] : parsed.items()) {
      std::printf("  %-24s %s\n", key.c_str(), value.dump().c_str());
    }
  }
  return kExitOk;
}

}  // namespace

void AddStatCommand(CLI::App& app, Action* action) {
  struct Flags {
    std::string store, remote, remote_token_file;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "stat", "Summarize a store (contents, sizes, hit counters) or a remote tier");
  cmd->add_option("--store", flags->store, "Store directory (default: $KVSTASH_DIR, ...)");
  cmd->add_option("--remote", flags->remote,
                  "Summarize this remote tier instead: redis://HOST:PORT[,...] (what each master "
                  "holds for kvstash) or HOST:PORT of a `kvstash serve` peer (its counters)");
  cmd->add_option("--remote-token-file", flags->remote_token_file,
                  "File holding the Redis password or the peer's token");
  cmd->add_flag("--json", flags->json, "Print one JSON document");
  cmd->callback([flags, action] {
    *action = [flags]() -> int {
      if (!flags->remote.empty()) {
        auto token = ReadRemoteToken(flags->remote_token_file);
        if (!token.ok()) return Fail("stat", token.status());
        if (!IsRedisAddress(flags->remote)) return StatPeer(flags->remote, *token, flags->json);
        auto options = ParseRedisAddress(flags->remote, *token);
        if (!options.ok()) return Fail("stat", options.status());
        return StatRedis(*options, flags->json);
      }
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
