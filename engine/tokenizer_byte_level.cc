#include <array>

#include "engine/tokenizer_byte_level_internal.h"
#include "engine/tokenizer_unicode_internal.h"

namespace kvstash::tokenizer_internal {
namespace {

struct Tables {
  std::array<std::string, 256> byte_to_utf8;
  std::array<char32_t, 256> byte_to_code_point{};
  // Every mapped character is below U+0144, so the inverse is a flat array.
  static constexpr char32_t kMaxCodePoint = 0x144;
  std::array<int16_t, kMaxCodePoint> code_point_to_byte{};

  Tables() {
    code_point_to_byte.fill(-1);
    // bytes_to_unicode(): '!'..'~', 0xA1..0xAC and 0xAE..0xFF keep their own
    // code point; the other 68 bytes, in increasing order, get 256, 257, ...
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool keeps = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const char32_t cp = keeps ? static_cast<char32_t>(b) : static_cast<char32_t>(next++);
      byte_to_code_point[b] = cp;
      AppendUtf8(cp, &byte_to_utf8[b]);
      code_point_to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;  // thread-safe initialization (C++11 magic statics)
  return tables;
}

}  // namespace

std::string_view ByteToUnicode(uint8_t b) { return GetTables().byte_to_utf8[b]; }

int UnicodeToByte(char32_t code_point) {
  if (code_point >= Tables::kMaxCodePoint) return -1;
  return GetTables().code_point_to_byte[code_point];
}

void AppendByteLevel(std::string_view bytes, std::string* out) {
  const Tables& t = GetTables();
  out->reserve(out->size() + 2 * bytes.size());
  for (char c : bytes) out->append(t.byte_to_utf8[static_cast<uint8_t>(c)]);
}

bool AppendBytesOfByteLevel(std::string_view token, std::string* out) {
  const size_t old_size = out->size();
  for (size_t pos = 0; pos < token.size();) {
    const Utf8Unit unit = DecodeUtf8(token, pos);
    const int b = unit.valid ? UnicodeToByte(unit.code_point) : -1;
    if (b < 0) {
      out->resize(old_size);
      return false;
    }
    out->push_back(static_cast<char>(b));
    pos += unit.size;
  }
  return true;
}

}  // namespace kvstash::tokenizer_internal
