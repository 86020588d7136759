#include "engine/llama_model.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "engine/safetensors.h"

namespace kvstash {

namespace {

// Bumped whenever the decoder's numerics change, so KV computed by an older
// kvstash is never served to a newer one.
constexpr char kEngineNumerics[] = "kvstash-llama/1";

std::string Dims(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string FormatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// Inverse RoPE frequencies, with Llama-3 scaling when configured (as in
// transformers' _compute_llama3_parameters).
std::vector<float> InverseFrequencies(const ModelConfig& c) {
  const int64_t half = c.head_dim / 2;
  std::vector<float> inv(half);
  for (int64_t i = 0; i < half; ++i) {
    double f = 1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / c.head_dim);
    if (c.rope_scaling.type == "llama3") {
      const RopeScaling& rs = c.rope_scaling;
      const double old_len = static_cast<double>(rs.original_max_position_embeddings);
      const double low_wavelen = old_len / rs.low_freq_factor;
      const double high_wavelen = old_len / rs.high_freq_factor;
      const double wavelen = 2 * M_PI / f;
      if (wavelen > low_wavelen) {
        f = f / rs.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth =
            (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        f = (1 - smooth) * f / rs.factor + smooth * f;
      }
    }
    inv[i] = static_cast<float>(f);
  }
  return inv;
}

at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

Result<Hash128> DigestFileIfPresent(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Hash128{};
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return Status::IOError("read " + path);
  return Xxh3Hash128(ss.str());
}

}  // namespace

LlamaModel::~LlamaModel() = default;

c10::Device LlamaModel::device() const { return embed_.device(); }

BlockShape LlamaModel::kv_shape() const {
  return BlockShape{static_cast<uint32_t>(config_.num_layers),
                    static_cast<uint32_t>(config_.num_kv_heads),
                    static_cast<uint32_t>(config_.head_dim), kv_dtype_};
}

Result<std::unique_ptr<LlamaModel>> LlamaModel::Load(const std::string& dir,
                                                     const ModelLoadOptions& options) {
  std::unique_ptr<LlamaModel> model(new LlamaModel());
  model->dir_ = dir;
  KVSTASH_ASSIGN_OR_RETURN(model->config_, ModelConfig::FromFile(dir + "/config.json"));
  KVSTASH_ASSIGN_OR_RETURN(model->weights_, SafetensorsModel::Open(dir));
  // Reading every byte also faults the mapped weights in now, at load, rather
  // than during the first request.
  KVSTASH_ASSIGN_OR_RETURN(model->weights_digest_, model->weights_->WeightsDigest());
  KVSTASH_ASSIGN_OR_RETURN(model->tokenizer_digest_, DigestFileIfPresent(dir + "/tokenizer.json"));
  KVSTASH_RETURN_IF_ERROR(model->LoadWeights(options));
  return model;
}

Status LlamaModel::LoadWeights(const ModelLoadOptions& options) {
  const ModelConfig& c = config_;
  kv_dtype_ = options.kv_dtype.value_or(c.dtype);
  return CatchTorch("load weights", [&]() -> Status {
    c10::Device device("cpu");
    if (options.device == "auto") {
      if (at::hasCUDA()) device = c10::Device(c10::DeviceType::CUDA, 0);
    } else {
      device = c10::Device(options.device);
    }
    if (options.threads > 0) {
      at::set_num_threads(options.threads);
    } else {
      at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    }
    // After the thread count: the probe measures the kernels as they will run.
    KVSTASH_ASSIGN_OR_RETURN(compute_,
                             ChooseComputeDType(options.compute_dtype, kv_dtype_, device.is_cpu()));
    KVSTASH_ASSIGN_OR_RETURN(c10::ScalarType compute, ToScalarType(compute_.dtype));
    const auto convert_start = std::chrono::steady_clock::now();

    auto get = [&](const std::string& name, std::vector<int64_t> shape) -> Result<at::Tensor> {
      KVSTASH_ASSIGN_OR_RETURN(TensorView v, weights_->Get(name));
      if (v.shape != shape) {
        return Status::InvalidArgument("tensor '" + name + "' has shape " + Dims(v.shape) +
                                       ", config.json implies " + Dims(shape));
      }
      KVSTASH_ASSIGN_OR_RETURN(c10::ScalarType stored, ToScalarType(v.dtype));
      at::Tensor t =
          at::from_blob(const_cast<char*>(v.data), v.shape, at::TensorOptions().dtype(stored));
      if (stored != compute) t = t.to(compute);
      if (!device.is_cpu()) t = t.to(device);
      if (stored != compute || !device.is_cpu()) converted_weight_bytes_ += t.nbytes();
      return t;
    };
    auto get_optional = [&](const std::string& name, std::vector<int64_t> shape) {
      return weights_->Has(name) ? get(name, shape) : Result<at::Tensor>(at::Tensor());
    };

    const int64_t h = c.hidden_size, q_dim = c.num_heads * c.head_dim,
                  kv_dim = c.num_kv_heads * c.head_dim;
    KVSTASH_ASSIGN_OR_RETURN(embed_, get("model.embed_tokens.weight", {c.vocab_size, h}));
    KVSTASH_ASSIGN_OR_RETURN(final_norm_, get("model.norm.weight", {h}));
    if (c.tie_word_embeddings && !weights_->Has("lm_head.weight")) {
      lm_head_ = embed_;
    } else {
      KVSTASH_ASSIGN_OR_RETURN(lm_head_, get("lm_head.weight", {c.vocab_size, h}));
    }
    layers_.resize(c.num_layers);
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      Layer& l = layers_[i];
      KVSTASH_ASSIGN_OR_RETURN(l.attn_norm, get(p + "input_layernorm.weight", {h}));
      KVSTASH_ASSIGN_OR_RETURN(l.wq, get(p + "self_attn.q_proj.weight", {q_dim, h}));
      KVSTASH_ASSIGN_OR_RETURN(l.wk, get(p + "self_attn.k_proj.weight", {kv_dim, h}));
      KVSTASH_ASSIGN_OR_RETURN(l.wv, get(p + "self_attn.v_proj.weight", {kv_dim, h}));
      KVSTASH_ASSIGN_OR_RETURN(l.wo, get(p + "self_attn.o_proj.weight", {h, q_dim}));
      if (c.qkv_bias) {
        KVSTASH_ASSIGN_OR_RETURN(l.bq, get(p + "self_attn.q_proj.bias", {q_dim}));
        KVSTASH_ASSIGN_OR_RETURN(l.bk, get(p + "self_attn.k_proj.bias", {kv_dim}));
        KVSTASH_ASSIGN_OR_RETURN(l.bv, get(p + "self_attn.v_proj.bias", {kv_dim}));
      } else {
        KVSTASH_ASSIGN_OR_RETURN(l.bq, get_optional(p + "self_attn.q_proj.bias", {q_dim}));
        KVSTASH_ASSIGN_OR_RETURN(l.bk, get_optional(p + "self_attn.k_proj.bias", {kv_dim}));
        KVSTASH_ASSIGN_OR_RETURN(l.bv, get_optional(p + "self_attn.v_proj.bias", {kv_dim}));
      }
      KVSTASH_ASSIGN_OR_RETURN(l.mlp_norm, get(p + "post_attention_layernorm.weight", {h}));
      KVSTASH_ASSIGN_OR_RETURN(l.w_gate, get(p + "mlp.gate_proj.weight", {c.intermediate_size, h}));
      KVSTASH_ASSIGN_OR_RETURN(l.w_up, get(p + "mlp.up_proj.weight", {c.intermediate_size, h}));
      KVSTASH_ASSIGN_OR_RETURN(l.w_down, get(p + "mlp.down_proj.weight", {h, c.intermediate_size}));
    }
    std::vector<float> inv = InverseFrequencies(c);
    inv_freq_ = at::from_blob(inv.data(), {static_cast<int64_t>(inv.size())}, at::kFloat)
                    .clone()
                    .to(device);
    weights_convert_ms_ = converted_weight_bytes_ == 0
                              ? 0
                              : std::chrono::duration<double, std::milli>(
                                    std::chrono::steady_clock::now() - convert_start)
                                    .count();
    return Status::OK();
  });
}

ModelDescription LlamaModel::Describe(uint32_t block_tokens) const {
  const ModelConfig& c = config_;
  ModelDescription d;
  d.architecture = c.architecture;
  d.num_layers = static_cast<uint32_t>(c.num_layers);
  d.hidden_size = static_cast<uint32_t>(c.hidden_size);
  d.num_heads = static_cast<uint32_t>(c.num_heads);
  d.num_kv_heads = static_cast<uint32_t>(c.num_kv_heads);
  d.head_dim = static_cast<uint32_t>(c.head_dim);
  d.vocab_size = static_cast<uint32_t>(c.vocab_size);
  d.rope_theta = c.rope_theta;
  d.rope_scaling = c.RopeScalingText();
  d.kv_dtype = kv_dtype_;
  // Stores written before compute and KV dtypes were separate always had
  // them equal: only a differing compute dtype adds a line, so their ids hold.
  if (compute_.dtype != kv_dtype_) d.extra["compute_dtype"] = DTypeName(compute_.dtype);
  d.block_tokens = block_tokens;
  d.tokenizer_digest = tokenizer_digest_.IsZero() ? "" : tokenizer_digest_.ToHex();
  d.weights_digest = weights_digest_.ToHex();
  d.extra["engine"] = kEngineNumerics;
  d.extra["intermediate_size"] = std::to_string(c.intermediate_size);
  d.extra["rms_norm_eps"] = FormatDouble(c.rms_norm_eps);
  d.extra["qkv_bias"] = c.qkv_bias ? "1" : "0";
  d.extra["tie_word_embeddings"] = c.tie_word_embeddings ? "1" : "0";
  return d;
}

Result<KvCacheView> LlamaModel::NewCache(size_t capacity) const {
  return AllocateKvView(kv_shape(), capacity, device());
}

at::Tensor LlamaModel::RmsNorm(const at::Tensor& x, const at::Tensor& weight) const {
  // In f32, as transformers' LlamaRMSNorm, then back to the compute dtype.
  at::Tensor xf = x.to(at::kFloat);
  xf = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + config_.rms_norm_eps);
  return weight * xf.to(x.scalar_type());
}

