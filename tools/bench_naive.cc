// kvstash bench naive: what a C++ user does without kvstash -- torch::save of
// the prompt's whole KV to one file, torch::load and a copy into the KV cache
// in the next process -- next to a kvstash store insert and load of the same
// KV. Both loads are timed with the page cache warm and dropped.
#include <torch/serialize.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/engine.h"
#include "engine/llama_model.h"
#include "engine/model_maker.h"
#include "store/kv_tensors_inl.h"
#include "tools/bench_util.h"

namespace kvstash::cli {

namespace {

struct NaiveFlags {
  BenchModelFlags model;
  std::string prompt_tokens = "512,2048";
  std::string codec = "zstd-planes";  // the store's codec
  int repeat = 3;
  bool json = false;
};

struct NaiveRow {
  NaiveRow(std::string name, size_t tokens) : method(std::move(name)), prompt_tokens(tokens) {}
  std::string method;
  size_t prompt_tokens = 0;
  uint64_t file_bytes = 0;
  double save_ms = 0, load_ms = 0, load_cold_ms = 0;
  double open_ms = 0;  // kvstash, warm: of load_ms, opening the store and registering the model
};

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

uint64_t DiskBytes(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return std::filesystem::file_size(path, ec);
  uint64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

// torch::save / torch::load of 2 * layers tensors [kv_heads, n, head_dim].
Status Naive(const LlamaModel& model, const KvCacheView& kv, size_t n, const std::string& file,
             int repeat, NaiveRow* row) {
  return CatchTorch("naive save/load", [&]() -> Status {
    auto start = std::chrono::steady_clock::now();
    std::vector<at::Tensor> tensors;
    for (size_t l = 0; l < kv.keys.size(); ++l) {
      tensors.push_back(kv.keys[l].narrow(1, 0, static_cast<int64_t>(n)).contiguous());
      tensors.push_back(kv.values[l].narrow(1, 0, static_cast<int64_t>(n)).contiguous());
    }
    torch::save(tensors, file);
    row->save_ms = MsSince(start);
    row->file_bytes = DiskBytes(file);
    KVSTASH_ASSIGN_OR_RETURN(KvCacheView target, model.NewCache(n + 8));
    for (bool cold : {false, true}) {
      std::vector<double> times;
      for (int r = 0; r < repeat; ++r) {
        if (cold) DropPageCache(file);
        start = std::chrono::steady_clock::now();
        std::vector<at::Tensor> loaded;
        torch::load(loaded, file);
        for (size_t l = 0; l < target.keys.size(); ++l) {
          target.keys[l].narrow(1, 0, static_cast<int64_t>(n)).copy_(loaded[2 * l]);
          target.values[l].narrow(1, 0, static_cast<int64_t>(n)).copy_(loaded[2 * l + 1]);
        }
        times.push_back(MsSince(start));
      }
      (cold ? row->load_cold_ms : row->load_ms) = Median(times);
    }
    return Status::OK();
  });
}

// Store insert + flush + close, then open + load (+ close) of the same KV.
Status Kvstash(const LlamaModel& model, const KvCacheView& kv, const std::vector<int32_t>& prompt,
               const std::string& dir, Codec codec, int repeat, NaiveRow* row) {
  const uint32_t block_tokens = EngineOptions().block_tokens;
  StoreOptions options;
  options.path = dir;
  options.encode.codec = codec;
  auto start = std::chrono::steady_clock::now();
  {
    KVSTASH_ASSIGN_OR_RETURN(auto store, Store::Open(options));
    KVSTASH_ASSIGN_OR_RETURN(ModelId id, store->RegisterModel(model.Describe(block_tokens)));
    KVSTASH_RETURN_IF_ERROR(store->Insert(id, prompt, kv).status());
    KVSTASH_RETURN_IF_ERROR(store->Close());
  }
  row->save_ms = MsSince(start);
  row->file_bytes = DiskBytes(dir);
  KVSTASH_ASSIGN_OR_RETURN(KvCacheView target, model.NewCache(prompt.size() + 8));
  options.device_budget_bytes = 0;
  options.promote_on_hit = false;
  for (bool cold : {false, true}) {
    std::vector<double> times, opens;
    for (int r = 0; r < repeat; ++r) {
      if (cold) DropPageCache(dir);
      start = std::chrono::steady_clock::now();
      KVSTASH_ASSIGN_OR_RETURN(auto store, Store::Open(options));
      KVSTASH_ASSIGN_OR_RETURN(ModelId id, store->RegisterModel(model.Describe(block_tokens)));
      opens.push_back(MsSince(start));
      KVSTASH_ASSIGN_OR_RETURN(LoadResult loaded, store->Load(id, prompt, target));
      times.push_back(MsSince(start));
      KVSTASH_RETURN_IF_ERROR(store->Close());
      if (loaded.tokens != prompt.size()) {
        return Status::Aborted("bench naive: kvstash loaded " + std::to_string(loaded.tokens) +
                               " of " + std::to_string(prompt.size()) + " tokens");
      }
    }
    (cold ? row->load_cold_ms : row->load_ms) = Median(times);
    if (!cold) row->open_ms = Median(opens);
  }
  return Status::OK();
}

int RunNaive(const NaiveFlags& f) {
  auto lengths = ParsePromptLengths(f.prompt_tokens);
  if (!lengths.ok()) return Fail("bench", lengths.status());
  const Codec codec = ParseCodec(f.codec).value();  // checked by the flag
  auto work = TempWorkDir();
  if (!work.ok()) return Fail("bench", work.status());
  std::vector<NaiveRow> rows;
  Status status = [&]() -> Status {
    KVSTASH_ASSIGN_OR_RETURN(auto model, LoadBenchModel(f.model, *work));
    for (size_t n : *lengths) {
      const std::vector<int32_t> prompt = BenchPrompt(n, model->config().vocab_size);
      EngineOptions engine_options;
      engine_options.context = n + 8;
      KVSTASH_ASSIGN_OR_RETURN(auto engine, Engine::Create(model.get(), nullptr, engine_options));
      KVSTASH_RETURN_IF_ERROR(engine->Prefill(prompt, nullptr).status());
      NaiveRow naive{"torch::save", n}, ours{"kvstash", n};
      const std::string tag = std::to_string(n);
      KVSTASH_RETURN_IF_ERROR(
          Naive(*model, engine->cache(), n, *work + "/kv-" + tag + ".pt", f.repeat, &naive));
      KVSTASH_RETURN_IF_ERROR(Kvstash(*model, engine->cache(), prompt, *work + "/store-" + tag,
                                      codec, f.repeat, &ours));
      rows.push_back(naive);
      rows.push_back(ours);
    }
    return Status::OK();
  }();
  RemoveWorkDir(*work);
  if (!status.ok()) return Fail("bench", status);

  nlohmann::json j = nlohmann::json::array();
  if (!f.json) {
    std::printf("%-7s %-12s %10s %10s %11s %11s %10s %10s %10s\n", "prompt", "method", "bytes",
                "save", "load warm", "(open)", "load cold", "vs warm", "vs cold");
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const NaiveRow& r = rows[i];
    const NaiveRow& naive = rows[i - i % 2];  // rows come in (torch::save, kvstash) pairs
    const double warm_ratio = r.load_ms > 0 ? naive.load_ms / r.load_ms : 0;
    const double cold_ratio = r.load_cold_ms > 0 ? naive.load_cold_ms / r.load_cold_ms : 0;
    if (f.json) {
      j.push_back({{"method", r.method},
                   {"prompt_tokens", r.prompt_tokens},
                   {"file_bytes", r.file_bytes},
                   {"save_ms", r.save_ms},
                   {"load_ms", r.load_ms},
                   {"load_cold_ms", r.load_cold_ms},
                   {"open_ms", r.open_ms},
                   {"naive_over_this_load", warm_ratio},
                   {"naive_over_this_load_cold", cold_ratio}});
    } else {
      std::printf("%-7zu %-12s %10s %10s %11s %11s %10s %9.2fx %9.2fx\n", r.prompt_tokens,
                  r.method.c_str(), HumanBytes(r.file_bytes).c_str(), HumanMs(r.save_ms).c_str(),
                  HumanMs(r.load_ms).c_str(), r.open_ms > 0 ? HumanMs(r.open_ms).c_str() : "-",
                  HumanMs(r.load_cold_ms).c_str(), warm_ratio, cold_ratio);
    }
  }
  if (f.json) PrintJson(j, 2);
  return kExitOk;
}

}  // namespace

void AddBenchNaiveCommand(CLI::App& bench, Action* action) {
  auto f = std::make_shared<NaiveFlags>();
  CLI::App* cmd = bench.add_subcommand(
      "naive", "torch::save/torch::load of a prompt's KV next to a kvstash store");
  AddBenchModelFlags(cmd, &f->model);
  cmd->add_option("--prompt-tokens", f->prompt_tokens, "Comma-separated prompt lengths")
      ->capture_default_str();
  cmd->add_option("--repeat", f->repeat, "Timed loads per variant")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--codec", f->codec, "The store's block codec")
      ->check(CLI::IsMember({"none", "zstd", "zstd-planes"}))
      ->capture_default_str();
  cmd->add_flag("--json", f->json, "Print one JSON document");
  cmd->callback([f, action] { *action = [f] { return RunNaive(*f); }; });
}

}  // namespace kvstash::cli
