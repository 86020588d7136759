// Helpers shared by the libFuzzer targets in fuzz/ (docs/fuzzing.md).
#ifndef KVSTASH_FUZZ_FUZZ_UTIL_H_
#define KVSTASH_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>

#include "serde/hash128.h"
#include "serde/le_coding.h"
#include "serde/status.h"

namespace kvstash::fuzz {

// A broken property is a finding: say which, and abort so that libFuzzer
// saves the input as a crash artifact.
[[noreturn]] inline void Fail(const char* file, int line, const char* what,
                              const std::string& detail) {
  std::fprintf(stderr, "%s:%d: fuzz property failed: %s%s%s\n", file, line, what,
               detail.empty() ? "" : ": ", detail.c_str());
  std::abort();
}

#define FUZZ_CHECK(cond) \
  ((cond) ? (void)0 : ::kvstash::fuzz::Fail(__FILE__, __LINE__, #cond, std::string()))
#define FUZZ_CHECK_MSG(cond, detail) \
  ((cond) ? (void)0 : ::kvstash::fuzz::Fail(__FILE__, __LINE__, #cond, (detail)))

// A failed parse of bad bytes must say so with one of `codes`, never OK
// without a value and never another code.
inline void CheckErrorCode(const Status& s, std::initializer_list<Status::Code> codes,
                           const char* file, int line) {
  if (s.ok()) Fail(file, line, "error expected", "got OK");
  for (Status::Code c : codes) {
    if (s.code() == c) return;
  }
  Fail(file, line, "unexpected error code", s.ToString());
}
#define FUZZ_CHECK_ERROR(status, ...) \
  ::kvstash::fuzz::CheckErrorCode((status), {__VA_ARGS__}, __FILE__, __LINE__)

using Code = Status::Code;

// Every format ends in xxh3-64 of the bytes before it. A fuzzer can't forge
// that, so a control bit of each input asks the harness to recompute it:
// mutations then reach the fields the checksum guards, and inputs without the
// bit still test the checksum itself.
inline void FixTrailingChecksum(std::string* bytes) {
  if (bytes->size() < 8) return;
  const size_t covered = bytes->size() - 8;
  EncodeFixed64(bytes->data() + covered, Xxh3Hash64(bytes->data(), covered));
}

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace kvstash::fuzz

#endif  // KVSTASH_FUZZ_FUZZ_UTIL_H_
