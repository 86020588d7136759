// LlamaModel: a Llama-family decoder (Llama, Qwen2, Mistral) on libtorch,
// loaded from a Hugging Face model directory.
//
// The KV cache (and what the store keeps) has the checkpoint's dtype. The
// arithmetic has the compute dtype (engine/compute_dtype.h): by default the
// KV dtype where that is fast, f32 on CPUs whose bf16 matmul is not
// accelerated. K/V are computed in the compute dtype, rounded into the cache,
// and attention always reads them back from the cache, so a warm start (K/V
// from the store) computes exactly what a cold one does. Weights are
// converted to the compute dtype once, at load; weights whose dtype already
// matches are used in place from the memory-mapped safetensors (no copy).
//
// Thread-safety: Forward() calls on distinct caches may run concurrently;
// libtorch parallelizes each call internally.
#ifndef KVSTASH_ENGINE_LLAMA_MODEL_H_
#define KVSTASH_ENGINE_LLAMA_MODEL_H_

#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/compute_dtype.h"
#include "engine/model_config.h"
#include "serde/block_codec.h"
#include "serde/hash128.h"
#include "serde/model_id.h"
#include "serde/status.h"
#include "store/kv_tensors.h"

namespace kvstash {

class SafetensorsModel;

struct ModelLoadOptions {
  // KV cache and stored block dtype. Default: the checkpoint's.
  std::optional<DType> kv_dtype;
  // Dtype of the weights and the arithmetic; f16 only on CUDA. Default:
  // nullopt, auto (ChooseComputeDType: may run a ~5-60 ms matmul probe).
  std::optional<DType> compute_dtype;
  // Device to compute on: "cpu", "cuda", "auto" (CUDA when available).
  // Default: "auto".
  std::string device = "auto";
  // Threads for libtorch's CPU kernels; 0: all cores. Default: 0.
  int threads = 0;
};

class LlamaModel {
 public:
  // Reads config.json and the safetensors weights (single file or sharded)
  // of `dir`, checks every tensor's presence and shape, and digests the
  // weights and tokenizer.json for the model's identity. Errors name the
  // file and tensor.
  static Result<std::unique_ptr<LlamaModel>> Load(const std::string& dir,
                                                  const ModelLoadOptions& options);
  ~LlamaModel();

  const ModelConfig& config() const { return config_; }
  DType kv_dtype() const { return kv_dtype_; }
  DType compute_dtype() const { return compute_.dtype; }
  // How the compute dtype was chosen (with the probe's figures under auto).
  const ComputeChoice& compute_choice() const { return compute_; }
  // Weights copied into the compute dtype (or onto the device) at load:
  // their bytes and the time it took; 0 when every weight was used in place.
  uint64_t converted_weight_bytes() const { return converted_weight_bytes_; }
  double weights_convert_ms() const { return weights_convert_ms_; }
  c10::Device device() const;
  // Shape of this model's KV blocks.
  BlockShape kv_shape() const;
  const Hash128& weights_digest() const { return weights_digest_; }
  // xxh3-128 of tokenizer.json's bytes; zero if the directory has none.
  const Hash128& tokenizer_digest() const { return tokenizer_digest_; }

  // Everything that changes KV bytes, for the store's ModelId.
  ModelDescription Describe(uint32_t block_tokens) const;

  // A KV cache of `capacity` positions, allocated and touched once.
  Result<KvCacheView> NewCache(size_t capacity) const;

  // Computes tokens [pos, pos + n) of a sequence whose K/V for [0, pos) are
  // in `cache`: writes their K/V into cache positions [pos, pos + n) and
  // returns f32 logits, [n, vocab] if `all_logits`, else [1, vocab] for the
  // last token. REQUIRES: n > 0, capacity >= pos + n.
  Result<at::Tensor> Forward(const int32_t* tokens, int64_t n, int64_t pos,
                             const KvCacheView& cache, bool all_logits = false) const;

 private:
  struct Layer {
    at::Tensor attn_norm, wq, bq, wk, bk, wv, bv, wo;
    at::Tensor mlp_norm, w_gate, w_up, w_down;
  };
  LlamaModel() = default;
  Status LoadWeights(const ModelLoadOptions& options);
  at::Tensor RmsNorm(const at::Tensor& x, const at::Tensor& weight) const;
  at::Tensor Attention(const Layer& layer, size_t index, const at::Tensor& h, int64_t pos,
                       const at::Tensor& cos, const at::Tensor& sin,
                       const KvCacheView& cache) const;

  std::string dir_;
  ModelConfig config_;
  DType kv_dtype_ = DType::kF32;
  ComputeChoice compute_;
  uint64_t converted_weight_bytes_ = 0;
  double weights_convert_ms_ = 0;
  std::unique_ptr<SafetensorsModel> weights_;
  Hash128 weights_digest_;
  Hash128 tokenizer_digest_;
  at::Tensor embed_, final_norm_, lm_head_, inv_freq_;
  std::vector<Layer> layers_;
};

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_LLAMA_MODEL_H_
