// A Redis Cluster of its own for a test: scripts/redis-cluster.sh started in
// a temporary directory on free loopback ports, stopped by PID at the end.
#ifndef KVSTASH_TESTS_STORE_REDIS_CLUSTER_UTIL_H_
#define KVSTASH_TESTS_STORE_REDIS_CLUSTER_UTIL_H_

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace kvstash::testing {

class RedisClusterProcess {
 public:
  // `extra`: more arguments for `start` (--replicas 1, --password-file F).
  explicit RedisClusterProcess(const std::string& extra = "") {
    if (std::system("command -v redis-server >/dev/null 2>&1") != 0) {
      skip_ = "redis-server is not installed (scripts/install-deps.sh installs it)";
      return;
    }
    const std::string cmd = Script() + " start --dir " + dir_.path() + " " + extra + " >" +
                            dir_.Sub("start.out") + " 2>&1";
    started_ = std::system(cmd.c_str()) == 0;
    std::ifstream in(dir_.Sub("address"));
    std::getline(in, address_);
  }
  ~RedisClusterProcess() { (void)std::system((Script() + " stop --dir " + dir_.path()).c_str()); }

  // Why the test cannot run here; empty if it can.
  const std::string& skip() const { return skip_; }
  bool started() const { return started_ && !address_.empty(); }
  std::string StartLog() const { return Slurp(dir_.Sub("start.out")); }
  // "redis://127.0.0.1:P1,127.0.0.1:P2,..."
  const std::string& address() const { return address_; }
  std::vector<int> Ports() const {
    std::vector<int> ports;
    std::string rest = address_.substr(address_.find("//") + 2);
    for (size_t at = 0; at < rest.size();) {
      size_t comma = rest.find(',', at);
      if (comma == std::string::npos) comma = rest.size();
      const std::string node = rest.substr(at, comma - at);
      ports.push_back(std::stoi(node.substr(node.rfind(':') + 1)));
      at = comma + 1;
    }
    return ports;
  }
  // redis-cli against one node (cluster mode: follows redirections); its
  // output.
  std::string Cli(int port, const std::string& args) const { return CliRaw(port, "-c " + args); }
  // The same without following redirections ("MOVED ..." when the key
  // lives elsewhere).
  std::string CliRaw(int port, const std::string& args) const {
    const std::string cmd = "redis-cli -p " + std::to_string(port) + " " + args + " 2>&1";
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
      pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }
  bool Kill(int port) const { return Run("kill", port); }
  bool Restart(int port) const { return Run("restart", port); }
  const std::string& dir() const { return dir_.path(); }

 private:
  static std::string Script() {
    return std::string(KVSTASH_SOURCE_DIR) + "/scripts/redis-cluster.sh";
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  bool Run(const std::string& what, int port) const {
    const std::string cmd = Script() + " " + what + " --dir " + dir_.path() + " " +
                            std::to_string(port) + " >/dev/null";
    return std::system(cmd.c_str()) == 0;
  }

  TempDir dir_;
  std::string skip_;
  bool started_ = false;
  std::string address_;
};

}  // namespace kvstash::testing

#define KVSTASH_START_REDIS_CLUSTER(cluster)                         \
  do {                                                               \
    if (!(cluster).skip().empty()) GTEST_SKIP() << (cluster).skip(); \
    ASSERT_TRUE((cluster).started()) << (cluster).StartLog();        \
  } while (0)

#endif  // KVSTASH_TESTS_STORE_REDIS_CLUSTER_UTIL_H_
