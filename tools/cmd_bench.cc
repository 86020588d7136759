// kvstash bench ttft: time to first token of one prompt, cold and warm from
// each tier (device memory, disk with a warm and a dropped page cache, a
// loopback `kvstash serve` peer and, with --redis, a Redis Cluster), all
// measured side by side in one process.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

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
#include "store/kv_tensors.h"
#include "store/remote/server.h"
#include "tools/bench_util.h"
#include "tools/commands.h"

namespace kvstash::cli {

namespace {

struct TtftFlags {
  BenchModelFlags model;
  std::string prompt_tokens = "512,2048";
  int repeat = 3;
  bool json = false;
  std::string redis;  // a Redis Cluster for the `redis` path; empty: no such path
};

struct PathResult {
  PathResult(std::string name, size_t tokens) : path(std::move(name)), prompt_tokens(tokens) {}
  std::string path;
  size_t prompt_tokens = 0;
  std::vector<double> ttft, prefill, load;
  std::vector<double> open;  // opening the store, for paths that open one per request
  size_t reused_tokens = 0, computed_tokens = 0;
  uint64_t kv_bytes_loaded = 0;
  bool logits_reused = false;
};

// One timed request, one token: a fresh engine on `store` (null: cold)
// unless `reuse`. `stored_logits`: take a fully cached prompt's logits from
// the store (else its last token runs through the model). `logits`:
// receives the prompt's next-token logits.
Status Request(const LlamaModel& model, Store* store, const std::vector<int32_t>& prompt,
               PathResult* out, Engine* reuse = nullptr, bool stored_logits = true,
               at::Tensor* logits = nullptr) {
  BenchRequest request;
  request.use_stored_logits = stored_logits;  // the timed requests only read
  KVSTASH_ASSIGN_OR_RETURN(Generation gen, RunBenchRequest(model, store, prompt, request, reuse));
  out->ttft.push_back(gen.ttft_ms);
  out->prefill.push_back(gen.prefill.prefill_ms);
  out->load.push_back(gen.prefill.load_ms);
  out->reused_tokens = gen.prefill.reused_tokens;
  out->computed_tokens = gen.prefill.computed_tokens;
  out->kv_bytes_loaded = model.kv_shape().RawBytes(gen.prefill.reused_tokens);
  out->logits_reused = gen.prefill.logits_reused;
  if (logits) *logits = gen.prompt_logits;
  return Status::OK();
}

// The floor of any load: the prompt's raw KV bytes (uncompressed, as
// llama.cpp's state file or torch::save holds them) read back from one plain
// file with pread into a reused buffer, page cache warm and dropped.
struct FileReadLimit {
  size_t prompt_tokens = 0;
  uint64_t bytes = 0;
  std::vector<double> warm, cold;
};

Status MeasureFileRead(const KvCacheView& kv, const BlockShape& shape, size_t length,
                       const std::string& file, int repeat, FileReadLimit* out) {
  std::vector<std::string> parts(1);
  KVSTASH_ASSIGN_OR_RETURN(at::Tensor raw, GatherBlock(kv, shape, 0, length, c10::Device("cpu")));
  KVSTASH_RETURN_IF_ERROR(CatchTorch("raw KV bytes", [&] {
    parts[0].assign(static_cast<const char*>(raw.data_ptr()), raw.nbytes());
    return Status::OK();
  }));
  KVSTASH_RETURN_IF_ERROR(WriteFileSynced(file, parts));
  out->prompt_tokens = length;
  out->bytes = parts[0].size();
  std::string buf(parts[0].size(), '\0');  // touched once, as a KV cache is
  const auto read = [](size_t, const std::string&) { return Status::OK(); };
  for (int r = 0; r < repeat; ++r) {
    for (bool cold : {false, true}) {
      if (cold) DropPageCache(file);
      const auto start = std::chrono::steady_clock::now();
      KVSTASH_RETURN_IF_ERROR(ReadParts(file, parts, &buf, read));
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      (cold ? out->cold : out->warm).push_back(ms);
    }
  }
  std::remove(file.c_str());
  return Status::OK();
}

// Measures every path for one prompt length.
Status MeasurePaths(const LlamaModel& model, const TtftFlags& f, size_t length,
                    const std::string& work, std::vector<PathResult>* results,
                    std::vector<FileReadLimit>* limits) {
  const std::vector<int32_t> prompt = BenchPrompt(length, model.config().vocab_size);
  const std::string tag = std::to_string(length);
  const std::string disk_dir = work + "/disk-" + tag, server_dir = work + "/server-" + tag;
  const uint32_t block_tokens = EngineOptions().block_tokens;

  // Cold: one engine without a store; its cache then holds the prompt's K/V,
  // which is inserted into every store (no extra prefill).
  PathResult cold{"cold", length};
  EngineOptions cold_options;
  cold_options.context = length + 8;
  KVSTASH_ASSIGN_OR_RETURN(auto cold_engine, Engine::Create(&model, nullptr, cold_options));
  at::Tensor logits;
  for (int r = 0; r < f.repeat; ++r) {
    KVSTASH_RETURN_IF_ERROR(
        Request(model, nullptr, prompt, &cold, cold_engine.get(), true, &logits));
  }
  const KvCacheView& kv = cold_engine->cache();
  FileReadLimit limit;
  KVSTASH_RETURN_IF_ERROR(MeasureFileRead(kv, model.kv_shape(), length,
                                          work + "/raw-" + tag + ".kv", f.repeat, &limit));
  limits->push_back(limit);

  KVSTASH_ASSIGN_OR_RETURN(auto device_store, OpenBenchStore("", 1ull << 30, f.model.load.device));
  KVSTASH_ASSIGN_OR_RETURN(auto disk_store,
                           OpenBenchStore(disk_dir, 1ull << 30, f.model.load.device));
  KVSTASH_ASSIGN_OR_RETURN(auto server_store,
                           OpenBenchStore(server_dir, 1ull << 30, f.model.load.device));
  // A Redis Cluster, filled by one store's background writer (--redis).
  std::unique_ptr<Store> redis_store;
  if (!f.redis.empty()) {
    KVSTASH_ASSIGN_OR_RETURN(redis_store,
                             OpenBenchStore("", 1ull << 30, f.model.load.device, f.redis));
  }
  std::vector<Store*> fill = {device_store.get(), disk_store.get(), server_store.get()};
  if (redis_store) fill.push_back(redis_store.get());
  for (Store* s : fill) {
    KVSTASH_ASSIGN_OR_RETURN(ModelId id, s->RegisterModel(model.Describe(block_tokens)));
    KVSTASH_ASSIGN_OR_RETURN(InsertResult inserted, s->Insert(id, prompt, kv));
    KVSTASH_RETURN_IF_ERROR(s->InsertLogits(id, prompt, logits));
    if (inserted.tokens_stored != length) {
      return Status::Aborted("bench: stored " + std::to_string(inserted.tokens_stored) + " of " +
                             std::to_string(length) + " tokens");
    }
    KVSTASH_RETURN_IF_ERROR(s->Flush());
  }
  cold_engine.reset();
  KVSTASH_RETURN_IF_ERROR(disk_store->Close());
  disk_store.reset();

  PathResult device{"device", length};
  for (int r = 0; r < f.repeat; ++r) {
    KVSTASH_RETURN_IF_ERROR(Request(model, device_store.get(), prompt, &device));
  }
  device_store.reset();

  // Disk through a freshly opened store (no device tier), page cache warm,
  // then dropped before each open; with the page cache warm, the KV alone
  // (the last token runs through the model again for its logits); and
  // through a store opened read-only, as a process that only loads would.
  PathResult disk{"disk", length}, disk_cold{"disk-cold-cache", length};
  PathResult disk_kv{"disk-kv-only", length}, disk_ro{"disk-read-only", length};
  for (PathResult* p : {&disk, &disk_cold, &disk_kv, &disk_ro}) {
    for (int r = 0; r < f.repeat; ++r) {
      if (p == &disk_cold) DropPageCache(disk_dir);
      const auto open_start = std::chrono::steady_clock::now();
      KVSTASH_ASSIGN_OR_RETURN(auto store,
                               OpenBenchStore(disk_dir, 0, f.model.load.device, "", p == &disk_ro));
      p->open.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - open_start)
              .count());
      KVSTASH_RETURN_IF_ERROR(Request(model, store.get(), prompt, p, nullptr, p != &disk_kv));
      KVSTASH_RETURN_IF_ERROR(store->Close());
    }
  }

