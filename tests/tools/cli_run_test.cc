// `kvstash run` across processes: a warm start in a new process gives the
// same next-token distribution and the same greedy tokens as a cold prefill.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "tests/test_util.h"
#include "tests/tools/cli_test_util.h"

namespace kvstash {
namespace {

using testing::RunKvstash;
using testing::TempDir;

class CliRunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    for (const char* dtype : {"f32", "bf16"}) {
      auto r = RunKvstash({"mkmodel", "--out", dir_->Sub(std::string("tiny-") + dtype), "--preset",
                           "tiny", "--dtype", dtype, "--seed", "3"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    std::ofstream(dir_->Sub("prompt.txt"))
        << "The store keeps these blocks in memory and on disk, checks every byte when it "
           "reads them back, and shares them with other processes on the same host. "
           "Operators can list, inspect, verify and prune what is stored, live or offline. "
           "A cache keeps what was computed once so that it need not be computed again.";
  }
  static void TearDownTestSuite() { delete dir_; }

  static testing::CliResult Run(const std::string& dtype, const std::string& store,
                                std::vector<std::string> extra = {}) {
    return testing::RunPromptFile(dir_->Sub("tiny-" + dtype), dir_->Sub("prompt.txt"), store,
                                  extra);
  }

  static TempDir* dir_;
};

TempDir* CliRunTest::dir_ = nullptr;

TEST_F(CliRunTest, WarmRunInANewProcessMatchesCold) {
  TempDir store;
  auto cold = Run("f32", "");
  ASSERT_EQ(cold.exit_code, 0) << cold.err;
  auto first = Run("f32", store.path());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto warm = Run("f32", store.path());
  ASSERT_EQ(warm.exit_code, 0) << warm.err;
  auto c = cold.Json(), f = first.Json(), w = warm.Json();

  for (const char* key :
       {"prompt_tokens", "reused_tokens", "reused_from", "prefill_ms", "ttft_ms",
        "generated_tokens", "text", "model_id", "model_load_ms", "logprobs", "tokens"}) {
    EXPECT_TRUE(w.contains(key)) << key;
  }
  const int prompt_tokens = w["prompt_tokens"];
  EXPECT_GT(prompt_tokens, 64);
  EXPECT_EQ(f["reused_tokens"], 0);
  EXPECT_EQ(w["reused_tokens"], prompt_tokens);
  EXPECT_EQ(w["reused_from"]["disk"], prompt_tokens);
  EXPECT_EQ(w["reused_from"]["device"], 0);
  // The first run kept the prompt's next-token logits: the warm run computes nothing.
  EXPECT_EQ(w["computed_tokens"], 0);
  EXPECT_EQ(w["logits_from_store"], true);
  EXPECT_EQ(f["logits_from_store"], false);
  EXPECT_EQ(c["tokens"], w["tokens"]);
  EXPECT_EQ(c["text"], w["text"]);
  EXPECT_EQ(c["model_id"], w["model_id"]);
  // The top-5 next-token log-probabilities at every generated position agree.
  ASSERT_EQ(c["logprobs"].size(), w["logprobs"].size());
  for (size_t i = 0; i < c["logprobs"].size(); ++i) {
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(c["logprobs"][i][k]["id"], w["logprobs"][i][k]["id"]);
      EXPECT_NEAR(c["logprobs"][i][k]["logprob"].get<double>(),
                  w["logprobs"][i][k]["logprob"].get<double>(), 1e-4);
    }
  }
}

// --no-onednn runs libtorch as on a CPU without AVX-512: bf16 matmul is not
// accelerated, so `auto` computes in f32 (and says so once on stderr), while
// the KV stays bf16. A store never mixes f32- and bf16-computed KV, and the
// f32-computed run is warm in a new process too.
TEST_F(CliRunTest, AutoComputesInF32WhereBf16IsNotAccelerated) {
  TempDir store;
  auto slow = Run("bf16", store.path(), {"--no-onednn"});
  ASSERT_EQ(slow.exit_code, 0) << slow.err;
  auto j = slow.Json();
  EXPECT_EQ(j["compute_dtype"], "f32");
  EXPECT_EQ(j["kv_dtype"], "bf16");
  EXPECT_EQ(j["compute_dtype_auto"], true);
  ASSERT_TRUE(j["compute_probe"].is_object()) << j.dump();
  EXPECT_LT(j["compute_probe"]["bf16_gflops"].get<double>(),
            0.25 * j["compute_probe"]["f32_gflops"].get<double>());
  EXPECT_GT(j["weights_converted_bytes"].get<uint64_t>(), 0u);
  const std::string line = "computing in f32, KV in bf16: bf16 matmul is not accelerated";
  EXPECT_NE(slow.err.find(line), std::string::npos) << slow.err;
  EXPECT_EQ(slow.err.find(line), slow.err.rfind(line)) << "said more than once: " << slow.err;

  // Asked for bf16 compute: another model id, nothing reused.
  auto bf16 = Run("bf16", store.path(), {"--compute-dtype", "bf16"});
  ASSERT_EQ(bf16.exit_code, 0) << bf16.err;
  EXPECT_EQ(bf16.Json()["compute_dtype"], "bf16");
  EXPECT_NE(bf16.Json()["model_id"], j["model_id"]);
  EXPECT_EQ(bf16.Json()["reused_tokens"], 0);

  // f32 compute again, in a new process: warm, same tokens.
  auto warm = Run("bf16", store.path(), {"--compute-dtype", "f32"});
  ASSERT_EQ(warm.exit_code, 0) << warm.err;
  EXPECT_EQ(warm.Json()["model_id"], j["model_id"]);
  EXPECT_EQ(warm.Json()["reused_tokens"], warm.Json()["prompt_tokens"]);
  EXPECT_EQ(warm.Json()["tokens"], j["tokens"]);
}

TEST_F(CliRunTest, RejectsAnUnknownComputeDtype) {
  auto r = Run("f32", "", {"--compute-dtype", "f16"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--compute-dtype"), std::string::npos) << r.err;
}

// Flags out of range are usage errors (exit 2) that name the flag, instead
// of wrapping around (-1 as an unsigned), passing NaN on, or failing later.
TEST_F(CliRunTest, OutOfRangeFlagsAreUsageErrors) {
  auto run = [](const std::vector<std::string>& flag) {
    std::vector<std::string> args = {
        "run", "--model", dir_->Sub("tiny-f32"), "--prompt", "hello", "--no-store", "--json"};
    args.insert(args.end(), flag.begin(), flag.end());
    return RunKvstash(args);
  };
  const std::vector<std::vector<std::string>> bad = {
      {"--max-new-tokens", "-1"}, {"--temperature", "nan"}, {"--temperature", "inf"},
      {"--top-p", "nan"},         {"--context", "0"},       {"--context", "-5"},
      {"--threads", "100000"}};
  for (const auto& flag : bad) {
    SCOPED_TRACE(flag[0] + " " + flag[1]);
    auto r = run(flag);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(flag[0]), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("At Most 1"), std::string::npos) << "the test passed a flag twice";
  }
  // And no tokens at all is a run, with a decode rate of 0 (not 1.8e23).
  auto none = run({"--max-new-tokens", "0"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.Json()["generated_tokens"], 0);
  EXPECT_EQ(none.Json()["decode_tokens_per_s"], 0.0);
}

TEST_F(CliRunTest, ServeRefusesAListenAddressWithoutAPort) {
  TempDir store;
  for (const char* listen : {"127.0.0.1:99999", "127.0.0.1:abc", "127.0.0.1:"}) {
    SCOPED_TRACE(listen);
    auto r = RunKvstash({"serve", "--store", store.path(), "--listen", listen});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("is not a port"), std::string::npos) << r.err;
  }
}

TEST_F(CliRunTest, Bf16GreedyTokensAreIdenticalWarm) {
  TempDir store;
  auto cold = Run("bf16", "");
  auto first = Run("bf16", store.path());
  auto warm = Run("bf16", store.path());
  ASSERT_EQ(warm.exit_code, 0) << warm.err;
  EXPECT_EQ(warm.Json()["reused_tokens"], warm.Json()["prompt_tokens"]);
  EXPECT_EQ(cold.Json()["tokens"], warm.Json()["tokens"]);
  EXPECT_EQ(first.Json()["tokens"], warm.Json()["tokens"]);
}

TEST_F(CliRunTest, PromptIdsAndTokenizeAgree) {
  auto tok = RunKvstash(
      {"tokenize", "--model", dir_->Sub("tiny-f32"), "--text-file", dir_->Sub("prompt.txt")});
  ASSERT_EQ(tok.exit_code, 0) << tok.err;
  std::ofstream(dir_->Sub("ids.txt")) << tok.out;
  auto by_text = Run("f32", "");
  auto by_ids = RunKvstash({"run", "--model", dir_->Sub("tiny-f32"), "--prompt-ids",
                            dir_->Sub("ids.txt"), "--max-new-tokens", "8", "--no-store", "--json"});
  ASSERT_EQ(by_ids.exit_code, 0) << by_ids.err;
  EXPECT_EQ(by_text.Json()["tokens"], by_ids.Json()["tokens"]);
  EXPECT_EQ(by_text.Json()["prompt_tokens"], by_ids.Json()["prompt_tokens"]);
}

TEST_F(CliRunTest, ErrorsAreOneClearLineWithExitCodes) {
  auto missing = RunKvstash({"run", "--model", dir_->Sub("nope"), "--prompt", "hi"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("kvstash run: NotFound"), std::string::npos) << missing.err;
  auto usage = RunKvstash({"run", "--model", dir_->Sub("tiny-f32")});
  EXPECT_EQ(usage.exit_code, 2);
  auto bad_flag = RunKvstash({"run", "--bogus"});
  EXPECT_EQ(bad_flag.exit_code, 2);
  auto no_command = RunKvstash({});
  EXPECT_EQ(no_command.exit_code, 2);
}

TEST_F(CliRunTest, LsShowsWhatRunsStored) {
  TempDir store;
  ASSERT_EQ(Run("f32", store.path()).exit_code, 0);
  auto ls = RunKvstash({"ls", "--store", store.path(), "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  auto j = ls.Json();
  ASSERT_EQ(j["models"].size(), 1u);
  EXPECT_GT(j["models"][0]["blocks"].get<int>(), 1);
  EXPECT_EQ(j["models"][0]["chains"], 1);
  EXPECT_NE(j["models"][0]["description"].get<std::string>().find("Qwen2ForCausalLM 4L"),
            std::string::npos);
  auto human = RunKvstash({"ls", "--store", store.path()});
  EXPECT_NE(human.out.find("Qwen2ForCausalLM"), std::string::npos) << human.out;

  // --model lists the model's chains: one prompt (+ its generation, which
  // superseded the prompt's partial last block) is one chain.
  const std::string model = j["models"][0]["model_id"];
  auto detail = RunKvstash({"ls", "--store", store.path(), "--model", model, "--model-dir",
                            dir_->Sub("tiny-f32"), "--json"});
  ASSERT_EQ(detail.exit_code, 0) << detail.err;
  auto chains = detail.Json()["models"][0]["chains_detail"];
  ASSERT_EQ(chains.size(), 1u) << detail.out;
  EXPECT_EQ(chains[0]["complete"], true);
  EXPECT_EQ(chains[0]["tokens"], j["models"][0]["tokens"]);
  EXPECT_EQ(chains[0]["first_text"].get<std::string>().rfind("The store keeps", 0), 0u)
      << chains[0]["first_text"];
}

// --codec none stores the raw bytes (plus headers): what was stored is as big
// as the KV, and a warm run from it gives the same tokens.
TEST_F(CliRunTest, CodecNoneStoresRawBytesAndIsWarm) {
  TempDir store;
  auto first = Run("bf16", store.path(), {"--codec", "none"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto ls = RunKvstash({"ls", "--store", store.path(), "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  const auto listed = ls.Json();
  const auto& m = listed["models"][0];
  const double raw = m["raw_bytes"].get<double>(), stored = m["stored_bytes"].get<double>();
  EXPECT_GE(stored, raw);
  EXPECT_LT(stored, raw * 1.05) << "headers only";
  auto warm = Run("bf16", store.path());
  ASSERT_EQ(warm.exit_code, 0) << warm.err;
  EXPECT_EQ(warm.Json()["reused_tokens"], warm.Json()["prompt_tokens"]);
  EXPECT_EQ(warm.Json()["tokens"], first.Json()["tokens"]);
}

// While another process holds the store for writing (here `kvstash serve`),
// a run does not fail: it reuses what is stored, read-only, and says so.
TEST_F(CliRunTest, ARunOnAStoreHeldByAnotherProcessUsesItReadOnly) {
  TempDir store;
  auto first = Run("f32", store.path());
  ASSERT_EQ(first.exit_code, 0) << first.err;

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t server = fork();
  if (server == 0) {
    dup2(fds[1], STDERR_FILENO);
    execl(KVSTASH_BINARY, KVSTASH_BINARY, "serve", "--store", store.path().c_str(), "--listen",
          "127.0.0.1:0", nullptr);
    _exit(127);
  }
  close(fds[1]);
  FILE* err = fdopen(fds[0], "r");
  char line[512];
  bool serving = false;
  while (!serving && fgets(line, sizeof(line), err)) {
    serving = std::strstr(line, "serving") != nullptr;
  }
  ASSERT_TRUE(serving) << "kvstash serve did not start";

  auto held = Run("f32", store.path());
  kill(server, SIGTERM);
  waitpid(server, nullptr, 0);
  fclose(err);
  ASSERT_EQ(held.exit_code, 0) << held.err;
  EXPECT_NE(held.err.find("in use by another process; using it read-only"), std::string::npos)
      << held.err;
  auto j = held.Json();
  EXPECT_EQ(j["store_read_only"], true);
  EXPECT_EQ(j["reused_tokens"], j["prompt_tokens"]);
  EXPECT_EQ(j["tokens"], first.Json()["tokens"]);
  EXPECT_EQ(j["blocks_stored"], 0);
}

// Issue 12, item 1, on a real full disk: a small tmpfs (mounting needs root;
// skipped without it). Runs never abort (RocksDB's info LOG and its WAL
// writer did), reads keep working, and a run whose KV cannot be stored still
// prints its output.
TEST_F(CliRunTest, AFullDiskNeverAbortsARunAndReadsKeepWorking) {
  TempDir dir;
  const std::string mnt = dir.Sub("mnt");
  ASSERT_EQ(mkdir(mnt.c_str(), 0755), 0);
  if (std::system(("mount -t tmpfs -o size=4m tmpfs " + mnt + " 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { (void)std::system(("umount " + path).c_str()); }
  } unmount{mnt};
  const std::string store = mnt + "/store";
  auto cold_f32 = Run("f32", "");
  auto cold_bf16 = Run("bf16", "");
  ASSERT_EQ(cold_f32.exit_code, 0) << cold_f32.err;
  ASSERT_EQ(cold_bf16.exit_code, 0) << cold_bf16.err;
  auto first = Run("f32", store);
  ASSERT_EQ(first.exit_code, 0) << first.err;

  // Fill the rest of the disk but a few KiB: enough to open, not to store.
  {
    std::ofstream filler(mnt + "/filler", std::ios::binary);
    std::string chunk(4096, 'x');
    while (filler.write(chunk.data(), chunk.size())) {
    }
  }
  (void)std::system(("truncate -s -16K " + mnt + "/filler").c_str());

  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto reread = Run("f32", store);
    ASSERT_EQ(reread.exit_code, 0) << reread.err;
    EXPECT_EQ(reread.Json()["reused_tokens"], reread.Json()["prompt_tokens"]) << reread.err;
    EXPECT_EQ(reread.Json()["tokens"], cold_f32.Json()["tokens"]);

    auto fresh = Run("bf16", store);  // another model: its KV must be written
    ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
    EXPECT_EQ(fresh.Json()["tokens"], cold_bf16.Json()["tokens"]);
    const bool said = fresh.err.find("cannot be written") != std::string::npos ||
                      fresh.err.find("was not stored") != std::string::npos;
    EXPECT_TRUE(said || fresh.Json()["reused_tokens"] == fresh.Json()["prompt_tokens"])
        << "a run on a full disk neither stored its KV nor said why: " << fresh.err;
  }
  auto verify = RunKvstash({"verify", "--store", store, "--json"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err << verify.out;
}

TEST_F(CliRunTest, TwoProcessesWithSeparateStoresShareOneServer) {
  TempDir server_store, store_a, store_b;
  const int port = 20000 + static_cast<int>(getpid() % 20000);
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  pid_t server = fork();
  ASSERT_GE(server, 0);
  if (server == 0) {
    execl(KVSTASH_BINARY, KVSTASH_BINARY, "serve", "--store", server_store.path().c_str(),
          "--listen", listen.c_str(), nullptr);
    _exit(127);
  }
  // Wait until it accepts connections.
  for (int i = 0; i < 100; ++i) {
    if (RunKvstash({"run", "--model", dir_->Sub("tiny-f32"), "--store", "none", "--remote", listen,
                    "--prompt", "warm up", "--max-new-tokens", "1", "--json"})
                .out.find("\"remote\"") != std::string::npos &&
        i > 0) {
      break;
    }
    usleep(100000);
  }
  auto cold = Run("f32", "");
  auto a = Run("f32", store_a.path(), {"--remote", listen});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = Run("f32", store_b.path(), {"--remote", listen});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto jb = b.Json();
  EXPECT_EQ(jb["reused_from"]["remote"], jb["prompt_tokens"]);
  EXPECT_EQ(jb["reused_from"]["disk"], 0);
  EXPECT_EQ(cold.Json()["tokens"], jb["tokens"]);
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_NEAR(cold.Json()["logprobs"][0][k]["logprob"].get<double>(),
                jb["logprobs"][0][k]["logprob"].get<double>(), 1e-4);
  }
  // b kept what the server sent: a third run on b's store needs no server.
  kill(server, SIGTERM);
  int status = 0;
  waitpid(server, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  auto offline = Run("f32", store_b.path());
  EXPECT_EQ(offline.Json()["reused_from"]["disk"], jb["prompt_tokens"]);
}

// Whether something accepts TCP connections on 127.0.0.1:port.
bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// serve --read-token-file: clients holding the read token reuse what the
// server holds and store nothing there; the write token fills it.
TEST_F(CliRunTest, AReadTokenClientReusesButNeverWrites) {
  TempDir server_store, tokens;
  const std::string write_token = tokens.Sub("write"), read_token = tokens.Sub("read");
  std::ofstream(write_token) << "w-secret\n";
  std::ofstream(read_token) << "r-secret\n";
  auto no_write = RunKvstash({"serve", "--store", server_store.path(), "--read-token-file",
                              read_token, "--listen", "127.0.0.1:0"});
  EXPECT_EQ(no_write.exit_code, 2);
  EXPECT_NE(no_write.err.find("--read-token-file needs --token-file"), std::string::npos)
      << no_write.err;
  auto same = RunKvstash({"serve", "--store", server_store.path(), "--token-file", write_token,
                          "--read-token-file", write_token, "--listen", "127.0.0.1:0"});
  EXPECT_EQ(same.exit_code, 2);
  EXPECT_NE(same.err.find("must differ"), std::string::npos) << same.err;

  const int port = 20000 + static_cast<int>((getpid() + 7919) % 20000);
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  pid_t server = fork();
  ASSERT_GE(server, 0);
  if (server == 0) {
    execl(KVSTASH_BINARY, KVSTASH_BINARY, "serve", "--store", server_store.path().c_str(),
          "--listen", listen.c_str(), "--token-file", write_token.c_str(), "--read-token-file",
          read_token.c_str(), nullptr);
    _exit(127);
  }
  auto remote_run = [&](const std::string& token_file) {
    return Run("f32", "none", {"--remote", listen, "--remote-token-file", token_file});
  };
  for (int i = 0; i < 100 && !Accepts(port); ++i) usleep(100000);
  auto cold = Run("f32", "");
  auto reader = remote_run(read_token);
  ASSERT_EQ(reader.exit_code, 0) << reader.err;
  EXPECT_EQ(reader.Json()["reused_tokens"], 0) << "a read-token client stored blocks";
  auto writer = remote_run(write_token);
  ASSERT_EQ(writer.exit_code, 0) << writer.err;
  auto again = remote_run(read_token);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.Json()["reused_from"]["remote"], again.Json()["prompt_tokens"]);
  EXPECT_EQ(again.Json()["tokens"], cold.Json()["tokens"]);
  kill(server, SIGTERM);
  int status = 0;
  waitpid(server, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace kvstash
