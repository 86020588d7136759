// kvstash run: one request through the warm-start engine.
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/engine.h"
#include "engine/llama_model.h"
#include "engine/tokenizer.h"
#include "gc/managed_store.h"
#include "gc/salvage.h"
#include "gc/units.h"
#include "tools/commands.h"
#include "tools/model_flags.h"

namespace kvstash::cli {

namespace {

struct RunFlags {
  std::string model, store, prompt, prompt_file, prompt_ids;
  ModelFlags model_flags;
  std::string remote, remote_token_file, pin, disk_budget, codec = "zstd-planes";
  size_t max_new_tokens = 32, context = 4096, prefill_chunk = 512;
  uint32_t block_tokens = kDefaultBlockTokens;
  int logprobs = 0, top_k = 0;
  float temperature = 0, top_p = 1;
  uint64_t seed = 0;
  bool no_store = false, json = false, no_bos = false;
};

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

Result<std::vector<int32_t>> ParseIds(const std::string& text, const std::string& path) {
  std::vector<int32_t> ids;
  std::string token;
  std::string cleaned = text;
  for (char& c : cleaned) {
    if (c == ',') c = ' ';
  }
  std::istringstream words(cleaned);
  while (words >> token) {
    char* end = nullptr;
    long v = std::strtol(token.c_str(), &end, 10);
    if (*end != '\0' || v < 0 || v > INT32_MAX) {
      return Status::InvalidArgument(path + ": '" + token + "' is not a token id");
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) return Status::InvalidArgument(path + ": no token ids");
  return ids;
}

int Run(const RunFlags& f) {
  const int inputs = !f.prompt.empty() + !f.prompt_file.empty() + !f.prompt_ids.empty();
  if (inputs != 1) {
    std::fprintf(stderr,
                 "kvstash run: give exactly one of --prompt, --prompt-file, --prompt-ids\n");
    return kExitUsage;
  }
  const auto load_start = std::chrono::steady_clock::now();
  auto load = LoadOptionsFromFlags(f.model_flags);
  if (!load.ok()) return Fail("run", load.status());
  auto model = LlamaModel::Load(f.model, *load);
  if (!model.ok()) return Fail("run", model.status());
  ReportComputeChoice(**model);

  ManagedStore managed;     // the store and, with --disk-budget, its collector
  std::string store_error;  // why this run stored nothing, for --json
  bool store_read_only = false;
  Store* store = nullptr;
  const std::string store_dir = f.no_store ? "" : ResolveStoreDir(f.store);
  if (!f.no_store) {
    StoreOptions options;
    options.path = store_dir;
    options.device = f.model_flags.device;
    options.remote = f.remote;
    auto token = ReadRemoteToken(f.remote_token_file);
    if (!token.ok()) return Fail("run", token.status());
    options.remote_token = *token;
    options.encode.codec = ParseCodec(f.codec).value();  // checked by the flag
    // One request and exit: copying blocks found on disk into device memory
    // (for later requests of this process) would only cost. It is not free:
    // the copy of each blob for the background promotion is made on the
    // load path, in fresh memory, and was most of a warm start's load (the
    // demo's 2015 tokens: 54-70 ms, 30-38 ms without; 2-core Zen 4 EPYC,
    // AVX-512, otherwise idle).
    options.promote_on_hit = false;
    if (!f.disk_budget.empty()) {
      auto budget = ParseByteSize(f.disk_budget);
      if (!budget.ok()) return Fail("run", budget.status().WithContext("--disk-budget"));
      options.disk_budget_bytes = *budget;
    }
    auto opened = OpenStoreWithGc(options);
    if (!opened.ok() && (opened.status().IsBusy() || opened.status().IsResourceExhausted())) {
      // Another process (a run, `kvstash serve`) holds the store for
      // writing, or its disk is full. Reusing what it holds is still worth
      // it: open it read-only and say that this run stores nothing, rather
      // than fail.
      std::fprintf(stderr,
                   "kvstash run: the store %s %s; using it read-only: this run reuses what is "
                   "stored but stores nothing\n",
                   store_dir.c_str(),
                   opened.status().IsBusy()
                       ? "is in use by another process"
                       : ("cannot be written (" + opened.status().message() + ")").c_str());
      options.read_only = true;
      options.disk_budget_bytes = 0;  // gc needs the write lock
      store_read_only = true;
      opened = OpenStoreWithGc(options);
    }
    if (!opened.ok() && IsSalvageable(opened.status())) {
      // RocksDB cannot open the store (a damaged MANIFEST, CURRENT or table
      // file): this run's answer does not need it. Run cold, say how to get
      // the store back, and leave it as it is for that.
      store_error = opened.status().ToString();
      std::fprintf(stderr,
                   "kvstash run: the store %s is damaged (%s); running without it. "
                   "`kvstash verify --repair --store %s` salvages its blocks into a new store\n",
                   store_dir.c_str(), store_error.c_str(), store_dir.c_str());
    } else if (!opened.ok()) {
      return Fail("run", opened.status());
    } else {
      managed = std::move(opened).value();
      store = managed.store();
    }
  }
  EngineOptions engine_options;
  engine_options.context = f.context;
  engine_options.prefill_chunk = f.prefill_chunk;
  engine_options.block_tokens = f.block_tokens;
  auto engine = Engine::Create(model->get(), store, engine_options);
  if (!engine.ok()) return Fail("run", engine.status());
  const double model_load_ms = MsSince(load_start);

  // The request starts here: tokenizing is part of it.
  const auto request_start = std::chrono::steady_clock::now();
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<int32_t> prompt;
  // Needed for a text prompt; with --prompt-ids only to print the output text.
  auto loaded_tokenizer = Tokenizer::FromFile(f.model + "/tokenizer.json");
  if (!loaded_tokenizer.ok() && f.prompt_ids.empty()) {
    return Fail("run", loaded_tokenizer.status());
  }
  if (loaded_tokenizer.ok()) tokenizer = std::move(loaded_tokenizer).value();
  if (!f.prompt_ids.empty()) {
    auto text = ReadTextFile(f.prompt_ids);
    if (!text.ok()) return Fail("run", text.status());
    auto ids = ParseIds(*text, f.prompt_ids);
    if (!ids.ok()) return Fail("run", ids.status());
    prompt = std::move(ids).value();
  } else {
    std::string text = f.prompt;
    if (!f.prompt_file.empty()) {
      auto read = ReadTextFile(f.prompt_file);
      if (!read.ok()) return Fail("run", read.status());
      text = std::move(read).value();
    }
    auto ids = tokenizer->Encode(text);
    if (!ids.ok()) return Fail("run", ids.status());
    prompt = std::move(ids).value();
    const auto& bos = (*model)->config().bos_token_id;
    if (bos && !f.no_bos && (prompt.empty() || prompt[0] != *bos))
      prompt.insert(prompt.begin(), *bos);
  }
  const double tokenize_ms = MsSince(request_start);

  GenerateOptions gen_options;
  gen_options.max_new_tokens = f.max_new_tokens;
  gen_options.logprobs = f.logprobs;
  gen_options.sampling.temperature = f.temperature;
  gen_options.sampling.top_k = f.top_k;
  gen_options.sampling.top_p = f.top_p;
  gen_options.sampling.seed = f.seed;
  auto gen = (*engine)->Generate(prompt, gen_options);
  if (!gen.ok()) return Fail("run", gen.status());
  const double ttft_ms = tokenize_ms + gen->ttft_ms;
  const double total_ms = tokenize_ms + gen->total_ms;
  const std::string text = tokenizer ? tokenizer->Decode(gen->tokens) : "";

  if (store && !f.pin.empty()) {
    Status pinned = store->Pin(f.pin, (*engine)->model_id(), prompt);  // flushes first
    if (!pinned.ok()) return Fail("run", pinned.WithContext("--pin " + f.pin));
  }
  if (store) {
    // Flushes: what this run stored is durable. A store that cannot take it
    // (a full disk) costs the next run a prefill, not this run its output.
    Status closed = managed.Close();
    if (!closed.ok()) {
      store_error = closed.ToString();
      std::fprintf(stderr, "kvstash run: warning: this run's KV was not stored: %s\n",
                   store_error.c_str());
    }
  }
  const PrefillStats& p = gen->prefill;
  const double decode_s = (gen->total_ms - gen->ttft_ms) / 1000;
  if (f.json) {
    nlohmann::json logprobs = nlohmann::json::array();
    for (const auto& position : gen->logprobs) {
      nlohmann::json row = nlohmann::json::array();
      for (const auto& lp : position) row.push_back({{"id", lp.id}, {"logprob", lp.logprob}});
      logprobs.push_back(row);
    }
    nlohmann::json j = {
        {"model_id", (*engine)->model_id().ToHex()},
        {"store", store_dir.empty() ? nlohmann::json(nullptr) : nlohmann::json(store_dir)},
        {"store_read_only", store_read_only},
        {"model_load_ms", model_load_ms},
        {"prompt_tokens", p.prompt_tokens},
        {"reused_tokens", p.reused_tokens},
        {"reused_from",
         {{"device", p.reused_device}, {"disk", p.reused_disk}, {"remote", p.reused_remote}}},
        {"computed_tokens", p.computed_tokens},
        {"logits_from_store", p.logits_reused},
        {"tokenize_ms", tokenize_ms},
        {"load_ms", p.load_ms},
        {"prefill_ms", p.prefill_ms},
        {"ttft_ms", ttft_ms},
        {"total_ms", total_ms},
        {"generated_tokens", gen->tokens.size()},
        {"tokens", gen->tokens},
        {"stopped_at_eos", gen->stopped_at_eos},
        {"decode_tokens_per_s", decode_s > 0 && gen->tokens.size() > 1
                                    ? static_cast<double>(gen->tokens.size() - 1) / decode_s
                                    : 0.0},
        {"blocks_stored", gen->inserted.blocks_added},
        {"store_error",
         store_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(store_error)},
        {"text", text},
        {"logprobs", logprobs},
    };
    j.update(ComputeJson(**model));
    // Generated bytes need not be valid UTF-8: PrintJson prints U+FFFD for them.
    PrintJson(j);
    return kExitOk;
  }
  std::printf("%s\n", text.c_str());
  std::fprintf(stderr,
               "prompt %zu tokens, reused %zu (device %zu, disk %zu, remote %zu), computed %zu%s | "
               "prefill %s, TTFT %s | %zu tokens in %s | model load %s\n",
               p.prompt_tokens, p.reused_tokens, p.reused_device, p.reused_disk, p.reused_remote,
               p.computed_tokens, p.logits_reused ? " (logits from the store)" : "",
               HumanMs(p.prefill_ms).c_str(), HumanMs(ttft_ms).c_str(), gen->tokens.size(),
               HumanMs(total_ms).c_str(), HumanMs(model_load_ms).c_str());
  return kExitOk;
}

}  // namespace

void AddRunCommand(CLI::App& app, Action* action) {
  auto f = std::make_shared<RunFlags>();
  CLI::App* cmd = app.add_subcommand("run", "Generate from a prompt, reusing stored KV");
  cmd->add_option("--model", f->model, "Hugging Face model directory")->required();
  cmd->add_option("--store", f->store,
                  "Store directory (default $KVSTASH_DIR, $XDG_CACHE_HOME/kvstash or "
                  "~/.cache/kvstash)");
  cmd->add_option("--prompt", f->prompt, "Prompt text");
  cmd->add_option("--prompt-file", f->prompt_file, "File holding the prompt text");
  cmd->add_option("--prompt-ids", f->prompt_ids,
                  "File of token ids (whitespace- or comma-separated) instead of text");
  cmd->add_option("--max-new-tokens", f->max_new_tokens, "Tokens to generate")
      ->check(WholeNumber() & CLI::Range(0, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--logprobs", f->logprobs,
                  "Top-N next-token log-probabilities at each generated position")
      ->check(CLI::Range(0, 100));
  cmd->add_option("--temperature", f->temperature, "0: greedy")
      ->check(FiniteNumber() & CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--top-k", f->top_k, "Sample among the k most likely (0: all)")
      ->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--top-p", f->top_p, "Nucleus sampling mass")
      ->check(FiniteNumber() & CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", f->seed, "Sampling seed");
  AddModelFlags(cmd, &f->model_flags);
  cmd->add_option("--device", f->model_flags.device, "auto, cpu or cuda[:N]")
      ->capture_default_str();
  cmd->add_option("--context", f->context, "KV cache positions to allocate up front")
      ->check(WholeNumber() & CLI::Range(1, 1 << 22))
      ->capture_default_str();
  cmd->add_option("--prefill-chunk", f->prefill_chunk, "Tokens per prefill forward pass")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--block-tokens", f->block_tokens, "Tokens per stored KV block")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--remote", f->remote,
                  "Remote tier to share KV with: HOST:PORT of a `kvstash serve` peer, or "
                  "redis://[:PASSWORD@]HOST:PORT[,HOST:PORT...] of a Redis Cluster (with "
                  "--store none: device memory plus the remote)");
  cmd->add_option("--remote-token-file", f->remote_token_file,
                  "File holding the peer's shared secret or the Redis password");
  cmd->add_option("--pin", f->pin,
                  "After the run, pin the prompt's stored prefix under NAME so gc keeps it "
                  "(kvstash ls --pinned, kvstash unpin)");
  cmd->add_option("--codec", f->codec,
                  "How new blocks are stored: zstd-planes (smallest), zstd, or none (1.46x the "
                  "bytes of zstd-planes on bf16 KV, loads about 2x faster)")
      ->check(CLI::IsMember({"none", "zstd", "zstd-planes"}))
      ->capture_default_str();
  cmd->add_option("--disk-budget", f->disk_budget,
                  "Hold the store's blocks to SIZE (500M, 2G) with background gc; pinned "
                  "prefixes are kept");
  cmd->add_flag("--no-store", f->no_store, "Do not use a store (cold prefill)");
  cmd->add_flag("--no-bos", f->no_bos, "Do not prepend the model's BOS token");
  cmd->add_flag("--json", f->json, "Print one JSON object");
  cmd->callback([f, action] { *action = [f] { return Run(*f); }; });
}

}  // namespace kvstash::cli
