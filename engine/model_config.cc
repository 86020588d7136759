#include "engine/model_config.h"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/json_quote_internal.h"

namespace kvstash {

namespace {

using nlohmann::json;

Status Need(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) {
    return Status::InvalidArgument(std::string("config.json: missing field '") + key + "'");
  }
  return Status::OK();
}

// Every number is checked for its kind and range before it is converted:
// nlohmann converts a float to an integer with a C++ cast (undefined beyond
// the integer's range) and an integer to a narrower one by wrapping.
// `where` names the field ("rope_scaling.factor").

// An integer in [min, max].
Result<int64_t> IntegerIn(const json& value, const std::string& where, int64_t min, int64_t max) {
  const bool integer =
      value.is_number_integer() &&
      !(value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX));
  if (!integer || value.get<int64_t>() < min || value.get<int64_t>() > max) {
    const std::string kind =
        min == INT64_MIN ? "an integer"
        : min == 1 && max == INT64_MAX
            ? "a positive integer"
            : "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    return Status::InvalidArgument("config.json: '" + where + "' must be " + kind + ", got " +
                                   json_internal::QuoteJson(value));
  }
  return value.get<int64_t>();
}

Result<int64_t> PositiveInt(const json& j, const char* key) {
  KVSTASH_RETURN_IF_ERROR(Need(j, key));
  return IntegerIn(j[key], key, 1, INT64_MAX);
}

// j[key] if present and not null, else `fallback`.
Result<int64_t> OptionalPositiveInt(const json& j, const char* key, const std::string& where,
                                    int64_t fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  return IntegerIn(j[key], where, 1, INT64_MAX);
}

Result<double> OptionalNumber(const json& j, const char* key, const std::string& where,
                              double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  // A number too large for a double parses as infinity.
  if (!j[key].is_number() || !std::isfinite(j[key].get<double>())) {
    return Status::InvalidArgument("config.json: '" + where + "' must be a finite number, got " +
                                   json_internal::QuoteJson(j[key]));
  }
  return j[key].get<double>();
}

// A token id: an integer in [0, 2^31).
Result<int32_t> TokenId(const json& value, const std::string& where) {
  KVSTASH_ASSIGN_OR_RETURN(int64_t id, IntegerIn(value, where, 0, INT32_MAX));
  return static_cast<int32_t>(id);
}

}  // namespace

