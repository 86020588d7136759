#include "serde/hash128.h"

#include <xxhash.h>

#include <cstring>

#include "serde/le_coding.h"

namespace kvstash {

void Hash128::EncodeTo(char* buf) const {
  EncodeFixed64(buf, lo);
  EncodeFixed64(buf + 8, hi);
}

void Hash128::AppendTo(std::string* dst) const {
  char buf[kEncodedSize];
  EncodeTo(buf);
  dst->append(buf, kEncodedSize);
}

Hash128 Hash128::DecodeFrom(const char* p) {
  return Hash128{DecodeFixed64(p), DecodeFixed64(p + 8)};
}

bool operator<(const Hash128& a, const Hash128& b) {
  char ea[Hash128::kEncodedSize], eb[Hash128::kEncodedSize];
  a.EncodeTo(ea);
  b.EncodeTo(eb);
  return std::memcmp(ea, eb, Hash128::kEncodedSize) < 0;
}

std::string Hash128::ToHex() const {
  static const char kDigits[] = "0123456789abcdef";
  char buf[kEncodedSize];
  EncodeTo(buf);
  std::string out;
  out.reserve(2 * kEncodedSize);
  for (char c : buf) {
    auto b = static_cast<unsigned char>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Hash128> Hash128::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kEncodedSize) {
    return Status::InvalidArgument("expected 32 hex digits, got " + std::to_string(hex.size()) +
                                   " characters: '" + std::string(hex) + "'");
  }
  char buf[kEncodedSize];
  for (size_t i = 0; i < kEncodedSize; ++i) {
    int h = HexValue(hex[2 * i]), l = HexValue(hex[2 * i + 1]);
    if (h < 0 || l < 0) {
      return Status::InvalidArgument("not a hex digit in '" + std::string(hex) + "'");
    }
    buf[i] = static_cast<char>((h << 4) | l);
  }
  return DecodeFrom(buf);
}

Hash128 Xxh3Hash128(std::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return Hash128{h.low64, h.high64};
}

uint64_t Xxh3Hash64(const void* data, size_t size) { return XXH3_64bits(data, size); }

}  // namespace kvstash
