#include "tools/bench_util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "engine/engine.h"
#include "engine/llama_model.h"
#include "engine/model_maker.h"

namespace kvstash::cli {

void AddBenchModelFlags(CLI::App* cmd, BenchModelFlags* f) {
  cmd->add_option("--preset", f->preset, "Model preset made in a temp dir")
      ->check(CLI::IsMember(ModelPresets()))
      ->capture_default_str();
  cmd->add_option("--model", f->model, "Hugging Face model directory (instead of --preset)");
  AddModelFlags(cmd, &f->load);
}

Result<std::unique_ptr<LlamaModel>> LoadBenchModel(const BenchModelFlags& f,
                                                   const std::string& work_dir) {
  KVSTASH_ASSIGN_OR_RETURN(ModelLoadOptions load, LoadOptionsFromFlags(f.load));
  const std::string model_dir = f.model.empty() ? work_dir + "/model" : f.model;
  if (f.model.empty()) {
    MakeModelOptions make;
    make.preset = f.preset;
    if (load.kv_dtype) make.dtype = *load.kv_dtype;
    KVSTASH_RETURN_IF_ERROR(MakeModel(model_dir, make));
  }
  KVSTASH_ASSIGN_OR_RETURN(auto model, LlamaModel::Load(model_dir, load));
  ReportComputeChoice(*model);
  return model;
}

std::string BenchModelName(const BenchModelFlags& f) {
  return f.model.empty() ? f.preset : f.model;
}

std::vector<std::string> SplitList(const std::string& flag) {
  std::string list = flag;
  std::replace(list.begin(), list.end(), ',', ' ');
  std::istringstream words(list);
  std::vector<std::string> items;
  for (std::string w; words >> w;) items.push_back(w);
  return items;
}

Result<std::vector<size_t>> ParsePromptLengths(const std::string& flag) {
  std::vector<size_t> lengths;
  for (const std::string& word : SplitList(flag)) {
    char* end = nullptr;
    const long long v = std::strtoll(word.c_str(), &end, 10);
    if (*end != '\0') {
      return Status::InvalidArgument("--prompt-tokens: a comma-separated list, e.g. 512,2048");
    }
    if (v < 2) return Status::InvalidArgument("--prompt-tokens: each must be >= 2");
    lengths.push_back(static_cast<size_t>(v));
  }
  if (lengths.empty()) {
    return Status::InvalidArgument("--prompt-tokens: a comma-separated list, e.g. 512,2048");
  }
  return lengths;
}

std::vector<int32_t> BenchPrompt(size_t length, int64_t vocab) {
  std::vector<int32_t> prompt(length);
  for (size_t i = 0; i < length; ++i) {
    prompt[i] = static_cast<int32_t>((i * 7919 + 13 + length) % static_cast<size_t>(vocab));
  }
  return prompt;
}

Result<std::string> TempWorkDir(const std::string& parent) {
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string base = !parent.empty() ? parent : tmpdir && *tmpdir ? tmpdir : "/tmp";
  std::string templ = base + "/kvstash-bench-XXXXXX";
  if (!mkdtemp(templ.data())) {
    return Status::IOError("cannot create a work directory in " + base + ": " +
                           std::strerror(errno));
  }
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

Status PosixError(const std::string& what, const std::string& path) {
  return Status::IOError(what + " " + path + ": " + std::strerror(errno));
}

Status WriteFileSynced(const std::string& path, const std::vector<std::string>& parts) {
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return PosixError("open", path);
  for (const std::string& p : parts) {
    if (write(fd, p.data(), p.size()) != static_cast<ssize_t>(p.size())) {
      close(fd);
      return PosixError("write", path);
    }
  }
  const bool synced = fsync(fd) == 0;
  if (close(fd) != 0 || !synced) return PosixError("fsync", path);
  return Status::OK();
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

StoreOptions BenchStoreOptions(const std::string& path, uint64_t device_budget,
                               const std::string& device, const std::string& remote,
                               bool read_only) {
  StoreOptions options;
  options.path = path;
  options.read_only = read_only;
  options.device_budget_bytes = device_budget;
  options.device = device;
  options.remote = remote;
  if (device_budget == 0) options.promote_on_hit = false;
  return options;
}

Result<std::unique_ptr<Store>> OpenBenchStore(const std::string& path, uint64_t device_budget,
                                              const std::string& device, const std::string& remote,
                                              bool read_only) {
  return Store::Open(BenchStoreOptions(path, device_budget, device, remote, read_only));
}

Result<Generation> RunBenchRequest(const LlamaModel& model, Store* store,
                                   const std::vector<int32_t>& prompt, const BenchRequest& request,
                                   Engine* reuse) {
  std::unique_ptr<Engine> owned;
  Engine* engine = reuse;
  if (!engine) {
    EngineOptions options;
    options.insert = request.insert;
    options.use_stored_logits = request.use_stored_logits;
    options.context = prompt.size() + request.new_tokens + 8;
    KVSTASH_ASSIGN_OR_RETURN(owned, Engine::Create(&model, store, options));
    engine = owned.get();
  }
  GenerateOptions gen_options;
  gen_options.max_new_tokens = request.new_tokens;
  gen_options.stop_at_eos = false;  // every request generates as much
  return engine->Generate(prompt, gen_options);
}

nlohmann::json RowJson(const BenchRow& r) {
  return {{"path", r.path},
          {"prompt_tokens", r.prompt_tokens},
          {"ttft_ms_median", r.ttft_median},
          {"ttft_ms_min", r.ttft_min},
          {"ttft_ms_max", r.ttft_max},
          {"prefill_ms", r.prefill_ms},
          {"load_ms", r.load_ms},
          {"open_ms", r.open_ms},
          {"reused_tokens", r.reused_tokens},
          {"computed_tokens", r.computed_tokens},
          {"kv_bytes_loaded", r.kv_bytes_loaded},
          {"logits_from_store", r.logits_reused},
          {"speedup", r.speedup}};
}

void PrintTable(const std::vector<BenchRow>& rows) {
  std::printf("%-7s %-16s %11s %21s %11s %10s %10s %7s %10s %6s %8s\n", "prompt", "path",
              "TTFT med", "TTFT min-max", "prefill", "load", "open", "reused", "KV loaded",
              "logits", "speedup");
  for (const BenchRow& r : rows) {
    char range[64];
    std::snprintf(range, sizeof(range), "%s-%s", HumanMs(r.ttft_min).c_str(),
                  HumanMs(r.ttft_max).c_str());
    std::printf("%-7zu %-16s %11s %21s %11s %10s %10s %7zu %10s %6s %7.1fx\n", r.prompt_tokens,
                r.path.c_str(), HumanMs(r.ttft_median).c_str(), range,
                HumanMs(r.prefill_ms).c_str(), HumanMs(r.load_ms).c_str(),
                r.open_ms > 0 ? HumanMs(r.open_ms).c_str() : "", r.reused_tokens,
                HumanBytes(r.kv_bytes_loaded).c_str(), r.logits_reused ? "stored" : "model",
                r.speedup);
  }
}

}  // namespace kvstash::cli
