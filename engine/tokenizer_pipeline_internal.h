// Everything Tokenizer::Encode does before BPE, read from tokenizer.json:
//   1. cut out added tokens with normalized == false, in the raw text;
//   2. normalize each remaining stretch;
//   3. cut out added tokens with normalized == true, in the normalized text;
//   4. pre-tokenize each remaining stretch on its own.
// This is Hugging Face's AddedVocabulary::extract_and_normalize followed by
// pre_tokenize. The maker (tokenizer_maker.h) trains its merges on exactly the
// pieces this produces, so training and encoding cannot disagree.
//
// Thread-safe after construction: Run is const.
#ifndef KVSTASH_ENGINE_TOKENIZER_PIPELINE_INTERNAL_H_
#define KVSTASH_ENGINE_TOKENIZER_PIPELINE_INTERNAL_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tokenizer_added_tokens_internal.h"
#include "engine/tokenizer_json_internal.h"
#include "engine/tokenizer_normalizer_internal.h"
#include "engine/tokenizer_pre_tokenizer_internal.h"
#include "serde/status.h"

namespace kvstash::tokenizer_internal {

class TextPipeline {
 public:
  // Reads "normalizer", "pre_tokenizer" and "added_tokens" of the whole
  // tokenizer.json object `root`. NotSupported for an unsupported component
  // or a pre_tokenizer without a ByteLevel step.
  static Result<std::unique_ptr<TextPipeline>> FromJson(const Json& root);

  // Appends the segments of `text` in order: added tokens (id >= 0) and
  // pre-tokens for the model (id == -1, spelled in the byte-level alphabet).
  Status Run(std::string_view text, std::vector<TextSegment>* out) const;

  const AddedTokens& added_tokens() const { return added_; }

 private:
  TextPipeline() = default;

  Normalizer normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  AddedTokens added_;
};

}  // namespace kvstash::tokenizer_internal

#endif  // KVSTASH_ENGINE_TOKENIZER_PIPELINE_INTERNAL_H_
