// ModelId: a 128-bit fingerprint of everything that changes the bytes of a
// model's KV cache. Two processes compute the same ModelId exactly when KV
// computed by one is valid for the other, so blocks are keyed by it and KV
// of one model is never served to another.
//
// The fingerprint is xxh3-128 of a canonical text form of ModelDescription
// (see docs/format.md, "Model description"): one "key=value" line per field,
// sorted by key, under a versioned first line. The text itself is stored in
// the store's model registry so tools can show what a ModelId stands for.
#ifndef KVSTASH_SERDE_MODEL_ID_H_
#define KVSTASH_SERDE_MODEL_ID_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "serde/dtype.h"
#include "serde/hash128.h"
#include "serde/status.h"

namespace kvstash {

using ModelId = Hash128;

// Default number of tokens per KV block.
inline constexpr uint32_t kDefaultBlockTokens = 64;

struct ModelDescription {
  std::string architecture;  // e.g. "Qwen2ForCausalLM"
  uint32_t num_layers = 0;
  uint32_t hidden_size = 0;
  uint32_t num_heads = 0;
  uint32_t num_kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t vocab_size = 0;
  double rope_theta = 0;
  std::string rope_scaling;  // canonical text of the rope scaling config; "" if none
  DType kv_dtype = DType::kF32;
  // Axis order of a stored block; blocks written in another layout are not
  // interchangeable, so it is part of the identity.
  std::string kv_layout = "layers,kv,kv_heads,tokens,head_dim";
  uint32_t block_tokens = kDefaultBlockTokens;
  std::string tokenizer_digest;  // hex digest of the tokenizer file; "" if none
  std::string weights_digest;    // hex digest of the weights' bytes
  std::string tag;               // optional user tag (e.g. a deployment name)
  // Further settings that change KV (engine-specific); keys must not clash
  // with the fields above.
  std::map<std::string, std::string> extra;

  // The canonical text form. Fails if a value holds a newline or '=' in a key.
  Result<std::string> ToCanonicalText() const;
  static Result<ModelDescription> FromCanonicalText(std::string_view text);

  // xxh3-128 of ToCanonicalText().
  Result<ModelId> Fingerprint() const;

  // One line for people: "Qwen2ForCausalLM 24L kv 2x64 bf16 block 64".
  std::string Summary() const;
};

}  // namespace kvstash

#endif  // KVSTASH_SERDE_MODEL_ID_H_
