// The "normalizer" section of tokenizer.json: null (identity), one of the
// Unicode normal forms "NFC", "NFD", "NFKC", "NFKD" (computed with utf8proc),
// or a "Sequence" of those applied in order. Any other type (Replace, Prepend,
// Lowercase, Precompiled, ...) is NotSupported.
//
// Thread-safe: Apply is const and keeps no state.
#ifndef KVSTASH_ENGINE_TOKENIZER_NORMALIZER_INTERNAL_H_
#define KVSTASH_ENGINE_TOKENIZER_NORMALIZER_INTERNAL_H_

#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer_json_internal.h"
#include "serde/status.h"

namespace kvstash::tokenizer_internal {

class Normalizer {
 public:
  // Identity.
  Normalizer() = default;

  // `value` is the "normalizer" member; `where` its path for messages.
  static Result<Normalizer> FromJson(const Json& value, const std::string& where);

  bool is_identity() const { return forms_.empty(); }

  // Sets *out to `text` normalized. Each maximal run of valid UTF-8 is
  // normalized on its own; invalid bytes are copied unchanged (Hugging Face
  // never sees them: a Python str is valid by construction). ResourceExhausted
  // only if utf8proc runs out of memory.
  Status Apply(std::string_view text, std::string* out) const;

 private:
  std::vector<int> forms_;  // utf8proc_option_t values, applied in order
};

}  // namespace kvstash::tokenizer_internal

#endif  // KVSTASH_ENGINE_TOKENIZER_NORMALIZER_INTERNAL_H_
