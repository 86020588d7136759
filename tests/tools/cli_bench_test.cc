// `kvstash bench ttft|naive|store`: the JSON has every field, and every warm
// path really reused the whole prompt. Correctness only: timings are never
// checked.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "tests/test_util.h"
#include "tests/tools/cli_test_util.h"

namespace kvstash {
namespace {

using testing::RunKvstash;
using testing::TempDir;

TEST(CliBenchTest, TtftJsonHasEveryPathAndWarmPathsReuseThePrompt) {
  auto r = RunKvstash({"bench", "ttft", "--preset", "tiny", "--prompt-tokens", "96", "--repeat",
                       "1", "--threads", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.Json();
  ASSERT_TRUE(j.contains("results")) << r.out;
  const auto& results = j["results"];
  std::set<std::string> paths;
  for (const auto& row : results) {
    for (const char* key : {"path", "prompt_tokens", "ttft_ms_median", "ttft_ms_min", "ttft_ms_max",
                            "prefill_ms", "load_ms", "open_ms", "reused_tokens", "computed_tokens",
                            "kv_bytes_loaded", "logits_from_store", "speedup"}) {
      EXPECT_TRUE(row.contains(key)) << key << " in " << row.dump();
    }
    const std::string path = row["path"];
    paths.insert(path);
    EXPECT_EQ(row["prompt_tokens"], 96);
    EXPECT_LE(row["ttft_ms_min"].get<double>(), row["ttft_ms_median"].get<double>());
    EXPECT_LE(row["ttft_ms_median"].get<double>(), row["ttft_ms_max"].get<double>());
    if (path == "cold") {
      EXPECT_EQ(row["reused_tokens"], 0);
      EXPECT_EQ(row["computed_tokens"], 96);
      EXPECT_EQ(row["kv_bytes_loaded"], 0);
    } else {
      EXPECT_EQ(row["reused_tokens"], 96) << path;
      EXPECT_GT(row["kv_bytes_loaded"].get<uint64_t>(), 0u) << path;
      // disk-kv-only ignores the stored logits: the last token runs through
      // the model again for its logits. Every other path (the peer's too)
      // takes them from the store.
      const bool kv_only = path == "disk-kv-only";
      EXPECT_EQ(row["computed_tokens"], kv_only ? 1 : 0) << path;
      EXPECT_EQ(row["logits_from_store"], !kv_only) << path;
    }
    EXPECT_GT(row["speedup"].get<double>(), 0) << path;
    // Only the disk paths open a store per request, and say how long it took.
    EXPECT_EQ(row["open_ms"].get<double>() > 0, path.rfind("disk", 0) == 0) << path;
  }
  EXPECT_EQ(paths, (std::set<std::string>{"cold", "device", "disk", "disk-cold-cache",
                                          "disk-kv-only", "disk-read-only", "remote"}));
  // The floor next to the loads: the same KV read from one plain file.
  ASSERT_EQ(j["limits"].size(), 1u) << r.out;
  const auto& limit = j["limits"][0];
  EXPECT_EQ(limit["prompt_tokens"], 96);
  // The tiny f32 preset: 4 layers x 2 (K, V) x 2 KV heads x 16 head_dim x 4 bytes per token.
  EXPECT_EQ(limit["raw_bytes"], 96 * 4 * 2 * 2 * 16 * 4);
  EXPECT_GT(limit["file_read_ms"].get<double>(), 0);
  EXPECT_GT(limit["file_read_cold_ms"].get<double>(), 0);
}

// `kvstash bench workloads` on the tiny preset: every workload ran next to
// its cold baseline, and each warm request reused exactly what it should.
TEST(CliBenchTest, WorkloadsReuseWhatEachWorkloadShares) {
  auto r = RunKvstash({"bench",
                       "workloads",
                       "--preset",
                       "tiny",
                       "--doc-tokens",
                       "128",
                       "--question-tokens",
                       "8",
                       "--turns",
                       "3",
                       "--first-turn-tokens",
                       "40",
                       "--user-turn-tokens",
                       "10",
                       "--answer-tokens",
                       "5",
                       "--system-tokens",
                       "70",
                       "--users",
                       "4",
                       "--miss-tokens",
                       "50",
                       "--repeat",
                       "2",
                       "--threads",
                       "2",
                       "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.Json();
  EXPECT_TRUE(j.contains("compute_dtype")) << r.out;
  std::map<std::string, nlohmann::json> rows;
  for (const auto& row : j["results"]) {
    for (const char* key :
         {"workload", "step", "requests", "prompt_tokens", "reused_tokens", "computed_tokens",
          "cold_ttft_ms", "warm_ttft_ms", "load_ms", "model_ms", "load_share", "speedup"}) {
      EXPECT_TRUE(row.contains(key)) << key << " in " << row.dump();
    }
    EXPECT_GT(row["cold_ttft_ms"].get<double>(), 0) << row.dump();
    EXPECT_GT(row["warm_ttft_ms"].get<double>(), 0) << row.dump();
    rows[row["workload"].get<std::string>() + "/" + row["step"].get<std::string>()] = row;
  }
  ASSERT_EQ(rows.size(), 7u) << r.out;

  // The document's KV is loaded, only the question is computed.
  const auto& doc = rows.at("doc-question/question");
  EXPECT_EQ(doc["requests"], 2);
  EXPECT_EQ(doc["prompt_tokens"], 136);
  EXPECT_EQ(doc["reused_tokens"], 128);
  EXPECT_EQ(doc["computed_tokens"], 8);

  // Turn 1 is new; turn t reuses turn t-1's prompt and all of its answer but
  // the last token (whose K/V no forward pass computed).
  EXPECT_EQ(rows.at("chat/turn 1")["reused_tokens"], 0);
  EXPECT_EQ(rows.at("chat/turn 2")["prompt_tokens"], 40 + 5 + 10);
  EXPECT_EQ(rows.at("chat/turn 2")["reused_tokens"], 40 + 5 - 1);
  EXPECT_EQ(rows.at("chat/turn 3")["prompt_tokens"], 55 + 5 + 10);
  EXPECT_EQ(rows.at("chat/turn 3")["reused_tokens"], 55 + 5 - 1);

  // The first user stores the system prompt; the other three reuse it.
  EXPECT_EQ(rows.at("system-prompt/first user")["reused_tokens"], 0);
  EXPECT_TRUE(rows.at("system-prompt/first user").contains("store_overhead"));
  EXPECT_EQ(rows.at("system-prompt/other users")["requests"], 3);
  EXPECT_EQ(rows.at("system-prompt/other users")["reused_tokens"], 70);
  EXPECT_EQ(rows.at("system-prompt/other users")["computed_tokens"], 8);

  // A miss reuses nothing and says what the store cost.
  const auto& miss = rows.at("miss/new prompt");
  EXPECT_EQ(miss["reused_tokens"], 0);
  EXPECT_EQ(miss["computed_tokens"], 50);
  EXPECT_TRUE(miss.contains("store_overhead"));
}

TEST(CliBenchTest, WorkloadsRejectsAnUnknownWorkload) {
  auto r = RunKvstash({"bench", "workloads", "--preset", "tiny", "--workloads", "chat,nope"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown workload 'nope'"), std::string::npos) << r.err;
}

TEST(CliBenchTest, NaiveComparesTorchSaveWithTheStore) {
  auto r = RunKvstash({"bench", "naive", "--preset", "tiny", "--prompt-tokens", "96", "--repeat",
                       "1", "--threads", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.Json();
  ASSERT_EQ(j.size(), 2u) << r.out;
  EXPECT_EQ(j[0]["method"], "torch::save");
  EXPECT_EQ(j[1]["method"], "kvstash");
  for (const auto& row : j) {
    EXPECT_GT(row["file_bytes"].get<uint64_t>(), 0u);
    for (const char* key : {"save_ms", "load_ms", "load_cold_ms", "naive_over_this_load"}) {
      EXPECT_TRUE(row.contains(key)) << key;
    }
  }
}

TEST(CliBenchTest, RejectsBadPromptTokens) {
  auto r = RunKvstash({"bench", "ttft", "--preset", "tiny", "--prompt-tokens", "abc"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--prompt-tokens"), std::string::npos) << r.err;
  r = RunKvstash({"bench", "naive", "--preset", "tiny", "--prompt-tokens", "1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(">= 2"), std::string::npos) << r.err;
}

// `kvstash bench store` on the KV of a real forward pass: every case ran
// (each checked its output byte for byte inside the bench), the sizes are
// those of the prompt's KV, and every measured case names its limit.
TEST(CliBenchTest, StoreMeasuresEveryCodecAndTheDiskTierAgainstLimits) {
  const TempDir dir;
  auto r = RunKvstash({"bench", "store", "--preset", "tiny", "--dtype", "bf16", "--prompt-tokens",
                       "150", "--levels", "1,3", "--rounds", "1", "--threads", "2", "--dir",
                       dir.path(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.Json();
  EXPECT_EQ(j["dtype"], "bf16");
  EXPECT_EQ(j["prompt_tokens"], 150);
  EXPECT_EQ(j["block_tokens"], 64);
  EXPECT_EQ(j["blocks"], 3);  // 64 + 64 + 22 tokens
  // The tiny preset: 4 layers x 2 (K, V) x 2 KV heads x 16 head_dim x 2 bytes per token.
  const uint64_t raw_bytes = j["raw_bytes"];
  EXPECT_EQ(raw_bytes, 150u * 4 * 2 * 2 * 16 * 2);
  std::set<std::string> names;
  for (const auto& row : j["results"]) {
    const std::string name = row["name"];
    names.insert(name);
    for (const char* key : {"group", "gbps", "gbps_min", "gbps_max", "bytes"}) {
      EXPECT_TRUE(row.contains(key)) << key << " in " << row.dump();
    }
    EXPECT_GT(row["gbps"].get<double>(), 0) << name;
    EXPECT_LE(row["gbps_min"].get<double>(), row["gbps"].get<double>()) << name;
    const std::string group = row["group"];
    if (group == "limit") {
      EXPECT_FALSE(row.contains("limit")) << name;
      continue;
    }
    for (const char* key : {"limit", "limit_gbps", "fraction"}) {
      EXPECT_TRUE(row.contains(key)) << key << " in " << row.dump();
    }
    EXPECT_NEAR(row["fraction"].get<double>(),
                row["gbps"].get<double>() / row["limit_gbps"].get<double>(), 1e-9);
    // The limit is a case measured in this run: its own row, same GB/s.
    bool limit_measured = false;
    for (const auto& other : j["results"]) {
      if (other["name"] == row["limit"] && other["group"] == "limit") {
        limit_measured = other["gbps"] == row["limit_gbps"];
      }
    }
    EXPECT_TRUE(limit_measured) << name << " names limit " << row["limit"];
    if (group == "codec" && row.contains("codec")) {
      EXPECT_EQ(row["bytes"], raw_bytes) << name;
      EXPECT_GT(row["ratio"].get<double>(), 0.9) << name;
    }
  }
  for (const char* name : {"memcpy",
                           "xxh3-64",
                           "zstd L1 compress",
                           "zstd L1 decompress",
                           "zstd L3 decompress",
                           "none encode",
                           "none decode",
                           "zstd L1 encode",
                           "zstd L3 decode",
                           "zstd-planes L1 encode",
                           "zstd-planes L1 decode",
                           "zstd-planes L3 decode",
                           "blob checksum verify",
                           "file write+fsync",
                           "DiskTier put+sync",
                           "file read (warm)",
                           "DiskTier get (warm)",
                           "file read (cold cache)",
                           "DiskTier get (cold cache)",
                           "DiskTier get + decode into KV cache (warm)"}) {
    EXPECT_EQ(names.count(name), 1u) << name;
  }
  // The bench's files are gone; --dir itself stays.
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

// `kvstash bench scale` at two small sizes: every figure is there, the
// requests really hit (a stored prompt matches and loads whole), verify
// checked every block, the prune deleted about a tenth, and the fresh
// process loaded its prompts.
TEST(CliBenchTest, ScaleJsonHasEveryFigureAtEverySize) {
  auto r = RunKvstash({"bench", "scale", "--blocks", "200,400", "--samples", "5",
                       "--device-max-blocks", "400", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.Json();
  ASSERT_EQ(j["disk"].size(), 2u) << r.out;
  ASSERT_EQ(j["device"].size(), 2u) << r.out;
  EXPECT_EQ(j["block_bytes"], 2 * 2 * 2 * 16 * 16 * 2);  // default shape, bf16
  uint64_t previous = 0;
  for (const auto& d : j["disk"]) {
    const uint64_t blocks = d["blocks"];
    EXPECT_GE(blocks, previous) << d.dump();
    previous = blocks;
    for (const char* k : {"match_stored", "match_new", "insert", "load"}) {
      EXPECT_EQ(d["requests"][k]["n"], 5) << k;
      EXPECT_GT(d["requests"][k]["median_us"].get<double>(), 0) << k;
      EXPECT_LE(d["requests"][k]["median_us"].get<double>(),
                d["requests"][k]["p90_us"].get<double>())
          << k;
    }
    EXPECT_GT(d["open_ms"]["read_write"].get<double>(), 0);
    EXPECT_GT(d["open_ms"]["read_only"].get<double>(), 0);
    // 20 stored prompts of two 16-token blocks each, loaded whole.
    EXPECT_EQ(d["fresh_process"]["loaded_tokens"], 20 * 32) << d["fresh_process"].dump();
    // Opening and loading stay within RocksDB's 64 MiB read cache (and some
    // slack), however the index grows.
    EXPECT_GT(d["fresh_process"]["rss_start_kb"].get<uint64_t>(), 0u);
    EXPECT_LT(d["fresh_process"]["rss_peak_kb"].get<uint64_t>() -
                  d["fresh_process"]["rss_start_kb"].get<uint64_t>(),
              128u << 10)
        << d["fresh_process"].dump();
    EXPECT_GT(d["stat"]["ms"].get<double>(), 0);
    EXPECT_GT(d["ls_model"]["ms"].get<double>(), 0);
    EXPECT_EQ(d["verify"]["blocks"], blocks) << d["verify"].dump();
    EXPECT_GT(d["verify"]["vs_file_read"].get<double>(), 0);
    const uint64_t pruned = d["prune_10pct"]["blocks"];
    EXPECT_GE(pruned, blocks / 20) << d["prune_10pct"].dump();
    EXPECT_LE(pruned, blocks / 5) << d["prune_10pct"].dump();
  }
  for (const auto& d : j["device"]) {
    for (const char* k : {"match_stored", "match_new", "insert", "load"}) {
      EXPECT_EQ(d[k]["n"], 5) << k;
    }
  }
  // Bad sizes are refused before anything is written.
  auto bad = RunKvstash({"bench", "scale", "--blocks", "1e3,abc"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--blocks: 'abc'"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace kvstash
