// ModelConfig: the parts of a Hugging Face config.json the Llama-family
// decoder needs, validated, plus how they enter the model's identity.
#ifndef KVSTASH_ENGINE_MODEL_CONFIG_H_
#define KVSTASH_ENGINE_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serde/dtype.h"
#include "serde/status.h"

namespace kvstash {

struct RopeScaling {
  std::string type;  // "" (none) or "llama3"
  double factor = 1;
  double low_freq_factor = 1;
  double high_freq_factor = 4;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;  // LlamaForCausalLM, Qwen2ForCausalLM or MistralForCausalLM
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000;
  RopeScaling rope_scaling;
  bool qkv_bias = false;  // Qwen2 always; Llama when attention_bias is true
  bool tie_word_embeddings = false;
  // Tokens beyond which a Mistral-style model would need sliding-window
  // attention; 0 if none. Longer sequences are refused, not approximated.
  int64_t sliding_window = 0;
  std::vector<int32_t> eos_token_ids;
  std::optional<int32_t> bos_token_id;
  DType dtype = DType::kF32;  // torch_dtype of the checkpoint

  // Parses config.json text. InvalidArgument names a missing or bad field;
  // NotSupported names an unknown architecture or rope scaling type.
  static Result<ModelConfig> FromJson(std::string_view json);
  static Result<ModelConfig> FromFile(const std::string& path);
  // A config.json an HF loader accepts for this model.
  std::string ToJson() const;
  // Canonical text of the rope scaling settings ("" if none).
  std::string RopeScalingText() const;
};

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_MODEL_CONFIG_H_
