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

// Fuzz findings (docs/fuzzing.md, 2 and 6): numbers of the wrong kind or out
// of range were converted with undefined behaviour (a float to an integer) or
// wrapped (an id above 2^31), and head_dim could come out 0. Each is refused,
// naming its field.
TEST(ModelConfigTest, RefusesNumbersOfTheWrongKindOrRange) {
  const std::string base = R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, )";
  const std::pair<const char*, const char*> cases[] = {
      {R"("eos_token_id": [1e30]})", "eos_token_id"},
      {R"("eos_token_id": [2, 1.5]})", "eos_token_id"},
      {R"("eos_token_id": 4294967298})", "eos_token_id"},
      {R"("eos_token_id": -1})", "eos_token_id"},
      {R"("eos_token_id": "2"})", "eos_token_id"},
      {R"("bos_token_id": 4294967298})", "bos_token_id"},
      {R"("max_position_embeddings": 1e30})", "max_position_embeddings"},
      {R"("max_position_embeddings": 2048.5})", "max_position_embeddings"},
      {R"("rope_scaling": {"rope_type": "llama3", "original_max_position_embeddings": -1e300}})",
       "original_max_position_embeddings"},
      {R"("rope_scaling": {"rope_type": "llama3", "factor": "8"}})", "factor"},
      {R"("sliding_window": -4, "use_sliding_window": true})", "sliding_window"},
  };
  for (const auto& [bad, field] : cases) {
    SCOPED_TRACE(bad);
    auto c = ModelConfig::FromJson(base + bad);
    ASSERT_FALSE(c.ok());
    EXPECT_TRUE(c.status().IsInvalidArgument()) << c.status().ToString();
    EXPECT_NE(c.status().message().find(field), std::string::npos) << c.status().ToString();
  }
  // hidden_size 2 over 4 heads: head_dim 0.
  auto zero = ModelConfig::FromJson(R"({"model_type": "llama", "vocab_size": 1, "hidden_size": 2,
    "intermediate_size": 1, "num_hidden_layers": 1, "num_attention_heads": 4})");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("head_dim"), std::string::npos)
      << zero.status().ToString();
  // What real configs write still parses.
  auto fine = ModelConfig::FromJson(base + R"("eos_token_id": [2, 3], "bos_token_id": 1,
    "max_position_embeddings": 2048})");
  ASSERT_OK(fine.status());
  EXPECT_EQ(fine->eos_token_ids, (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(fine->max_position_embeddings, 2048);
}

// A value quoted in an error is bounded: deeply nested JSON used to be
// printed whole, recursively, and overflowed the stack (fuzz finding 3).
TEST(ModelConfigTest, ErrorsQuoteNestedValuesBriefly) {
  const size_t depth = 1'000'000;
  const std::string text = R"({"model_type": "llama", "vocab_size": )" + std::string(depth, '[') +
                           std::string(depth, ']') + "}";
  auto c = ModelConfig::FromJson(text);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("vocab_size"), std::string::npos);
  EXPECT_LT(c.status().message().size(), 200u) << c.status().message().substr(0, 300);
  auto flat = ModelConfig::FromJson(R"({"model_type": "llama", "vocab_size": [1, 2]})");
  EXPECT_NE(flat.status().message().find("[1,2]"), std::string::npos) << flat.status().ToString();
}

// ToJson writes every field FromJson reads: a sliding window survives
// (fuzz finding 4: it was dropped).
TEST(ModelConfigTest, SlidingWindowSurvivesToJson) {
  auto c = ModelConfig::FromJson(R"({"architectures": ["MistralForCausalLM"],
    "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "sliding_window": 4096})");
  ASSERT_OK(c.status());
  auto again = ModelConfig::FromJson(c->ToJson());
  ASSERT_OK(again.status());
  EXPECT_EQ(again->sliding_window, 4096);
  EXPECT_EQ(again->ToJson(), c->ToJson());
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
