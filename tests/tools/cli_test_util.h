// Runs the kvstash binary from tests and captures what it prints.
#ifndef KVSTASH_TESTS_TOOLS_CLI_TEST_UTIL_H_
#define KVSTASH_TESTS_TOOLS_CLI_TEST_UTIL_H_

#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kvstash::testing {

struct CliResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
  nlohmann::json Json() const { return nlohmann::json::parse(out); }
};

inline std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `kvstash args...`; stderr goes to a temp file read back afterwards.
inline CliResult RunKvstash(const std::vector<std::string>& args) {
  char err_path[] = "/tmp/kvstash-cli-err-XXXXXX";
  int fd = mkstemp(err_path);
  if (fd >= 0) close(fd);
  std::string cmd = KVSTASH_BINARY;
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  cmd += " 2>" + std::string(err_path);
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (FILE* e = fopen(err_path, "r")) {
    while ((n = fread(buf, 1, sizeof(buf), e)) > 0) r.err.append(buf, n);
    fclose(e);
  }
  remove(err_path);
  return r;
}

// `kvstash run --json` of a prompt file: 8 new tokens, 5 logprobs, 2
// threads; `store` empty: --no-store; `extra` appended.
inline CliResult RunPromptFile(const std::string& model, const std::string& prompt_file,
                               const std::string& store, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"run",       "--model",          model,       "--prompt-file",
                                   prompt_file, "--max-new-tokens", "8",         "--logprobs",
                                   "5",         "--json",           "--threads", "2"};
  if (store.empty()) {
    args.push_back("--no-store");
  } else {
    args.insert(args.end(), {"--store", store});
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return RunKvstash(args);
}

}  // namespace kvstash::testing

#endif  // KVSTASH_TESTS_TOOLS_CLI_TEST_UTIL_H_
