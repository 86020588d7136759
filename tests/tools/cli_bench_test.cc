// `kvstash bench ttft`: the JSON has every field, and every warm path really
// reused the whole prompt. Correctness only: timings are never checked.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tests/tools/cli_test_util.h"

namespace kvstash {
namespace {

using testing::RunKvstash;

TEST(CliBenchTest, TtftJsonHasEveryPathAndWarmPathsReuseThePrompt) {
  auto r = RunKvstash({"bench", "ttft", "--preset", "tiny", "--prompt-tokens", "96", "--repeat",
                       "1", "--threads", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.Json();
  ASSERT_TRUE(j.contains("results")) << r.out;
  const auto& results = j["results"];
  std::set<std::string> paths;
  for (const auto& row : results) {
    for (const char* key :
         {"path", "prompt_tokens", "ttft_ms_median", "ttft_ms_min", "ttft_ms_max", "prefill_ms",
          "load_ms", "reused_tokens", "computed_tokens", "kv_bytes_loaded", "speedup"}) {
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
      EXPECT_EQ(row["computed_tokens"], 1) << path;  // the last token, for its logits
      EXPECT_GT(row["kv_bytes_loaded"].get<uint64_t>(), 0u) << path;
    }
    EXPECT_GT(row["speedup"].get<double>(), 0) << path;
  }
  EXPECT_EQ(paths, (std::set<std::string>{"cold", "device", "disk", "disk-cold-cache", "remote"}));
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
}

}  // namespace
}  // namespace kvstash
