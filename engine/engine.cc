#include "engine/engine.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>

namespace kvstash {

namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::Create(const LlamaModel* model, Store* store,
                                               const EngineOptions& options) {
  if (options.prefill_chunk == 0 || options.block_tokens == 0) {
    return Status::InvalidArgument("engine: prefill_chunk and block_tokens must be positive");
  }
  std::unique_ptr<Engine> engine(new Engine(model, store, options));
  if (store) {
    KVSTASH_ASSIGN_OR_RETURN(engine->model_id_,
                             store->RegisterModel(model->Describe(options.block_tokens)));
  } else {
    KVSTASH_ASSIGN_OR_RETURN(engine->model_id_,
                             model->Describe(options.block_tokens).Fingerprint());
  }
  const size_t max_positions = static_cast<size_t>(model->config().max_position_embeddings);
  KVSTASH_RETURN_IF_ERROR(engine->EnsureCapacity(std::min(options.context, max_positions)));
  if (options.warmup) {
    const int32_t token = 0;  // position 0 is overwritten by the first request
    KVSTASH_RETURN_IF_ERROR(model->Forward(&token, 1, 0, engine->cache_).status());
  }
  return engine;
}

Status Engine::EnsureCapacity(size_t positions) {
  if (positions <= capacity_) return Status::OK();
  const size_t max_positions = static_cast<size_t>(model_->config().max_position_embeddings);
  if (positions > max_positions) {
    return Status::InvalidArgument("sequence of " + std::to_string(positions) +
                                   " tokens exceeds max_position_embeddings " +
                                   std::to_string(max_positions));
  }
  // Grow geometrically so a long conversation reallocates rarely.
  size_t capacity = std::min(max_positions, std::max(positions, capacity_ * 2));
  KVSTASH_ASSIGN_OR_RETURN(KvCacheView bigger, model_->NewCache(capacity));
  if (capacity_ > 0) {
    KVSTASH_RETURN_IF_ERROR(CatchTorch("grow KV cache", [&] {
      for (size_t l = 0; l < cache_.keys.size(); ++l) {
        bigger.keys[l].narrow(1, 0, capacity_).copy_(cache_.keys[l]);
        bigger.values[l].narrow(1, 0, capacity_).copy_(cache_.values[l]);
      }
      return Status::OK();
    }));
  }
  cache_ = std::move(bigger);
  capacity_ = capacity;
  return Status::OK();
}

Result<at::Tensor> Engine::Prefill(const std::vector<int32_t>& tokens, PrefillStats* stats,
                                   bool all_logits) {
  const auto start = std::chrono::steady_clock::now();
  if (tokens.empty()) return Status::InvalidArgument("prefill: empty prompt");
  KVSTASH_RETURN_IF_ERROR(EnsureCapacity(tokens.size()));
  PrefillStats st;
  st.prompt_tokens = tokens.size();
  if (store_) {
    KVSTASH_ASSIGN_OR_RETURN(LoadResult loaded, store_->Load(model_id_, tokens, cache_));
    st.reused_tokens = loaded.tokens;
    st.reused_device = loaded.device_tokens;
    st.reused_disk = loaded.disk_tokens;
    st.reused_remote = loaded.remote_tokens;
  }
  st.load_ms = MsSince(start);
  // A fully cached prompt still needs its last token's logits: stored ones,
  // else its last token runs through the model again.
  if (store_ && options_.use_stored_logits && !all_logits && st.reused_tokens == tokens.size()) {
    // The record only saves work: any failure to read it is a miss.
    Result<at::Tensor> found = store_->LoadLogits(model_id_, tokens);
    at::Tensor stored = found.ok() ? *found : at::Tensor();
    if (stored.defined()) {
      KVSTASH_RETURN_IF_ERROR(CatchTorch("move logits", [&] {
        stored = stored.to(cache_.keys[0].device());
        return Status::OK();
      }));
      st.logits_reused = true;
      st.load_ms = st.prefill_ms = MsSince(start);
      if (stats) *stats = st;
      return stored;
    }
  }
  const size_t first = std::min(st.reused_tokens, tokens.size() - 1);
  std::vector<at::Tensor> rows;
  at::Tensor logits;
  for (size_t pos = first; pos < tokens.size(); pos += options_.prefill_chunk) {
    const size_t n = std::min(options_.prefill_chunk, tokens.size() - pos);
    KVSTASH_ASSIGN_OR_RETURN(logits,
                             model_->Forward(tokens.data() + pos, static_cast<int64_t>(n),
                                             static_cast<int64_t>(pos), cache_, all_logits));
    if (all_logits) rows.push_back(logits);
  }
  st.computed_tokens = tokens.size() - first;
  if (all_logits) {
    KVSTASH_RETURN_IF_ERROR(CatchTorch("concatenate logits", [&] {
      logits = at::cat(rows, 0);
      return Status::OK();
    }));
  }
  st.prefill_ms = MsSince(start);
  if (stats) *stats = st;
  return logits;
}

bool Engine::Inserts() const { return store_ && options_.insert && !store_->options().read_only; }

Result<InsertResult> Engine::InsertPrefix(const std::vector<int32_t>& tokens) {
  if (!Inserts() || tokens.empty()) return InsertResult{};
  return store_->Insert(model_id_, tokens, cache_);
}

Status Engine::InsertLogits(const std::vector<int32_t>& tokens, const at::Tensor& logits) {
  return Inserts() ? store_->InsertLogits(model_id_, tokens, logits) : Status::OK();
}

Result<Generation> Engine::Generate(const std::vector<int32_t>& prompt,
                                    const GenerateOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  Generation gen;
  KVSTASH_RETURN_IF_ERROR(EnsureCapacity(prompt.size() + options.max_new_tokens));
  KVSTASH_ASSIGN_OR_RETURN(at::Tensor logits, Prefill(prompt, &gen.prefill));
  gen.prompt_logits = logits;
  Sampler sampler(options.sampling);
  const std::vector<int32_t>& eos = model_->config().eos_token_ids;
  std::vector<int32_t> sequence = prompt;
  for (size_t i = 0; i < options.max_new_tokens; ++i) {
    if (options.logprobs > 0 && i < options.logprobs_positions) {
      gen.logprobs.push_back(TopLogprobs(logits, options.logprobs));
    }
    const int32_t next = sampler.Next(logits);
    gen.tokens.push_back(next);
    if (i == 0) {
      gen.ttft_ms = MsSince(start);
      // Store the prompt now: after the first token, before the rest.
      KVSTASH_ASSIGN_OR_RETURN(gen.inserted, InsertPrefix(prompt));
      if (!gen.prefill.logits_reused) KVSTASH_RETURN_IF_ERROR(InsertLogits(prompt, logits));
    }
    if (options.stop_at_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) {
      gen.stopped_at_eos = true;
      break;
    }
    if (i + 1 == options.max_new_tokens) break;
    sequence.push_back(next);
    KVSTASH_ASSIGN_OR_RETURN(
        logits, model_->Forward(&next, 1, static_cast<int64_t>(sequence.size() - 1), cache_));
  }
  if (gen.tokens.empty()) {
    gen.ttft_ms = MsSince(start);
    KVSTASH_ASSIGN_OR_RETURN(gen.inserted, InsertPrefix(prompt));
  }
  // The generated tokens whose K/V are in the cache extend the stored prefix,
  // so a follow-up turn that quotes this answer reuses it too.
  if (sequence.size() > prompt.size()) {
    KVSTASH_ASSIGN_OR_RETURN(InsertResult more, InsertPrefix(sequence));
    gen.inserted.blocks_added += more.blocks_added;
    gen.inserted.tokens_stored = more.tokens_stored;
  }
  gen.total_ms = MsSince(start);
  return gen;
}

}  // namespace kvstash
