#include "tools/bench_util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace kvstash::cli {

Result<std::string> TempWorkDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/kvstash-bench-XXXXXX";
  if (!mkdtemp(templ.data())) return Status::IOError("mkdtemp " + templ + " failed");
  return templ;
}

void RemoveWorkDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

namespace {
void DropFile(const std::string& file) {
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  fdatasync(fd);  // dirty pages cannot be dropped
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}
}  // namespace

void DropPageCache(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return DropFile(path);
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) DropFile(it->path().string());
  }
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

nlohmann::json RowJson(const BenchRow& r) {
  return {{"path", r.path},
          {"prompt_tokens", r.prompt_tokens},
          {"ttft_ms_median", r.ttft_median},
          {"ttft_ms_min", r.ttft_min},
          {"ttft_ms_max", r.ttft_max},
          {"prefill_ms", r.prefill_ms},
          {"load_ms", r.load_ms},
          {"reused_tokens", r.reused_tokens},
          {"computed_tokens", r.computed_tokens},
          {"kv_bytes_loaded", r.kv_bytes_loaded},
          {"speedup", r.speedup}};
}

void PrintTable(const std::vector<BenchRow>& rows) {
  std::printf("%-7s %-16s %11s %21s %11s %10s %7s %10s %8s\n", "prompt", "path", "TTFT med",
              "TTFT min-max", "prefill", "load", "reused", "KV loaded", "speedup");
  for (const BenchRow& r : rows) {
    char range[64];
    std::snprintf(range, sizeof(range), "%s-%s", HumanMs(r.ttft_min).c_str(),
                  HumanMs(r.ttft_max).c_str());
    std::printf("%-7zu %-16s %11s %21s %11s %10s %7zu %10s %7.1fx\n", r.prompt_tokens,
                r.path.c_str(), HumanMs(r.ttft_median).c_str(), range,
                HumanMs(r.prefill_ms).c_str(), HumanMs(r.load_ms).c_str(), r.reused_tokens,
                HumanBytes(r.kv_bytes_loaded).c_str(), r.speedup);
  }
}

}  // namespace kvstash::cli