  // A loopback peer serving a separate store's disk tier; a fresh client
  // store (device memory only) for every request.
  ServerOptions server_options;
  server_options.port = 0;
  KVSTASH_ASSIGN_OR_RETURN(auto server, Server::Start(server_store->disk(), server_options));
  PathResult remote{"remote", length};
  const std::string peer = "127.0.0.1:" + std::to_string(server->port());
  for (int r = 0; r < f.repeat; ++r) {
    KVSTASH_ASSIGN_OR_RETURN(auto client,
                             OpenBenchStore("", 1ull << 30, f.model.load.device, peer));
    KVSTASH_RETURN_IF_ERROR(Request(model, client.get(), prompt, &remote));
    KVSTASH_RETURN_IF_ERROR(client->Close());
  }
  server->Stop();
  server.reset();
  KVSTASH_RETURN_IF_ERROR(server_store->Close());

  for (PathResult* p : {&cold, &device, &disk, &disk_cold, &disk_kv, &disk_ro, &remote}) {
    results->push_back(*p);
  }
  if (f.redis.empty()) return Status::OK();

  // The cluster: a fresh client store (device memory only) for every
  // request, as a process on another host would open it.
  if (redis_store->Stats().remote_put_errors > 0) {
    return Status::IOError("bench: puts to " + f.redis + " failed");
  }
  redis_store.reset();
  PathResult redis{"redis", length};
  for (int r = 0; r < f.repeat; ++r) {
    KVSTASH_ASSIGN_OR_RETURN(auto client,
                             OpenBenchStore("", 1ull << 30, f.model.load.device, f.redis));
    KVSTASH_RETURN_IF_ERROR(Request(model, client.get(), prompt, &redis));
    KVSTASH_RETURN_IF_ERROR(client->Close());
  }
  results->push_back(redis);
  return Status::OK();
}

