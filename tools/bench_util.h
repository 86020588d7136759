// Shared by the `kvstash bench` subcommands: temp dirs, page-cache drops,
// medians and result rows.
#ifndef KVSTASH_TOOLS_BENCH_UTIL_H_
#define KVSTASH_TOOLS_BENCH_UTIL_H_

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "serde/status.h"
#include "store/store_options.h"
#include "tools/cli_util.h"
#include "tools/model_flags.h"

namespace kvstash {
class Engine;
class LlamaModel;
class Store;
struct Generation;
}  // namespace kvstash

namespace kvstash::cli {

// The model flags every bench subcommand takes: --preset (made in the work
// dir, in --kv-dtype) or --model, and the ModelFlags.
struct BenchModelFlags {
  BenchModelFlags() { load.device = "cpu"; }
  std::string preset = "tiny", model;
  ModelFlags load;
};
void AddBenchModelFlags(CLI::App* cmd, BenchModelFlags* flags);

// Makes the preset's model under `work_dir` (unless --model names one) and
// loads it.
Result<std::unique_ptr<LlamaModel>> LoadBenchModel(const BenchModelFlags& flags,
                                                   const std::string& work_dir);
// The name benches print for the model: the preset or the --model path.
std::string BenchModelName(const BenchModelFlags& flags);

// "a,b c" -> {"a", "b", "c"}: a flag's list, split at commas and spaces.
std::vector<std::string> SplitList(const std::string& list);

// "512,2048" -> {512, 2048}; each at least 2.
Result<std::vector<size_t>> ParsePromptLengths(const std::string& list);

// A deterministic prompt of `length` token ids below `vocab` (the ids depend
// on the length, so prompts of different lengths usually share no prefix;
// each length is measured on stores of its own anyway).
std::vector<int32_t> BenchPrompt(size_t length, int64_t vocab);

// A fresh directory under `parent` (default: $TMPDIR, else /tmp);
// RemoveWorkDir deletes it.
Result<std::string> TempWorkDir(const std::string& parent = "");
void RemoveWorkDir(const std::string& dir);

// Writes back and drops from the page cache every file under `path` (a file
// or a directory), so the next read comes from the device: as a new process
// after a reboot or under memory pressure would see it.
void DropPageCache(const std::string& path);

double Median(std::vector<double> values);

// IOError "<what> <path>: <strerror(errno)>".
Status PosixError(const std::string& what, const std::string& path);

// Writes `parts` one after the other to `path` (replaced), then fsync.
Status WriteFileSynced(const std::string& path, const std::vector<std::string>& parts);

// Reads the parts of a file written by WriteFileSynced(`parts`), one pread
// per part into `*buf` (reused), calling `fn(i, bytes)` for each.
template <typename Fn>
Status ReadParts(const std::string& path, const std::vector<std::string>& parts, std::string* buf,
                 Fn&& fn);

// The options of a bench's store: `path` "" for device memory only;
// device_budget 0 turns the device tier (and promotion into it) off.
StoreOptions BenchStoreOptions(const std::string& path, uint64_t device_budget,
                               const std::string& device, const std::string& remote = "",
                               bool read_only = false);
// Store::Open(BenchStoreOptions(...)).
Result<std::unique_ptr<Store>> OpenBenchStore(const std::string& path, uint64_t device_budget,
                                              const std::string& device,
                                              const std::string& remote = "",
                                              bool read_only = false);

struct BenchRequest {
  size_t new_tokens = 1;          // greedy tokens to generate
  bool insert = false;            // store what the request computes
  bool use_stored_logits = true;  // see EngineOptions
};

// One request as a serving process runs it: a fresh engine on `store` (null:
// no store), unless `reuse` names an engine to run it on.
Result<Generation> RunBenchRequest(const LlamaModel& model, Store* store,
                                   const std::vector<int32_t>& prompt, const BenchRequest& request,
                                   Engine* reuse = nullptr);

struct BenchRow {
  std::string path;
  size_t prompt_tokens = 0;
  double ttft_median = 0, ttft_min = 0, ttft_max = 0;
  double prefill_ms = 0, load_ms = 0;
  double open_ms = 0;  // opening the store before the request; 0 where none was opened
  size_t reused_tokens = 0, computed_tokens = 0;
  uint64_t kv_bytes_loaded = 0;
  bool logits_reused = false;  // the prompt's next-token logits came from the store
  double speedup = 0;          // cold median / this median
};

nlohmann::json RowJson(const BenchRow& row);
void PrintTable(const std::vector<BenchRow>& rows);

// `kvstash bench naive` (bench_naive.cc), `kvstash bench store`
// (bench_store.cc) and `kvstash bench workloads` (bench_workloads.cc).
void AddBenchNaiveCommand(CLI::App& bench, Action* action);
void AddBenchWorkloadsCommand(CLI::App& bench, Action* action);
void AddBenchStoreCommand(CLI::App& bench, Action* action);
// `kvstash bench scale` (bench_scale.cc).
void AddBenchScaleCommand(CLI::App& bench, Action* action);

template <typename Fn>
Status ReadParts(const std::string& path, const std::vector<std::string>& parts, std::string* buf,
                 Fn&& fn) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError("open", path);
  Status s;
  off_t offset = 0;
  for (size_t i = 0; i < parts.size() && s.ok(); ++i) {
    buf->resize(parts[i].size());
    if (pread(fd, buf->data(), buf->size(), offset) != static_cast<ssize_t>(buf->size())) {
      s = PosixError("short read of", path);
    } else {
      s = fn(i, *buf);
    }
    offset += static_cast<off_t>(parts[i].size());
  }
  close(fd);
  return s;
}

}  // namespace kvstash::cli

#endif  // KVSTASH_TOOLS_BENCH_UTIL_H_
