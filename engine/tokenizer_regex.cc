#include "engine/tokenizer_regex_internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>

namespace kvstash::tokenizer_internal {
namespace {

std::string ErrorMessage(int code) {
  PCRE2_UCHAR buf[256];
  if (pcre2_get_error_message(code, buf, sizeof(buf)) < 0) return "error " + std::to_string(code);
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

Result<std::unique_ptr<Regex>> Regex::Compile(std::string_view pattern) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error,
                                   &error_offset, nullptr);
  if (code == nullptr) {
    return Status::InvalidArgument("regex does not compile at offset " +
                                   std::to_string(error_offset) + ": " + ErrorMessage(error));
  }
  // Best effort: without a JIT (or on failure) pcre2_match interprets.
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return std::unique_ptr<Regex>(new Regex(code));
}

Regex::~Regex() { pcre2_code_free(code_); }

Status Regex::FindAll(std::string_view text, std::vector<ByteRange>* out) const {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match_data(
      pcre2_match_data_create_from_pattern(code_, nullptr), &pcre2_match_data_free);
  if (match_data == nullptr) return Status::ResourceExhausted("regex: out of memory");
  // PCRE2 before 10.43 rejects a null subject even when it is empty.
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.empty() ? "" : text.data());
  size_t pos = 0;
  uint32_t options = 0;
  while (pos <= text.size()) {
    int rc = pcre2_match(code_, subject, text.size(), pos, options, match_data.get(), nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // The JIT's default 32 KiB stack is small for long backtracking runs;
      // the interpreter keeps its frames on the heap.
      rc = pcre2_match(code_, subject, text.size(), pos, options | PCRE2_NO_JIT, match_data.get(),
                       nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      return Status::ResourceExhausted("regex match failed at byte " + std::to_string(pos) + ": " +
                                       ErrorMessage(rc));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data.get());
    const size_t start = ovector[0];
    const size_t end = ovector[1];
    if (end < start || end < pos) {
      // Only \K inside a lookaround can do this; no tokenizer regex uses it.
      return Status::NotSupported("regex: a match ends before it starts (\\K in a lookaround)");
    }
    out->emplace_back(start, end);
    pos = end;
    options = PCRE2_NOTEMPTY_ATSTART;
  }
  return Status::OK();
}

}  // namespace kvstash::tokenizer_internal
