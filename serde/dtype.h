// Element types of stored KV blocks.
#ifndef KVSTASH_SERDE_DTYPE_H_
#define KVSTASH_SERDE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serde/status.h"

namespace kvstash {

// Written to disk and the wire: never renumber.
enum class DType : uint8_t {
  kF32 = 1,
  kF16 = 2,
  kBF16 = 3,
};

// Returns 0 for a value that is not a known DType (e.g. read from bad bytes).
size_t DTypeSize(DType dtype);
bool IsKnownDType(uint8_t value);
// "f32", "f16", "bf16".
const char* DTypeName(DType dtype);
Result<DType> ParseDType(std::string_view name);

}  // namespace kvstash

#endif  // KVSTASH_SERDE_DTYPE_H_
