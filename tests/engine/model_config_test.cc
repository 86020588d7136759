#include "engine/model_config.h"

#include <gtest/gtest.h>

#include "engine/model_maker.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

TEST(ModelConfigTest, ParsesQwen2AndRoundTrips) {
  const char* json = R"({
    "architectures": ["Qwen2ForCausalLM"], "vocab_size": 151936, "hidden_size": 896,
    "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
    "num_key_value_heads": 2, "max_position_embeddings": 32768, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
    "sliding_window": 32768, "use_sliding_window": false, "eos_token_id": 151643})";
  auto c = ModelConfig::FromJson(json);
  ASSERT_OK(c.status());
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_EQ(c->dtype, DType::kBF16);
  EXPECT_EQ(c->eos_token_ids, std::vector<int32_t>{151643});
  auto again = ModelConfig::FromJson(c->ToJson());
  ASSERT_OK(again.status());
  EXPECT_EQ(again->ToJson(), c->ToJson());
}

TEST(ModelConfigTest, Llama3RopeScalingAndEosList) {
  const char* json = R"({
    "architectures": ["LlamaForCausalLM"], "vocab_size": 128256, "hidden_size": 2048,
    "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 64, "rope_theta": 500000.0,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]})";
  auto c = ModelConfig::FromJson(json);
  ASSERT_OK(c.status());
  EXPECT_EQ(c->rope_scaling.type, "llama3");
  EXPECT_EQ(c->rope_scaling.factor, 32.0);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_EQ(c->eos_token_ids.size(), 3u);
  EXPECT_EQ(*c->bos_token_id, 128000);
  EXPECT_NE(c->RopeScalingText().find("\"factor\":32.0"), std::string::npos);
}

TEST(ModelConfigTest, ClearErrors) {
  auto unknown = ModelConfig::FromJson(R"({"architectures": ["GPT2LMHeadModel"]})");
  EXPECT_TRUE(unknown.status().IsNotSupported());
  EXPECT_NE(unknown.status().message().find("GPT2LMHeadModel"), std::string::npos);
  auto missing = ModelConfig::FromJson(R"({"architectures": ["LlamaForCausalLM"]})");
  EXPECT_TRUE(missing.status().IsInvalidArgument());
  EXPECT_NE(missing.status().message().find("vocab_size"), std::string::npos);
  auto scaling = ModelConfig::FromJson(R"({"architectures": ["LlamaForCausalLM"],
    "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "rope_scaling": {"type": "yarn", "factor": 4}})");
  EXPECT_TRUE(scaling.status().IsNotSupported());
  EXPECT_NE(scaling.status().message().find("yarn"), std::string::npos);
  auto gqa = ModelConfig::FromJson(R"({"architectures": ["LlamaForCausalLM"],
    "vocab_size": 10, "hidden_size": 12, "intermediate_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 3, "num_key_value_heads": 2})");
  EXPECT_TRUE(gqa.status().IsInvalidArgument());
  auto garbage = ModelConfig::FromJson("{not json");
  EXPECT_TRUE(garbage.status().IsInvalidArgument());
}

// Values that would give NaN or constant rotations (garbage K/V that a store
// would then keep) are refused, naming the field.
TEST(ModelConfigTest, RefusesNonPositiveRopeThetaAndPositions) {
  const std::string base = R"({
    "architectures": ["LlamaForCausalLM"], "vocab_size": 100, "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, )";
  for (const char* bad : {R"("rope_theta": 0})", R"("rope_theta": -10000})",
                          R"("max_position_embeddings": 0})", R"("rms_norm_eps": -1})"}) {
    SCOPED_TRACE(bad);
    auto c = ModelConfig::FromJson(base + bad);
    ASSERT_FALSE(c.ok());
    EXPECT_TRUE(c.status().IsInvalidArgument()) << c.status().ToString();
    const std::string field = std::string(bad).substr(1, std::string(bad).find('"', 1) - 1);
    EXPECT_NE(c.status().ToString().find(field), std::string::npos) << c.status().ToString();
  }
  ASSERT_OK(ModelConfig::FromJson(base + R"("rope_theta": 10000})").status());
}

TEST(ModelConfigTest, MistralSlidingWindowIsRecorded) {
  auto c = ModelConfig::FromJson(R"({"architectures": ["MistralForCausalLM"],
    "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "sliding_window": 4096})");
  ASSERT_OK(c.status());
  EXPECT_EQ(c->sliding_window, 4096);
}

TEST(ModelConfigTest, PresetsHaveTheAdvertisedShapes) {
  auto q = PresetConfig("qwen2.5-0.5b");
  ASSERT_OK(q.status());
  EXPECT_EQ(q->num_layers, 24);
  EXPECT_EQ(q->hidden_size, 896);
  EXPECT_EQ(q->num_heads, 14);
  EXPECT_EQ(q->num_kv_heads, 2);
  EXPECT_EQ(q->intermediate_size, 4864);
  EXPECT_EQ(q->vocab_size, 151936);
  EXPECT_TRUE(PresetConfig("nope").status().IsInvalidArgument());
}

}  // namespace
}  // namespace kvstash