Result<ModelConfig> ModelConfig::FromJson(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("config.json: ") + e.what());
  }
  if (!j.is_object()) return Status::InvalidArgument("config.json: not a JSON object");
  ModelConfig c;
  try {
    if (j.contains("architectures") && j["architectures"].is_array() &&
        !j["architectures"].empty()) {
      c.architecture = j["architectures"][0].get<std::string>();
    }
    const std::string model_type = j.value("model_type", "");
    if (c.architecture.empty()) {
      if (model_type == "llama") c.architecture = "LlamaForCausalLM";
      if (model_type == "qwen2") c.architecture = "Qwen2ForCausalLM";
      if (model_type == "mistral") c.architecture = "MistralForCausalLM";
    }
    if (c.architecture != "LlamaForCausalLM" && c.architecture != "Qwen2ForCausalLM" &&
        c.architecture != "MistralForCausalLM") {
      return Status::NotSupported("config.json: architecture '" + c.architecture +
                                  "' is not supported (LlamaForCausalLM, Qwen2ForCausalLM and "
                                  "MistralForCausalLM are)");
    }
    KVSTASH_ASSIGN_OR_RETURN(c.vocab_size, PositiveInt(j, "vocab_size"));
    KVSTASH_ASSIGN_OR_RETURN(c.hidden_size, PositiveInt(j, "hidden_size"));
    KVSTASH_ASSIGN_OR_RETURN(c.intermediate_size, PositiveInt(j, "intermediate_size"));
    KVSTASH_ASSIGN_OR_RETURN(c.num_layers, PositiveInt(j, "num_hidden_layers"));
    KVSTASH_ASSIGN_OR_RETURN(c.num_heads, PositiveInt(j, "num_attention_heads"));
    c.num_kv_heads = c.num_heads;
    if (j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()) {
      KVSTASH_ASSIGN_OR_RETURN(c.num_kv_heads, PositiveInt(j, "num_key_value_heads"));
    }
    if (c.num_heads % c.num_kv_heads != 0) {
      return Status::InvalidArgument(
          "config.json: num_attention_heads " + std::to_string(c.num_heads) +
          " is not a multiple of num_key_value_heads " + std::to_string(c.num_kv_heads));
    }
    c.head_dim = c.hidden_size / c.num_heads;
    if (j.contains("head_dim") && !j["head_dim"].is_null()) {
      KVSTASH_ASSIGN_OR_RETURN(c.head_dim, PositiveInt(j, "head_dim"));
    }
    if (c.head_dim == 0) {
      return Status::InvalidArgument("config.json: head_dim is 0 (hidden_size " +
                                     std::to_string(c.hidden_size) + " over num_attention_heads " +
                                     std::to_string(c.num_heads) + "); give head_dim");
    }
    if (c.head_dim % 2 != 0) {
      return Status::InvalidArgument("config.json: head_dim " + std::to_string(c.head_dim) +
                                     " must be even for rotary embeddings");
    }
    // max_position_embeddings 0 or below gets its own message, below.
    if (j.contains("max_position_embeddings") && !j["max_position_embeddings"].is_null()) {
      KVSTASH_ASSIGN_OR_RETURN(
          c.max_position_embeddings,
          IntegerIn(j["max_position_embeddings"], "max_position_embeddings", INT64_MIN, INT64_MAX));
    } else {
      c.max_position_embeddings = 4096;
    }
    KVSTASH_ASSIGN_OR_RETURN(c.rms_norm_eps,
                             OptionalNumber(j, "rms_norm_eps", "rms_norm_eps", 1e-6));
    KVSTASH_ASSIGN_OR_RETURN(c.rope_theta, OptionalNumber(j, "rope_theta", "rope_theta", 10000.0));
    // A non-positive or non-finite base gives NaN or constant rotations:
    // garbage K/V, not an error, unless refused here.
    if (!std::isfinite(c.rope_theta) || c.rope_theta <= 0) {
      return Status::InvalidArgument("config.json: rope_theta " + std::to_string(c.rope_theta) +
                                     " must be a positive number");
    }
    if (c.max_position_embeddings <= 0) {
      return Status::InvalidArgument("config.json: max_position_embeddings " +
                                     std::to_string(c.max_position_embeddings) +
                                     " must be positive");
    }
    if (!std::isfinite(c.rms_norm_eps) || c.rms_norm_eps < 0) {
      return Status::InvalidArgument("config.json: rms_norm_eps must be a non-negative number");
    }
    c.tie_word_embeddings = j.value("tie_word_embeddings", false);
    c.qkv_bias = c.architecture == "Qwen2ForCausalLM" || j.value("attention_bias", false);
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
      const json& rs = j["rope_scaling"];
      std::string type = rs.value("rope_type", rs.value("type", ""));
      if (type == "llama3") {
        c.rope_scaling.type = type;
        KVSTASH_ASSIGN_OR_RETURN(c.rope_scaling.factor,
                                 OptionalNumber(rs, "factor", "rope_scaling.factor", 8.0));
        KVSTASH_ASSIGN_OR_RETURN(
            c.rope_scaling.low_freq_factor,
            OptionalNumber(rs, "low_freq_factor", "rope_scaling.low_freq_factor", 1.0));
        KVSTASH_ASSIGN_OR_RETURN(
            c.rope_scaling.high_freq_factor,
            OptionalNumber(rs, "high_freq_factor", "rope_scaling.high_freq_factor", 4.0));
        KVSTASH_ASSIGN_OR_RETURN(
            c.rope_scaling.original_max_position_embeddings,
            OptionalPositiveInt(rs, "original_max_position_embeddings",
                                "rope_scaling.original_max_position_embeddings", 8192));
      } else if (type != "default" && !type.empty()) {
        return Status::NotSupported("config.json: rope_scaling type '" + type +
                                    "' is not supported (llama3 is)");
      }
    }
    // Qwen2 configs carry sliding_window but switch it off with
    // use_sliding_window=false; Mistral v0.1 uses it.
    if (j.contains("sliding_window") && !j["sliding_window"].is_null() &&
        j.value("use_sliding_window", c.architecture == "MistralForCausalLM")) {
      KVSTASH_ASSIGN_OR_RETURN(c.sliding_window,
                               OptionalPositiveInt(j, "sliding_window", "sliding_window", 0));
    }
    if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) {
      const json& e = j["eos_token_id"];
      if (e.is_array()) {
        for (const json& x : e) {
          KVSTASH_ASSIGN_OR_RETURN(int32_t id, TokenId(x, "eos_token_id"));
          c.eos_token_ids.push_back(id);
        }
      } else {
        KVSTASH_ASSIGN_OR_RETURN(int32_t id, TokenId(e, "eos_token_id"));
        c.eos_token_ids.push_back(id);
      }
    }
    if (j.contains("bos_token_id") && !j["bos_token_id"].is_null()) {
      KVSTASH_ASSIGN_OR_RETURN(c.bos_token_id, TokenId(j["bos_token_id"], "bos_token_id"));
    }
    std::string dtype = j.value("torch_dtype", "float32");
    auto parsed = ParseDType(dtype);
    if (!parsed.ok()) {
      return Status::NotSupported("config.json: torch_dtype '" + dtype + "' is not supported");
    }
    c.dtype = *parsed;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("config.json: ") + e.what());
  }
  return c;
}

Result<ModelConfig> ModelConfig::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = FromJson(ss.str());
  if (!c.ok()) return c.status().WithContext(path);
  return c;
}

std::string ModelConfig::RopeScalingText() const {
  if (rope_scaling.type.empty()) return "";
  json j = {{"rope_type", rope_scaling.type},
            {"factor", rope_scaling.factor},
            {"low_freq_factor", rope_scaling.low_freq_factor},
            {"high_freq_factor", rope_scaling.high_freq_factor},
            {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
  return j.dump();  // nlohmann sorts object keys: canonical
}

std::string ModelConfig::ToJson() const {
  json j;
  j["architectures"] = {architecture};
  j["model_type"] = architecture == "Qwen2ForCausalLM"     ? "qwen2"
                    : architecture == "MistralForCausalLM" ? "mistral"
                                                           : "llama";
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_layers;
  j["num_attention_heads"] = num_heads;
  j["num_key_value_heads"] = num_kv_heads;
  j["head_dim"] = head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["hidden_act"] = "silu";
  if (architecture == "LlamaForCausalLM") j["attention_bias"] = qkv_bias;
  if (sliding_window > 0) {
    j["sliding_window"] = sliding_window;
    j["use_sliding_window"] = true;
  } else if (architecture == "Qwen2ForCausalLM") {
    j["use_sliding_window"] = false;
  }
  if (!rope_scaling.type.empty()) j["rope_scaling"] = json::parse(RopeScalingText());
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  if (eos_token_ids.size() > 1) j["eos_token_id"] = eos_token_ids;
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  j["torch_dtype"] = dtype == DType::kF32    ? "float32"
                     : dtype == DType::kBF16 ? "bfloat16"
                                             : "float16";
  return j.dump(2) + "\n";
}

}  // namespace kvstash
