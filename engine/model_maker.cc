#include "engine/model_maker.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "engine/safetensors.h"
#include "engine/safetensors_writer.h"
#include "engine/tokenizer.h"
#include "engine/tokenizer_maker.h"
#include "serde/hash128.h"
#include "store/file_util.h"
#include "store/kv_tensors.h"

namespace kvstash {

namespace {

// Training text for the made tokenizer's merges: plain English prose, so
// prompts in English get realistic token counts (about 3-4 bytes per token).
constexpr char kTrainingText[] =
    "The quick brown fox jumps over the lazy dog. A cache keeps what was computed once so "
    "that it need not be computed again. When a language model reads a long document, it "
    "computes keys and values for every token of the prompt, and this prefill is the "
    "largest part of the time to the first token. If the same system prompt or the same "
    "document comes back, the work can be loaded instead of repeated. The store keeps "
    "these blocks in memory and on disk, checks every byte when it reads them back, and "
    "shares them with other processes on the same host or in the same rack. Operators can "
    "list, inspect, verify and prune what is stored, and they can do so while the service "
    "is running. This is the license of the software, the terms and conditions for use, "
    "reproduction, and distribution, and the definitions of the words used in it. You may "
    "copy and distribute verbatim copies of the program's source code as you receive it, "
    "in any medium, provided that you conspicuously and appropriately publish on each copy "
    "an appropriate copyright notice and disclaimer of warranty; keep intact all the "
    "notices that refer to this license and to the absence of any warranty; and give any "
    "other recipients of the program a copy of this license along with the program.\n";

const std::vector<std::string> kSpecialTokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

// splitmix64: a tiny, fully specified generator, so weights are identical on
// every machine and libtorch version (torch's generators promise neither).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1).
  float Symmetric() { return static_cast<float>(Next() >> 40) / float(1 << 23) - 1.0f; }

 private:
  uint64_t state_;
};

// A tensor of the given shape with values uniform in [-scale, scale), seeded
// by (seed, name) so each tensor is independent of the others' order.
at::Tensor RandomTensor(uint64_t seed, const std::string& name, std::vector<int64_t> shape,
                        float scale) {
  at::Tensor t = at::empty(shape, at::kFloat);
  SplitMix64 rng(seed ^ Xxh3Hash128(name).lo);
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = scale * rng.Symmetric();
  return t;
}

}  // namespace

std::vector<std::string> ModelPresets() { return {"tiny", "qwen2.5-0.5b"}; }

Result<ModelConfig> PresetConfig(const std::string& preset) {
  ModelConfig c;
  c.architecture = "Qwen2ForCausalLM";
  c.qkv_bias = true;
  c.tie_word_embeddings = true;
  c.rms_norm_eps = 1e-6;
  c.eos_token_ids = {-1};  // set once the tokenizer assigns special ids
  if (preset == "tiny") {
    c.vocab_size = 512;
    c.hidden_size = 64;
    c.intermediate_size = 160;
    c.num_layers = 4;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.head_dim = 16;
    c.max_position_embeddings = 8192;
    c.rope_theta = 10000;
    return c;
  }
  if (preset == "qwen2.5-0.5b") {
    c.vocab_size = 151936;
    c.hidden_size = 896;
    c.intermediate_size = 4864;
    c.num_layers = 24;
    c.num_heads = 14;
    c.num_kv_heads = 2;
    c.head_dim = 64;
    c.max_position_embeddings = 32768;
    c.rope_theta = 1000000;
    return c;
  }
  return Status::InvalidArgument("unknown preset '" + preset + "' (tiny, qwen2.5-0.5b)");
}

