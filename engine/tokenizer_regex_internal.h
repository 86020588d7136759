// A PCRE2 pattern from a tokenizer.json pre-tokenizer, compiled once and
// matched with Unicode semantics (PCRE2_UTF | PCRE2_UCP: `\p{L}`, `\s`, `\w`
// and `(?i:...)` are Unicode-aware) over text that may hold invalid UTF-8
// (PCRE2_MATCH_INVALID_UTF: such bytes match nothing, so they fall between
// matches). JIT-compiled when PCRE2 has a JIT.
//
// Thread-safe: FindAll may run concurrently; each call owns its match data.
#ifndef KVSTASH_ENGINE_TOKENIZER_REGEX_INTERNAL_H_
#define KVSTASH_ENGINE_TOKENIZER_REGEX_INTERNAL_H_

#include <cstddef>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "serde/status.h"

struct pcre2_real_code_8;  // from <pcre2.h>, kept out of this header

namespace kvstash::tokenizer_internal {

// A half-open byte range [first, second).
using ByteRange = std::pair<size_t, size_t>;

class Regex {
 public:
  // InvalidArgument with PCRE2's message and the offset if `pattern` does not
  // compile.
  static Result<std::unique_ptr<Regex>> Compile(std::string_view pattern);

  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the ranges of successive non-overlapping matches in `text`,
  // leftmost first, each search starting where the previous match ended. An
  // empty match is never reported where the previous match ended (so the scan
  // always advances). ResourceExhausted if PCRE2 hits a match/heap limit.
  Status FindAll(std::string_view text, std::vector<ByteRange>* out) const;

 private:
  explicit Regex(pcre2_real_code_8* code) : code_(code) {}

  pcre2_real_code_8* code_;  // owned
};

}  // namespace kvstash::tokenizer_internal

#endif  // KVSTASH_ENGINE_TOKENIZER_REGEX_INTERNAL_H_
