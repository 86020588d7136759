// Writing safetensors files (format: see engine/safetensors.h) and the index
// of a sharded checkpoint, readable by Hugging Face loaders and by
// SafetensorsFile / SafetensorsModel.
//
// Both writers are atomic: they write `path`.tmp, fsync it, rename it over
// `path` and fsync the directory, so a crash leaves either the old file or
// the complete new one (and possibly a stale .tmp), never a torn `path`.
//
// Thread-safety: free functions; concurrent calls must use distinct paths.
#ifndef KVSTASH_ENGINE_SAFETENSORS_WRITER_H_
#define KVSTASH_ENGINE_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "serde/dtype.h"
#include "serde/status.h"

namespace kvstash {

// The safetensors spelling of `dtype`: "F32", "F16" or "BF16" ("unknown" for
// a value that is not a DType).
const char* DTypeToSafetensorsDType(DType dtype);

// A tensor to write. The caller owns `data`, which must stay valid for the
// duration of the call; `bytes` must equal product(shape) * DTypeSize(dtype)
// (shape {} is a scalar: one element).
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  uint64_t bytes = 0;
};

// Writes `tensors` and `metadata` (the header's __metadata__, omitted when
// empty) to `path`. The header is compact JSON with sorted keys, padded with
// spaces to a multiple of 8 bytes as Hugging Face's writer pads it, so the
// data section starts 8-byte aligned; tensor data follows in name order,
// packed. The same tensors, in any order, always yield the same bytes.
// InvalidArgument (nothing written) for an empty, duplicate or reserved
// ("__metadata__") name, a name or metadata that is not valid UTF-8, a
// negative dimension, or `bytes` disagreeing with the shape; IOError naming
// the path and errno text otherwise.
Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata);

// Writes `dir`/model.safetensors.index.json as Hugging Face does:
//   {"metadata": {"total_size": total_size}, "weight_map": {tensor: shard}}
// `weight_map` maps each tensor name to its shard's file name within `dir`;
// `total_size` is, by convention, the sum of the tensors' byte counts.
Status WriteSafetensorsIndex(const std::string& dir,
                             const std::map<std::string, std::string>& weight_map,
                             uint64_t total_size);

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_SAFETENSORS_WRITER_H_
