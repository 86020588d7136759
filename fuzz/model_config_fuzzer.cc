// Feeds ModelConfig::FromJson a Hugging Face config.json, as
// `kvstash run --model DIR` reads it from a downloaded checkpoint.
//
// Input: the config.json text.
//
// Properties: nothing crashes, leaks or hits UB (UBSan's float-cast-overflow
// included: JSON numbers of any size reach integer fields); a bad file is
// InvalidArgument or NotSupported; a config that parses has the invariants
// the decoder relies on (positive sizes, kv heads dividing heads, even
// head_dim, positive finite rope_theta, non-negative finite rms_norm_eps)
// and survives ToJson -> FromJson with every field ToJson writes equal.
#include <cmath>

#include "engine/model_config.h"
#include "fuzz/fuzz_util.h"

namespace kvstash::fuzz {
namespace {

bool SameRopeScaling(const RopeScaling& a, const RopeScaling& b) {
  return a.type == b.type && a.factor == b.factor && a.low_freq_factor == b.low_freq_factor &&
         a.high_freq_factor == b.high_freq_factor &&
         a.original_max_position_embeddings == b.original_max_position_embeddings;
}

// Every field ToJson writes.
bool SameWrittenFields(const ModelConfig& a, const ModelConfig& b) {
  return a.architecture == b.architecture && a.vocab_size == b.vocab_size &&
         a.hidden_size == b.hidden_size && a.intermediate_size == b.intermediate_size &&
         a.num_layers == b.num_layers && a.num_heads == b.num_heads &&
         a.num_kv_heads == b.num_kv_heads && a.head_dim == b.head_dim &&
         a.max_position_embeddings == b.max_position_embeddings &&
         a.rms_norm_eps == b.rms_norm_eps && a.rope_theta == b.rope_theta &&
         SameRopeScaling(a.rope_scaling, b.rope_scaling) && a.qkv_bias == b.qkv_bias &&
         a.tie_word_embeddings == b.tie_word_embeddings && a.eos_token_ids == b.eos_token_ids &&
         a.bos_token_id == b.bos_token_id && a.dtype == b.dtype &&
         a.sliding_window == b.sliding_window;
}

}  // namespace
}  // namespace kvstash::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvstash;
  using namespace kvstash::fuzz;
  Result<ModelConfig> config = ModelConfig::FromJson(AsView(data, size));
  if (!config.ok()) {
    FUZZ_CHECK_ERROR(config.status(), Code::kInvalidArgument, Code::kNotSupported);
    return 0;
  }
  const ModelConfig& c = *config;
  FUZZ_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.intermediate_size > 0 && c.num_layers > 0 &&
             c.num_heads > 0 && c.num_kv_heads > 0 && c.head_dim > 0);
  FUZZ_CHECK(c.num_heads % c.num_kv_heads == 0 && c.head_dim % 2 == 0);
  FUZZ_CHECK(c.max_position_embeddings > 0);
  FUZZ_CHECK(std::isfinite(c.rope_theta) && c.rope_theta > 0);
  FUZZ_CHECK(std::isfinite(c.rms_norm_eps) && c.rms_norm_eps >= 0);

  const std::string written = c.ToJson();
  Result<ModelConfig> again = ModelConfig::FromJson(written);
  FUZZ_CHECK_MSG(again.ok(), again.status().ToString() + " for\n" + written);
  FUZZ_CHECK_MSG(SameWrittenFields(c, *again), "ToJson -> FromJson changed a field:\n" + written);
  (void)c.RopeScalingText();
  return 0;
}
