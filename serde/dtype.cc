#include "serde/dtype.h"

#include <string>

namespace kvstash {

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
      return 2;
  }
  return 0;
}

bool IsKnownDType(uint8_t value) {
  return value >= static_cast<uint8_t>(DType::kF32) && value <= static_cast<uint8_t>(DType::kBF16);
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
  }
  return "unknown";
}

Result<DType> ParseDType(std::string_view name) {
  if (name == "f32" || name == "float32") return DType::kF32;
  if (name == "f16" || name == "float16") return DType::kF16;
  if (name == "bf16" || name == "bfloat16") return DType::kBF16;
  return Status::InvalidArgument("unknown dtype '" + std::string(name) +
                                 "' (expected f32, f16 or bf16)");
}

}  // namespace kvstash