at::Tensor LlamaModel::Attention(const Layer& layer, size_t index, const at::Tensor& h, int64_t pos,
                                 const at::Tensor& cos, const at::Tensor& sin,
                                 const KvCacheView& cache) const {
  const ModelConfig& c = config_;
  const int64_t n = h.size(0), hd = c.head_dim, nkv = c.num_kv_heads;
  const int64_t group = c.num_heads / nkv, total = pos + n;
  // [tokens, heads * hd] -> [heads, tokens, hd]
  at::Tensor q = at::linear(h, layer.wq, layer.bq).view({n, c.num_heads, hd}).transpose(0, 1);
  at::Tensor k = at::linear(h, layer.wk, layer.bk).view({n, nkv, hd}).transpose(0, 1);
  at::Tensor v = at::linear(h, layer.wv, layer.bv).view({n, nkv, hd}).transpose(0, 1);
  q = q * cos + RotateHalf(q) * sin;
  k = k * cos + RotateHalf(k) * sin;

  at::Tensor k_cache = cache.keys[index].dim() == 4 ? cache.keys[index][0] : cache.keys[index];
  at::Tensor v_cache =
      cache.values[index].dim() == 4 ? cache.values[index][0] : cache.values[index];
  k_cache.narrow(1, pos, n).copy_(k);
  v_cache.narrow(1, pos, n).copy_(v);
  // Attention reads every position back from the cache, the chunk's own
  // included: with a KV dtype narrower than the compute dtype, cold and warm
  // (K/V loaded from the store) then see the same rounded values.
  at::Tensor keys = k_cache.narrow(1, 0, total).to(q.scalar_type());  // [nkv, total, hd]
  at::Tensor values = v_cache.narrow(1, 0, total).to(q.scalar_type());

  // Grouped-query attention without expanding K/V: the `group` query heads
  // sharing a KV head are stacked along the token axis, and each KV head is
  // one 2-D matmul (libtorch 1.13's batched bf16 matmul runs about 2x slower
  // than per-head mm on the CPU).
  at::Tensor qg = q.reshape({nkv, group * n, hd});
  at::Tensor out = at::empty({nkv, group * n, hd}, q.options());
  // Query i sits at position pos + i and sees keys [0, pos + i]: only the
  // chunk's own columns [pos, total) need a mask.
  at::Tensor future =
      at::ones({n, n}, at::TensorOptions().dtype(at::kBool).device(h.device())).triu(1);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  for (int64_t g = 0; g < nkv; ++g) {
    at::Tensor scores = at::mm(qg[g], keys[g].t());  // [group * n, total]
    scores.mul_(scale);
    scores.view({group, n, total})
        .narrow(2, pos, n)
        .masked_fill_(future, -std::numeric_limits<double>::infinity());
    // Softmax accumulates in f32 inside the kernel, as transformers' f32
    // softmax followed by a cast to the compute dtype.
    out[g].copy_(at::mm(at::softmax(scores, -1), values[g]));
  }
  out = out.view({c.num_heads, n, hd}).transpose(0, 1).reshape({n, c.num_heads * hd});
  return at::linear(out, layer.wo);
}

