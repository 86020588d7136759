// `kvstash run --remote redis://...` and `kvstash stat --remote`: two
// processes on separate local stores share KV through a Redis Cluster of the
// test's own (scripts/redis-cluster.sh), and the operator sees what it holds.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/store/redis_cluster_util.h"
#include "tests/test_util.h"
#include "tests/tools/cli_test_util.h"

namespace kvstash {
namespace {

using testing::RedisClusterProcess;
using testing::RunKvstash;
using testing::TempDir;

class CliRedisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto r = RunKvstash({"mkmodel", "--out", dir_->Sub("tiny"), "--preset", "tiny", "--dtype",
                         "f32", "--seed", "5"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::ofstream(dir_->Sub("prompt.txt"))
        << "Many hosts run the same system prompt and the same long documents; a cluster "
           "they share keeps the attention keys and values of those prefixes, so a host that "
           "never saw a prompt still starts from the blocks another host computed.";
  }
  static void TearDownTestSuite() { delete dir_; }

  static testing::CliResult Run(const std::string& store, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"run",
                                     "--model",
                                     dir_->Sub("tiny"),
                                     "--prompt-file",
                                     dir_->Sub("prompt.txt"),
                                     "--max-new-tokens",
                                     "8",
                                     "--logprobs",
                                     "5",
                                     "--json",
                                     "--threads",
                                     "2",
                                     "--block-tokens",
                                     "16"};
    if (store.empty()) {
      args.push_back("--no-store");
    } else {
      args.insert(args.end(), {"--store", store});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return RunKvstash(args);
  }

  static TempDir* dir_;
};

TempDir* CliRedisTest::dir_ = nullptr;

TEST_F(CliRedisTest, TwoProcessesWithSeparateStoresShareACluster) {
  RedisClusterProcess cluster;
  KVSTASH_START_REDIS_CLUSTER(cluster);
  TempDir store_a, store_b;
  auto cold = Run("");
  ASSERT_EQ(cold.exit_code, 0) << cold.err;
  auto a = Run(store_a.path(), {"--remote", cluster.address()});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = Run(store_b.path(), {"--remote", cluster.address()});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto jb = b.Json();
  EXPECT_EQ(jb["reused_from"]["remote"], jb["prompt_tokens"]) << b.err;
  EXPECT_EQ(jb["reused_from"]["disk"], 0);
  EXPECT_EQ(cold.Json()["tokens"], jb["tokens"]);
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_NEAR(cold.Json()["logprobs"][0][k]["logprob"].get<double>(),
                jb["logprobs"][0][k]["logprob"].get<double>(), 1e-4);
  }

  // What the cluster holds: every block of the prompt, spread over the masters.
  auto stat = RunKvstash({"stat", "--remote", cluster.address(), "--json"});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  auto js = stat.Json();
  const int prompt_tokens = jb["prompt_tokens"].get<int>();
  EXPECT_EQ(js["masters"], 3);
  EXPECT_EQ(js["masters_unreachable"], 0);
  // The prompt's blocks (a run may store its generated tokens' blocks too).
  EXPECT_GE(js["blocks"].get<int>(), (prompt_tokens + 15) / 16) << stat.out;
  EXPECT_EQ(js["logits_records"], 1);  // the prompt's next-token logits
  EXPECT_GT(js["block_bytes"].get<int>(), 0);
  EXPECT_EQ(js["models"], 1);
  int nodes_with_blocks = 0;
  for (const auto& node : js["nodes"]) nodes_with_blocks += node["blocks"].get<int>() > 0;
  EXPECT_GE(nodes_with_blocks, 2) << stat.out;
  auto human = RunKvstash({"stat", "--remote", cluster.address()});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("Redis Cluster, 3 masters"), std::string::npos) << human.out;
}

TEST_F(CliRedisTest, ADownClusterIsMissesForRunAndAnErrorForStat) {
  std::string address;
  {
    RedisClusterProcess cluster;
    KVSTASH_START_REDIS_CLUSTER(cluster);
    address = cluster.address();
  }  // stopped: nothing listens there now
  TempDir store;
  auto cold = Run("");
  auto run = Run(store.path(), {"--remote", address});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.Json()["tokens"], cold.Json()["tokens"]);
  EXPECT_NE(run.err.find("misses until it answers"), std::string::npos) << run.err;
  auto stat = RunKvstash({"stat", "--remote", address});
  EXPECT_NE(stat.exit_code, 0);
  EXPECT_NE(stat.err.find("no node answered"), std::string::npos) << stat.err;
  auto bad = RunKvstash({"stat", "--remote", "redis://127.0.0.1:99999"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("bad port"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace kvstash
