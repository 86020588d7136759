// The "added_tokens" section of tokenizer.json: strings cut out of the text
// before pre-tokenization and BPE, each mapping straight to one id.
//
// Matching follows Hugging Face's AddedVocabulary: tokens with
// `normalized: false` (the default for special tokens) are found in the raw
// text; the others (the default for non-special ones) in the normalized text,
// spelled as the normalizer spells them. Within one text the scan is
// leftmost-longest and non-overlapping. `single_word` drops a match that
// touches a word character (regex `\w`) on either side; `lstrip` / `rstrip`
// swallow the whitespace before / after a match into the token.
//
// Thread-safe after Prepare: Split is const.
#ifndef KVSTASH_ENGINE_TOKENIZER_ADDED_TOKENS_INTERNAL_H_
#define KVSTASH_ENGINE_TOKENIZER_ADDED_TOKENS_INTERNAL_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tokenizer_json_internal.h"
#include "engine/tokenizer_normalizer_internal.h"
#include "serde/status.h"

namespace kvstash::tokenizer_internal {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;  // when absent in the file: !special
};

// A stretch of input: an added token (id >= 0; `text` is what it covered) or
// text still to be pre-tokenized (id == -1).
struct TextSegment {
  int32_t id = -1;
  std::string text;
};

class AddedTokens {
 public:
  // `value` is the "added_tokens" member: an array, or null for none.
  // InvalidArgument for a malformed entry (missing id/content, empty content).
  static Result<AddedTokens> FromJson(const Json& value, const std::string& where);

  // Builds the matchers; normalized tokens are matched in their normalized
  // spelling. REQUIRES: called once, before Split.
  Status Prepare(const Normalizer& normalizer);

  const std::vector<AddedToken>& tokens() const { return tokens_; }

  // Appends the segments of `text`, using the tokens whose `normalized` flag
  // equals `normalized`. Empty stretches between matches are not appended.
  void Split(std::string_view text, bool normalized, std::vector<TextSegment>* out) const;

 private:
  struct Matcher {
    std::vector<std::pair<std::string, size_t>> patterns;  // spelling, index into tokens_
    // Pattern indexes by first byte, longest first (file order among equals).
    std::array<std::vector<uint32_t>, 256> by_first_byte;
    bool empty() const { return patterns.empty(); }
  };

  static void Build(Matcher* m);

  std::vector<AddedToken> tokens_;
  Matcher raw_;
  Matcher normalized_;
};

}  // namespace kvstash::tokenizer_internal

#endif  // KVSTASH_ENGINE_TOKENIZER_ADDED_TOKENS_INTERNAL_H_
