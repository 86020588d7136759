// Several processes on one store: persistence across processes, the lock,
// and kill -9 during a write storm.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "serde/block_codec.h"
#include "store/disk_tier.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::TempDir;

struct Output {
  int exit_code = -1;
  std::string out;
};

Output RunChild(const std::vector<std::string>& args) {
  std::string cmd = KVSTASH_STORE_CHILD;
  for (const auto& a : args) cmd += " '" + a + "'";
  Output o;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) o.out.append(buf, n);
  int status = pclose(p);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

// Starts `store_child storm DIR` with its stdout readable through
// `*from_child`; returns its pid, or -1.
pid_t StartStorm(const std::string& dir, FILE** from_child) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    execl(KVSTASH_STORE_CHILD, KVSTASH_STORE_CHILD, "storm", dir.c_str(), nullptr);
    _exit(127);
  }
  close(pipefd[1]);
  *from_child = fdopen(pipefd[0], "r");
  return pid;
}

TEST(StoreProcessTest, SecondProcessLoadsWhatTheFirstInserted) {
  TempDir dir;
  ASSERT_EQ(RunChild({"insert", dir.path(), "7", "300"}).exit_code, 0);
  Output o = RunChild({"load", dir.path(), "7", "300"});
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_NE(o.out.find("loaded 300 disk 300"), std::string::npos) << o.out;
  // A different sequence is not there.
  EXPECT_NE(RunChild({"load", dir.path(), "8", "300"}).exit_code, 0);
}

TEST(StoreProcessTest, StoreHeldByAnotherProcessGivesAClearError) {
  TempDir dir;
  FILE* from_child = nullptr;
  const pid_t pid = StartStorm(dir.path(), &from_child);
  ASSERT_GT(pid, 0);
  char line[256];
  ASSERT_NE(fgets(line, sizeof(line), from_child), nullptr);  // it holds the store now
  Output o = RunChild({"open", dir.path()});
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(o.out.find("Busy"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("in use by another process"), std::string::npos) << o.out;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  fclose(from_child);
}

// kill -9 in the middle of inserts: every sequence acknowledged by Flush()
// loads in full in a new process, and every block on disk verifies.
TEST(StoreProcessTest, KillNineDuringWriteStormLosesNothingFlushed) {
  TempDir dir;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    FILE* from_child = nullptr;
    const pid_t pid = StartStorm(dir.path(), &from_child);
    ASSERT_GT(pid, 0);
    unsigned long long last_flushed = 0;
    char line[256];
    // Let it run a variable while, then kill it mid-write.
    const unsigned long long stop_after = 6 + 5 * round;
    while (fgets(line, sizeof(line), from_child)) {
      unsigned long long seed = 0;
      if (std::sscanf(line, "flushed %llu", &seed) == 1) last_flushed = seed;
      if (last_flushed >= stop_after) break;
    }
    usleep(20000 * (round + 1));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    fclose(from_child);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_GE(last_flushed, stop_after);

    // Every block on disk decodes and verifies.
    {
      auto disk = DiskTier::Open(DiskTierOptions{dir.path()});
      ASSERT_OK(disk.status());
      BlockCodec codec;
      std::string blob, raw;
      size_t blocks = 0;
      ASSERT_OK((*disk)->ForEachMeta(std::nullopt, [&](const ModelId& model, const BlockHash& hash,
                                                       const Result<BlockMeta>& meta) {
        EXPECT_OK(meta.status());
        EXPECT_OK((*disk)->GetBlob(model, hash, &blob));
        raw.resize(meta.ok() ? meta->raw_bytes : 0);
        auto header = codec.Decode(blob, {{0, raw.data(), raw.size()}});
        EXPECT_OK(header.status());
        if (header.ok()) {
          EXPECT_EQ(header->hash, hash);
        }
        ++blocks;
        return true;
      }));
      EXPECT_GT(blocks, 0u);
    }
    // Every acknowledged sequence is intact, in a new process.
    Output o = RunChild({"loadstorm", dir.path(), std::to_string(last_flushed)});
    ASSERT_EQ(o.exit_code, 0) << o.out;
  }
}

}  // namespace
}  // namespace kvstash
