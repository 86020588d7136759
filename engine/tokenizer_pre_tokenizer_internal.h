// The "pre_tokenizer" section of tokenizer.json: how normalized text is cut
// into the pieces ("words") that BPE merges within. Supported types:
//   Sequence   its pretokenizers, in order (nested Sequences flatten).
//   Split      pattern {"Regex": ...} (PCRE2) or {"String": ...} (literal);
//              behavior Isolated / Removed / MergedWithPrevious /
//              MergedWithNext / Contiguous; invert.
//   Digits     numeric characters (Nd, Nl, No) isolated one by one
//              (individual_digits) or as runs.
//   ByteLevel  add_prefix_space (a ' ' before each piece that lacks one),
//              use_regex (GPT-2's regex, Isolated), then every byte of every
//              piece is respelled in the byte-level alphabet. Steps after it
//              see that alphabet, exactly as in Hugging Face.
// Each step follows Hugging Face's NormalizedString::split semantics; empty
// pieces are dropped after every step.
//
// Thread-safe after construction: Apply is const.
#ifndef KVSTASH_ENGINE_TOKENIZER_PRE_TOKENIZER_INTERNAL_H_
#define KVSTASH_ENGINE_TOKENIZER_PRE_TOKENIZER_INTERNAL_H_

#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer_json_internal.h"
#include "serde/status.h"

namespace kvstash::tokenizer_internal {

class PreTokenizer {
 public:
  // `value` is the "pre_tokenizer" member (null: no steps); `where` its path.
  static Result<std::unique_ptr<PreTokenizer>> FromJson(const Json& value,
                                                        const std::string& where);

  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Replaces `pieces` by the result of running every step over all of them.
  // Errors only from regex matching (see Regex::FindAll).
  Status Apply(std::vector<std::string>* pieces) const;

  // Whether some step is ByteLevel (so the pieces reaching BPE are spelled in
  // the byte-level alphabet).
  bool has_byte_level() const;

  struct Step;  // one non-Sequence component; defined in the .cc

 private:
  PreTokenizer();

  std::vector<Step> steps_;
};

}  // namespace kvstash::tokenizer_internal

#endif  // KVSTASH_ENGINE_TOKENIZER_PRE_TOKENIZER_INTERNAL_H_