Result<at::Tensor> LlamaModel::Forward(const int32_t* tokens, int64_t n, int64_t pos,
                                       const KvCacheView& cache, bool all_logits) const {
  if (n <= 0) return Status::InvalidArgument("forward: no tokens");
  if (config_.sliding_window > 0 && pos + n > config_.sliding_window) {
    return Status::NotSupported("sequence of " + std::to_string(pos + n) +
                                " tokens exceeds the sliding window of " +
                                std::to_string(config_.sliding_window) +
                                " in config.json; sliding-window attention is not implemented");
  }
  KVSTASH_RETURN_IF_ERROR(ValidateKvView(cache, kv_shape(), static_cast<size_t>(pos + n)));
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size) {
      return Status::InvalidArgument("token id " + std::to_string(tokens[i]) +
                                     " outside the vocabulary [0, " +
                                     std::to_string(config_.vocab_size) + ")");
    }
  }
  at::Tensor logits;
  Status s = CatchTorch("forward", [&] {
    const c10::Device dev = device();
    at::Tensor ids =
        at::from_blob(const_cast<int32_t*>(tokens), {n}, at::kInt).to(dev).to(at::kLong);
    at::Tensor x = embed_.index_select(0, ids);  // [n, hidden]
    at::Tensor positions =
        at::arange(pos, pos + n, at::TensorOptions().dtype(at::kFloat).device(dev));
    at::Tensor freqs = at::outer(positions, inv_freq_);  // [n, hd/2]
    at::Tensor emb = at::cat({freqs, freqs}, -1);
    at::Tensor cos = emb.cos().to(x.scalar_type());
    at::Tensor sin = emb.sin().to(x.scalar_type());
    for (size_t i = 0; i < layers_.size(); ++i) {
      const Layer& l = layers_[i];
      x = x + Attention(l, i, RmsNorm(x, l.attn_norm), pos, cos, sin, cache);
      at::Tensor h = RmsNorm(x, l.mlp_norm);
      x = x + at::linear(at::silu(at::linear(h, l.w_gate)) * at::linear(h, l.w_up), l.w_down);
    }
    if (!all_logits) x = x.narrow(0, n - 1, 1);
    logits = at::linear(RmsNorm(x, final_norm_), lm_head_).to(at::kFloat);
    return Status::OK();
  });
  KVSTASH_RETURN_IF_ERROR(s);
  return logits;
}

}  // namespace kvstash
