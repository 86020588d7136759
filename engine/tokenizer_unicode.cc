#include <utf8proc.h>

#include "engine/tokenizer_unicode_internal.h"

namespace kvstash::tokenizer_internal {

Utf8Unit DecodeUtf8(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char b0 = s[pos];
  if (b0 < 0x80) return {b0, 1, true};
  const Utf8Unit invalid{0, 1, false};
  size_t size = 0;
  char32_t cp = 0;
  char32_t min = 0;  // smallest code point of this length: anything below is overlong
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    size = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    size = 3, cp = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    size = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return invalid;
  }
  if (size > text.size() - pos) return invalid;
  for (size_t i = 1; i < size; ++i) {
    const unsigned char c = s[pos + i];
    if ((c & 0xC0) != 0x80) return invalid;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return invalid;
  return {cp, size, true};
}

Utf8Unit DecodeUtf8Before(std::string_view text, size_t end, size_t* start) {
  const std::string_view head = text.substr(0, end);
  // A character is at most 4 bytes: find the nearest byte that is not a
  // continuation byte and accept it only if its character ends exactly at `end`.
  for (size_t back = 1; back <= 4 && back <= end; ++back) {
    const size_t pos = end - back;
    if ((static_cast<unsigned char>(head[pos]) & 0xC0) == 0x80) continue;
    const Utf8Unit unit = DecodeUtf8(head, pos);
    if (unit.valid && unit.size == back) {
      *start = pos;
      return unit;
    }
    break;
  }
  *start = end - 1;
  return Utf8Unit{0, 1, false};
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsNumeric(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

bool IsWhitespace(char32_t cp) {
  // The White_Space property is a fixed, short list (PropList.txt); utf8proc
  // does not expose it and the Z* categories alone miss the ASCII controls.
  if ((cp >= 0x09 && cp <= 0x0D) || (cp >= 0x2000 && cp <= 0x200A)) return true;
  switch (cp) {
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return false;
  }
}

bool IsWordChar(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
           cp == '_';
  }
  if (cp == 0x200C || cp == 0x200D) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

}  // namespace kvstash::tokenizer_internal
