// Engine: prefill that asks the store first, and generation.
//
// For each request the engine matches the prompt against the store, loads the
// cached prefix's K/V straight into its own KV cache (allocated and touched
// once, sized to the context), runs the model only on the remaining tokens in
// chunks with positions continuing after the prefix, and inserts the new
// blocks into the store after the first token is out (so storing never
// delays it). When the whole prompt is cached, its next-token logits come
// from the store's logits record of that prompt, so no forward pass runs;
// without one (or with use_stored_logits off) the last token is recomputed
// to get them (its K/V are rewritten with identical values).
//
// Thread-safety: an Engine serves one request at a time (it owns one cache).
#ifndef KVSTASH_ENGINE_ENGINE_H_
#define KVSTASH_ENGINE_ENGINE_H_

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/llama_model.h"
#include "engine/sampler.h"
#include "store/store.h"

namespace kvstash {

struct EngineOptions {
  // Positions the KV cache holds; it grows if a request needs more.
  // Default: 4096 (capped at the model's max_position_embeddings).
  size_t context = 4096;
  // Tokens per forward pass during prefill. Default: 512.
  size_t prefill_chunk = 512;
  // Tokens per stored KV block. Default: 64.
  uint32_t block_tokens = kDefaultBlockTokens;
  // Insert the prompt's (and the generation's) K/V into the store. Default: true.
  bool insert = true;
  // A fully cached prompt takes its next-token logits from the store's
  // logits record when there is one (Store::LoadLogits), instead of running
  // its last token through the model again. Default: true.
  bool use_stored_logits = true;
  // Run one single-token forward pass at creation, so the first request does
  // not pay for oneDNN's kernel creation (about a second for the 0.5B shape
  // here) -- the one-token pass a fully cached prompt needs. Default: true.
  bool warmup = true;
};

struct PrefillStats {
  size_t prompt_tokens = 0;
  size_t reused_tokens = 0;  // positions loaded from the store
  size_t reused_device = 0;
  size_t reused_disk = 0;
  size_t reused_remote = 0;
  size_t computed_tokens = 0;  // positions run through the model
  bool logits_reused = false;  // the last token's logits came from the store
  double load_ms = 0;          // matching and loading the cached prefix
  double prefill_ms = 0;       // from the request to the last prompt logits
};

struct GenerateOptions {
  size_t max_new_tokens = 32;
  SamplingOptions sampling;
  // Top-N log-probabilities at each of the first `logprobs_positions`
  // generated positions; 0: none. Default: 0.
  int logprobs = 0;
  size_t logprobs_positions = SIZE_MAX;
  bool stop_at_eos = true;
};

struct Generation {
  PrefillStats prefill;
  double ttft_ms = 0;   // from the request to the first generated token
  double total_ms = 0;  // from the request to the last generated token
  std::vector<int32_t> tokens;
  at::Tensor prompt_logits;  // f32 [1, vocab]: the next-token logits after the prompt
  std::vector<std::vector<TokenLogprob>> logprobs;
  bool stopped_at_eos = false;
  InsertResult inserted;
};

class Engine {
 public:
  // `store` may be null (no reuse). REQUIRES: model (and store) outlive the engine.
  static Result<std::unique_ptr<Engine>> Create(const LlamaModel* model, Store* store,
                                                const EngineOptions& options);

  const ModelId& model_id() const { return model_id_; }
  const KvCacheView& cache() const { return cache_; }

  // Fills cache positions [0, tokens.size()) and returns the f32 logits of
  // the last prompt token, [1, vocab] (or [n, vocab] for every position
  // computed, if `all_logits`; then positions loaded from the store have
  // no row).
  Result<at::Tensor> Prefill(const std::vector<int32_t>& tokens, PrefillStats* stats,
                             bool all_logits = false);

  Result<Generation> Generate(const std::vector<int32_t>& prompt, const GenerateOptions& options);

 private:
  Engine(const LlamaModel* model, Store* store, const EngineOptions& options)
      : model_(model), store_(store), options_(options) {}
  Status EnsureCapacity(size_t positions);
  // Whether requests store what they computed (a store, insert on, writable).
  bool Inserts() const;
  Result<InsertResult> InsertPrefix(const std::vector<int32_t>& tokens);
  // Keeps the logits after `tokens` in the store (Store::InsertLogits).
  Status InsertLogits(const std::vector<int32_t>& tokens, const at::Tensor& logits);

  const LlamaModel* model_;
  Store* store_;
  EngineOptions options_;
  ModelId model_id_;
  KvCacheView cache_;
  size_t capacity_ = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_ENGINE_H_
