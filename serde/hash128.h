// Hash128: the 128-bit identity used for models (ModelId) and blocks
// (BlockHash), with a fixed byte encoding and hex form.
//
// Byte encoding (on disk, on the wire, and inside hash inputs): `lo` as 8
// little-endian bytes, then `hi` as 8 little-endian bytes. Hex form: the 16
// bytes of that encoding, in order, as 32 lowercase hex digits.
#ifndef KVSTASH_SERDE_HASH128_H_
#define KVSTASH_SERDE_HASH128_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "serde/status.h"

namespace kvstash {

struct Hash128 {
  uint64_t lo = 0;
  uint64_t hi = 0;

  static constexpr size_t kEncodedSize = 16;

  bool IsZero() const { return lo == 0 && hi == 0; }

  // Appends the 16-byte encoding to `dst`.
  void AppendTo(std::string* dst) const;
  // Writes the 16-byte encoding to `buf`. REQUIRES: buf holds 16 bytes.
  void EncodeTo(char* buf) const;
  // REQUIRES: `p` points at 16 readable bytes.
  static Hash128 DecodeFrom(const char* p);

  std::string ToHex() const;
  // Accepts exactly 32 hex digits (either case).
  static Result<Hash128> FromHex(std::string_view hex);

  friend bool operator==(const Hash128& a, const Hash128& b) {
    return a.lo == b.lo && a.hi == b.hi;
  }
  friend bool operator!=(const Hash128& a, const Hash128& b) { return !(a == b); }
  // Orders by encoded bytes, so sorted Hash128s sort like their RocksDB keys.
  friend bool operator<(const Hash128& a, const Hash128& b);
};

// xxh3-128 with seed 0 of `data`: deterministic across processes and machines.
Hash128 Xxh3Hash128(std::string_view data);
// xxh3-64 with seed 0: the checksum of kvstash's formats.
uint64_t Xxh3Hash64(const void* data, size_t size);

struct Hash128Hasher {
  size_t operator()(const Hash128& h) const { return static_cast<size_t>(h.lo ^ (h.hi * 31)); }
};

}  // namespace kvstash

#endif  // KVSTASH_SERDE_HASH128_H_