Status MakeModel(const std::string& dir, const MakeModelOptions& options) {
  KVSTASH_ASSIGN_OR_RETURN(ModelConfig config, PresetConfig(options.preset));
  if (options.shards < 1) return Status::InvalidArgument("mkmodel: shards must be >= 1");
  config.dtype = options.dtype;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());

  // Tokenizer first: the special tokens' ids go into config.json.
  const size_t merges = options.preset == "tiny" ? 200 : 1000;
  const std::string tokenizer_json = MakeByteLevelBpeJson(kTrainingText, merges, kSpecialTokens);
  KVSTASH_ASSIGN_OR_RETURN(auto tokenizer, Tokenizer::FromJson(tokenizer_json));
  auto eos = tokenizer->TokenToId("<|endoftext|>");
  if (!eos || *eos >= config.vocab_size) {
    return Status::InvalidArgument("mkmodel: tokenizer does not fit the vocabulary");
  }
  config.eos_token_ids = {*eos};

  KVSTASH_ASSIGN_OR_RETURN(c10::ScalarType type, ToScalarType(options.dtype));
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  Status made = CatchTorch("make weights", [&] {
    const int64_t h = config.hidden_size, q = config.num_heads * config.head_dim,
                  kv = config.num_kv_heads * config.head_dim, ffn = config.intermediate_size;
    auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale) {
      tensors.emplace_back(name, RandomTensor(options.seed, name, shape, scale).to(type));
    };
    auto ones = [&](const std::string& name) {
      tensors.emplace_back(name, at::ones({h}, at::TensorOptions().dtype(type)));
    };
    // Uniform with the variance of 1/fan_in keeps activations O(1) at depth.
    const float in_h = std::sqrt(3.0f / h), in_q = std::sqrt(3.0f / q),
                in_ffn = std::sqrt(3.0f / ffn);
    add("model.embed_tokens.weight", {config.vocab_size, h}, 1.0f);
    for (int64_t i = 0; i < config.num_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      ones(p + "input_layernorm.weight");
      add(p + "self_attn.q_proj.weight", {q, h}, in_h);
      add(p + "self_attn.q_proj.bias", {q}, 0.1f);
      add(p + "self_attn.k_proj.weight", {kv, h}, in_h);
      add(p + "self_attn.k_proj.bias", {kv}, 0.1f);
      add(p + "self_attn.v_proj.weight", {kv, h}, in_h);
      add(p + "self_attn.v_proj.bias", {kv}, 0.1f);
      add(p + "self_attn.o_proj.weight", {h, q}, in_q);
      ones(p + "post_attention_layernorm.weight");
      add(p + "mlp.gate_proj.weight", {ffn, h}, in_h);
      add(p + "mlp.up_proj.weight", {ffn, h}, in_h);
      add(p + "mlp.down_proj.weight", {h, ffn}, in_ffn);
    }
    ones("model.norm.weight");
    return Status::OK();
  });
  KVSTASH_RETURN_IF_ERROR(made);

  // Shard by contiguous runs of tensors of about equal bytes.
  uint64_t total = 0;
  for (const auto& [name, t] : tensors) total += t.nbytes();
  const uint64_t per_shard = (total + options.shards - 1) / options.shards;
  std::vector<std::vector<TensorToWrite>> shards(1);
  std::map<std::string, std::string> weight_map;
  uint64_t in_shard = 0;
  for (const auto& [name, t] : tensors) {
    if (in_shard >= per_shard && static_cast<int>(shards.size()) < options.shards) {
      shards.emplace_back();
      in_shard = 0;
    }
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
    shards.back().push_back(TensorToWrite{name, options.dtype, shape, t.data_ptr(), t.nbytes()});
    in_shard += t.nbytes();
  }
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  if (options.shards == 1) {
    KVSTASH_RETURN_IF_ERROR(WriteSafetensors(dir + "/model.safetensors", shards[0], metadata));
  } else {
    for (size_t i = 0; i < shards.size(); ++i) {
      char file[64];
      std::snprintf(file, sizeof(file), "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
      KVSTASH_RETURN_IF_ERROR(WriteSafetensors(dir + "/" + file, shards[i], metadata));
      for (const auto& t : shards[i]) weight_map[t.name] = file;
    }
    KVSTASH_RETURN_IF_ERROR(WriteSafetensorsIndex(dir, weight_map, total));
  }
  KVSTASH_RETURN_IF_ERROR(WriteFileAtomically(dir + "/config.json", config.ToJson()));
  return WriteFileAtomically(dir + "/tokenizer.json", tokenizer_json);
}

}  // namespace kvstash
