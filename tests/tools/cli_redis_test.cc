// `kvstash run --remote redis://...` and `kvstash stat --remote`: two
// processes on separate local stores share KV through a Redis Cluster of the
// test's own (scripts/redis-cluster.sh), and the operator sees what it holds.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>

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
    extra.insert(extra.end(), {"--block-tokens", "16"});
    return testing::RunPromptFile(dir_->Sub("tiny"), dir_->Sub("prompt.txt"), store, extra);
  }

  static TempDir* dir_;
};

TempDir* CliRedisTest::dir_ = nullptr;

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool Accepts(int port) {
  const int fd = Connect(port);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

// One HTTP GET on 127.0.0.1:port; the whole response.
std::string HttpGet(int port, const std::string& path) {
  const int fd = Connect(port);
  if (fd < 0) return "";
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
  if (write(fd, request.data(), request.size()) < 0) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// The value of the sample `name{labels}` in Prometheus text, or -1.
double Sample(const std::string& text, const std::string& name_and_labels) {
  const size_t at = text.find("\n" + name_and_labels + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name_and_labels.size() + 2));
}

// `kvstash serve` in a child process; stopped (SIGTERM) and reaped at the end.
class ServeProcess {
 public:
  ServeProcess(const std::string& store, int port, std::vector<std::string> extra) : port_(port) {
    std::vector<std::string> args = {
        KVSTASH_BINARY, "serve", "--store", store, "--listen", "127.0.0.1:" + std::to_string(port)};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(KVSTASH_BINARY, argv.data());
      _exit(127);
    }
    for (int i = 0; i < 100 && !Accepts(port); ++i) usleep(100000);
  }
  ~ServeProcess() { (void)Stop(); }
  // The exit status, after SIGTERM.
  int Stop() {
    if (pid_ <= 0) return status_;
    kill(pid_, SIGTERM);
    waitpid(pid_, &status_, 0);
    pid_ = -1;
    return status_;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_;
  int status_ = -1;
};

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

// Two hosts, each with its own `kvstash serve` in front of its own store and
// the cluster behind both: a process on the second host reuses what the
// first host computed; the second server's metrics show where it came from.
TEST_F(CliRedisTest, ServersOnTwoHostsShareThroughTheClusterAndShowMetrics) {
  RedisClusterProcess cluster;
  KVSTASH_START_REDIS_CLUSTER(cluster);
  TempDir host_a, host_b;
  const int base = 20000 + static_cast<int>((getpid() + 104729) % 19000);
  ServeProcess serve_a(host_a.path(), base, {"--remote", cluster.address()});
  ServeProcess serve_b(host_b.path(), base + 1,
                       {"--remote", cluster.address(), "--metrics", std::to_string(base + 2)});
  auto cold = Run("");
  auto a = Run("none", {"--remote", serve_a.address()});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  // serve A sends what it stored on to the cluster on a queue: wait for it.
  for (int i = 0; i < 100; ++i) {
    auto stat = RunKvstash({"stat", "--remote", cluster.address(), "--json"});
    if (stat.exit_code == 0 &&
        stat.Json()["blocks"].get<int>() >= (a.Json()["prompt_tokens"].get<int>() + 15) / 16) {
      break;
    }
    usleep(100000);
  }
  auto b = Run("none", {"--remote", serve_b.address()});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(b.Json()["reused_from"]["remote"], b.Json()["prompt_tokens"]) << b.err;
  EXPECT_EQ(b.Json()["tokens"], cold.Json()["tokens"]);
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_NEAR(cold.Json()["logprobs"][0][k]["logprob"].get<double>(),
                b.Json()["logprobs"][0][k]["logprob"].get<double>(), 1e-4);
  }

  const std::string scrape = HttpGet(base + 2, "/metrics");
  ASSERT_EQ(scrape.rfind("HTTP/1.1 200 OK", 0), 0u) << scrape;
  const std::string text = scrape.substr(scrape.find("\r\n\r\n") + 3);
  const int blocks = (b.Json()["prompt_tokens"].get<int>() + 15) / 16;
  EXPECT_GE(Sample(text, "kvstash_blocks_served_total{tier=\"upstream\"}"), blocks) << text;
  EXPECT_GE(Sample(text, "kvstash_match_blocks_total{result=\"hit\"}"), blocks) << text;
  EXPECT_EQ(Sample(text, "kvstash_tokens_served_total{tier=\"upstream\"}"),
            b.Json()["prompt_tokens"].get<double>())
      << text;
  EXPECT_GE(Sample(text, "kvstash_get_duration_seconds_count"), blocks) << text;
  EXPECT_EQ(Sample(text, "kvstash_get_duration_seconds_bucket{le=\"+Inf\"}"),
            Sample(text, "kvstash_get_duration_seconds_count"));
  EXPECT_GT(Sample(text, "kvstash_read_bytes_total"), 0) << text;
  EXPECT_EQ(Sample(text, "kvstash_corrupt_blocks_total{source=\"upstream\"}"), 0) << text;
  // One series per master, all up.
  std::regex up("kvstash_remote_node_up\\{backend=\"redis\",node=\"127\\.0\\.0\\.1:[0-9]+\"\\} 1");
  EXPECT_EQ(
      std::distance(std::sregex_iterator(text.begin(), text.end(), up), std::sregex_iterator()), 3)
      << text;
  EXPECT_NE(text.find("# TYPE kvstash_get_duration_seconds histogram"), std::string::npos);
  EXPECT_NE(HttpGet(base + 2, "/other").find("404"), std::string::npos);

  // A master down: the server still answers, and the metrics say which. New
  // prompts make serve_b ask the cluster (each reaches the dead master
  // unless all its blocks hash to the other two: a few prompts suffice).
  const int dead = cluster.Ports()[0];
  ASSERT_TRUE(cluster.Kill(dead));
  const std::string dead_errors =
      "kvstash_remote_errors_total{backend=\"redis\",node=\"127.0.0.1:" + std::to_string(dead) +
      "\"}";
  double errors = 0;
  for (int i = 0; i < 10 && errors < 1; ++i) {
    auto probe = RunKvstash({"run", "--model", dir_->Sub("tiny"), "--store", "none", "--remote",
                             serve_b.address(), "--max-new-tokens", "1", "--block-tokens", "16",
                             "--json", "--prompt",
                             "probe " + std::to_string(i) +
                                 ": a prompt nobody has stored yet, long enough to span several "
                                 "blocks of sixteen tokens, so that some land on every master"});
    ASSERT_EQ(probe.exit_code, 0) << probe.err;
    const std::string scraped = HttpGet(base + 2, "/metrics");
    errors = Sample(scraped.substr(scraped.find("\r\n\r\n") + 3), dead_errors);
  }
  EXPECT_GE(errors, 1) << "no error counted for the dead master " << dead;
  auto c = Run("none", {"--remote", serve_b.address()});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.Json()["tokens"], cold.Json()["tokens"]);
  // `stat --remote HOST:PORT` shows a `kvstash serve` peer's own counters.
  auto peer = RunKvstash({"stat", "--remote", serve_b.address(), "--json"});
  ASSERT_EQ(peer.exit_code, 0) << peer.err;
  EXPECT_EQ(peer.Json()["remote"], serve_b.address());
  EXPECT_GE(peer.Json()["server"]["blocks_served"].get<int>(), blocks) << peer.out;
  const int status = serve_b.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto gone = RunKvstash({"stat", "--remote", serve_b.address()});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("kvstash serve " + serve_b.address()), std::string::npos) << gone.err;
}

}  // namespace
}  // namespace kvstash
