// Shared by the `kvstash bench` subcommands: temp dirs, page-cache drops,
// medians and result rows.
#ifndef KVSTASH_TOOLS_BENCH_UTIL_H_
#define KVSTASH_TOOLS_BENCH_UTIL_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "serde/status.h"
#include "tools/cli_util.h"

namespace kvstash::cli {

// A fresh directory under $TMPDIR (or /tmp); RemoveWorkDir deletes it.
Result<std::string> TempWorkDir();
void RemoveWorkDir(const std::string& dir);

// Writes back and drops from the page cache every file under `path` (a file
// or a directory), so the next read comes from the device: as a new process
// after a reboot or under memory pressure would see it.
void DropPageCache(const std::string& path);

double Median(std::vector<double> values);

struct BenchRow {
  std::string path;
  size_t prompt_tokens = 0;
  double ttft_median = 0, ttft_min = 0, ttft_max = 0;
  double prefill_ms = 0, load_ms = 0;
  size_t reused_tokens = 0, computed_tokens = 0;
  uint64_t kv_bytes_loaded = 0;
  double speedup = 0;  // cold median / this median
};

nlohmann::json RowJson(const BenchRow& row);
void PrintTable(const std::vector<BenchRow>& rows);

// `kvstash bench naive` (bench_naive.cc).
void AddBenchNaiveCommand(CLI::App& bench, Action* action);

}  // namespace kvstash::cli

#endif  // KVSTASH_TOOLS_BENCH_UTIL_H_