int RunTtft(const TtftFlags& f) {
  auto lengths = ParsePromptLengths(f.prompt_tokens);
  if (!lengths.ok()) return Fail("bench", lengths.status());
  auto work = TempWorkDir();
  if (!work.ok()) return Fail("bench", work.status());
  std::unique_ptr<LlamaModel> model;
  std::vector<PathResult> results;
  std::vector<FileReadLimit> limits;
  Status status = [&]() -> Status {
    KVSTASH_ASSIGN_OR_RETURN(model, LoadBenchModel(f.model, *work));
    for (size_t length : *lengths) {
      KVSTASH_RETURN_IF_ERROR(MeasurePaths(*model, f, length, *work, &results, &limits));
    }
    return Status::OK();
  }();
  RemoveWorkDir(*work);
  if (!status.ok()) return Fail("bench", status);

  std::vector<BenchRow> rows;
  double cold_median = 0;
  for (const PathResult& p : results) {
    BenchRow row;
    row.path = p.path;
    row.prompt_tokens = p.prompt_tokens;
    row.ttft_median = Median(p.ttft);
    row.ttft_min = *std::min_element(p.ttft.begin(), p.ttft.end());
    row.ttft_max = *std::max_element(p.ttft.begin(), p.ttft.end());
    row.prefill_ms = Median(p.prefill);
    row.load_ms = Median(p.load);
    row.open_ms = Median(p.open);
    row.reused_tokens = p.reused_tokens;
    row.computed_tokens = p.computed_tokens;
    row.kv_bytes_loaded = p.kv_bytes_loaded;
    row.logits_reused = p.logits_reused;
    if (p.path == "cold") cold_median = row.ttft_median;
    row.speedup = row.ttft_median > 0 ? cold_median / row.ttft_median : 0;
    rows.push_back(row);
  }
  const std::string model_name = BenchModelName(f.model);
  const std::string dtype = DTypeName(model->kv_dtype());
  if (f.json) {
    nlohmann::json j = {{"model", model_name},
                        {"dtype", dtype},
                        {"repeat", f.repeat},
                        {"threads", f.model.load.threads},
                        {"results", nlohmann::json::array()}};
    j.update(ComputeJson(*model));
    for (const BenchRow& r : rows) j["results"].push_back(RowJson(r));
    j["limits"] = nlohmann::json::array();
    for (const FileReadLimit& l : limits) {
      j["limits"].push_back({{"prompt_tokens", l.prompt_tokens},
                             {"raw_bytes", l.bytes},
                             {"file_read_ms", Median(l.warm)},
                             {"file_read_cold_ms", Median(l.cold)}});
    }
    PrintJson(j, 2);
  } else {
    std::printf("model %s, KV %s, compute %s, %d repeat(s)\n", model_name.c_str(), dtype.c_str(),
                DTypeName(model->compute_dtype()), f.repeat);
    PrintTable(rows);
    for (const FileReadLimit& l : limits) {
      std::printf(
          "limit %zu tokens: the raw KV (%s) read from one plain file in %s (page cache "
          "dropped: %s)\n",
          l.prompt_tokens, HumanBytes(l.bytes).c_str(), HumanMs(Median(l.warm)).c_str(),
          HumanMs(Median(l.cold)).c_str());
    }
  }
  return kExitOk;
}

}  // namespace

void AddBenchCommand(CLI::App& app, Action* action) {
  CLI::App* bench = app.add_subcommand(
      "bench", "Measure warm starts, store throughput and a torch::save baseline");
  bench->require_subcommand(1);
  auto f = std::make_shared<TtftFlags>();
  CLI::App* ttft = bench->add_subcommand(
      "ttft", "Time to first token: cold, and warm from device, disk and a loopback peer");
  AddBenchModelFlags(ttft, &f->model);
  ttft->add_option("--prompt-tokens", f->prompt_tokens, "Comma-separated prompt lengths")
      ->capture_default_str();
  ttft->add_option("--repeat", f->repeat, "Timed requests per path")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  ttft->add_option("--device", f->model.load.device, "auto, cpu or cuda[:N]")
      ->capture_default_str();
  ttft->add_flag("--json", f->json, "Print one JSON document");
  ttft->add_option("--redis", f->redis,
                   "Also measure a `redis` path through this Redis Cluster "
                   "(redis://HOST:PORT[,...]; scripts/redis-cluster.sh start prints one)");
  ttft->callback([f, action] { *action = [f] { return RunTtft(*f); }; });
  AddBenchNaiveCommand(*bench, action);
  AddBenchStoreCommand(*bench, action);
  AddBenchWorkloadsCommand(*bench, action);
  AddBenchScaleCommand(*bench, action);
}

}  // namespace kvstash::cli
