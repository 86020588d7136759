// UTF-8 stepping and the few Unicode character classes the tokenizer needs.
//
// The tokenizer takes arbitrary bytes, not only valid UTF-8 (a prompt may hold
// a truncated multi-byte character), so decoding never fails: a byte that does
// not start a valid sequence is reported as a one-byte invalid unit.
#ifndef KVSTASH_ENGINE_TOKENIZER_UNICODE_INTERNAL_H_
#define KVSTASH_ENGINE_TOKENIZER_UNICODE_INTERNAL_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace kvstash::tokenizer_internal {

struct Utf8Unit {
  char32_t code_point = 0;  // meaningful only when `valid`
  size_t size = 1;          // bytes consumed: 1..4 (1 when invalid)
  bool valid = false;
};

// Decodes the unit that starts at text[pos]. Truncated, overlong, surrogate
// and > U+10FFFF sequences and stray continuation bytes are invalid and
// consume one byte. REQUIRES: pos < text.size().
Utf8Unit DecodeUtf8(std::string_view text, size_t pos);

// The start of the unit that ends at text[end - 1], for walking backwards:
// the last valid character, or the single last byte if that is not the end of
// a valid character. REQUIRES: 0 < end <= text.size().
Utf8Unit DecodeUtf8Before(std::string_view text, size_t end, size_t* start);

// Appends the UTF-8 encoding of `code_point`. REQUIRES: a Unicode scalar value.
void AppendUtf8(char32_t code_point, std::string* out);

// Rust's char::is_numeric: general category Nd, Nl or No.
bool IsNumeric(char32_t code_point);
// The Unicode White_Space property (Rust's char::is_whitespace, regex `\s`).
bool IsWhitespace(char32_t code_point);
// Rust regex's Unicode `\w`: letters, marks, Nd, Nl, Pc, ZWNJ and ZWJ.
bool IsWordChar(char32_t code_point);

}  // namespace kvstash::tokenizer_internal

#endif  // KVSTASH_ENGINE_TOKENIZER_UNICODE_INTERNAL_H_
