// Torch-free reading of Hugging Face safetensors checkpoints.
//
// File format (https://github.com/huggingface/safetensors):
//
//   file   := N:u64le  header:N bytes  data
//   header := JSON object {
//               "<tensor name>": {"dtype": "<DTYPE>", "shape": [d0, ...],
//                                 "data_offsets": [begin, end]},
//               ...,
//               "__metadata__": {"<key>": "<string value>", ...}   (optional)
//             }
//
// `[begin, end)` is a half-open byte range relative to the start of `data`
// (byte 8 + N of the file). Tensors are stored row-major, little-endian.
//
// SafetensorsFile maps one file read-only and validates the whole header up
// front, so a tensor handed out by Get() is always in bounds and exactly as
// large as its shape and dtype say. SafetensorsModel is a model directory:
// either one `model.safetensors` or shards listed by
// `model.safetensors.index.json`.
//
// Errors: bad bytes are Status::Corruption naming the file and what is wrong
// (both values where two disagree); a missing file or tensor is NotFound; a
// tensor whose dtype kvstash cannot compute with is NotSupported when it is
// requested, not when the file is opened. Nothing here throws or aborts on
// bad input.
#ifndef KVSTASH_ENGINE_SAFETENSORS_H_
#define KVSTASH_ENGINE_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/safetensors_writer.h"  // so one include gives readers and writers
#include "serde/dtype.h"
#include "serde/hash128.h"
#include "serde/status.h"

namespace kvstash {

// A tensor of a dtype kvstash computes with, viewed in place in a mapping.
// `data` stays valid while the SafetensorsFile (or SafetensorsModel) it came
// from lives; it is read-only memory (writing through it faults).
// `bytes` == product(shape) * DTypeSize(dtype); a 0-d tensor has shape {}
// and one element.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const char* data = nullptr;
  uint64_t bytes = 0;
};

// Any tensor of the file as the header declares it, including dtypes kvstash
// does not compute with (an I64 buffer, F8 scales, ...).
struct TensorInfo {
  std::string name;
  std::string dtype;  // as spelled in the file: "F32", "BF16", "I64", ...
  std::vector<int64_t> shape;
  // File offset of the first byte (8 + N + begin) and the byte count.
  uint64_t file_offset = 0;
  uint64_t bytes = 0;
  // Points into the mapping; valid while the owning file object lives.
  const char* data = nullptr;
};

// The kvstash DType of a safetensors dtype string: "F32", "F16", "BF16".
// Others, known or not, are NotSupported naming the dtype.
Result<DType> SafetensorsDTypeToDType(const std::string& dtype);
// DTypeToSafetensorsDType (the inverse) is in engine/safetensors_writer.h.

// One safetensors file, mapped read-only (mmap, MAP_PRIVATE) for its lifetime.
//
// Thread-safety: after Open() the object is immutable; any number of threads
// may call its const methods concurrently. Movable (the mapping, and so every
// `data` pointer already handed out, stays where it is), not copyable.
//
// REQUIRES: nobody truncates the file while it is open: reading a mapped page
// past the new end raises SIGBUS, which no validation at Open() can prevent.
// Replacing it by rename (as WriteSafetensors does) is safe.
class SafetensorsFile {
 public:
  // Maps `path` and validates everything before returning: the header length
  // fits the file and is at most kMaxHeaderBytes; the header is a JSON object;
  // every tensor has a string dtype, a shape of non-negative integers whose
  // element count does not overflow, and data_offsets [begin, end] with
  // begin <= end <= data section size; for dtypes of known element size
  // end - begin == elements * size; no two tensors' byte ranges overlap
  // (gaps are tolerated); __metadata__, if present, maps strings to strings.
  // Returns IOError if the file cannot be opened or mapped, Corruption (with
  // the path) for any bad byte.
  static Result<SafetensorsFile> Open(const std::string& path);

  // The reference implementation's limit; a larger header is Corruption.
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  // Sum of the tensors' byte counts.
  uint64_t tensor_bytes() const { return tensor_bytes_; }
  // The __metadata__ object; empty if the file has none.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Every tensor, in data offset order (ties by name).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // Their names, in the same order.
  std::vector<std::string> names() const;
  bool Has(const std::string& name) const { return index_.count(name) != 0; }
  // nullptr if the file has no such tensor.
  const TensorInfo* Find(const std::string& name) const;

  // NotFound if there is no such tensor; NotSupported naming the dtype if it
  // is not F32, F16 or BF16.
  Result<TensorView> Get(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  void Unmap();

  std::string path_;
  uint64_t file_size_ = 0;
  uint64_t tensor_bytes_ = 0;
  void* map_ = nullptr;  // owned; munmap'ed by the destructor
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in tensors_
};

// The weights of a Hugging Face model directory, single file or sharded.
//
// Thread-safety: immutable after Open(); const methods may be called
// concurrently. Not copyable or movable (held by pointer).
class SafetensorsModel {
 public:
  static constexpr char kIndexFile[] = "model.safetensors.index.json";
  static constexpr char kSingleFile[] = "model.safetensors";

  // If `dir`/model.safetensors.index.json exists, reads its "weight_map"
  // (tensor name -> shard file name, relative to `dir`), opens each shard
  // once and checks that every mapped tensor is in its shard. The model's
  // tensors are exactly those of the weight_map; a shard's tensors that the
  // map does not name are not exposed (as Hugging Face loaders do).
  // Otherwise opens `dir`/model.safetensors and exposes all its tensors.
  // NotFound naming both paths if neither exists; Corruption naming the
  // index, tensor and shard if they disagree; errors of SafetensorsFile::Open
  // otherwise.
  static Result<std::unique_ptr<SafetensorsModel>> Open(const std::string& dir);

  SafetensorsModel(const SafetensorsModel&) = delete;
  SafetensorsModel& operator=(const SafetensorsModel&) = delete;

  const std::string& dir() const { return dir_; }
  // Tensor names in sorted (byte-wise) order.
  const std::vector<std::string>& names() const { return names_; }
  bool Has(const std::string& name) const { return where_.count(name) != 0; }
  // As SafetensorsFile::Get, from whichever shard holds the tensor.
  Result<TensorView> Get(const std::string& name) const;
  // nullptr if the model has no such tensor.
  const TensorInfo* Find(const std::string& name) const;
  // Sum of the model's tensors' byte counts.
  uint64_t total_bytes() const { return total_bytes_; }
  // The opened files: one, or the shards in sorted file name order.
  const std::vector<SafetensorsFile>& files() const { return files_; }

  // xxh3-128 (seed 0) identifying the weights independently of how they are
  // sharded or ordered in the files. The hashed input is, for each tensor in
  // names() order (every dtype, computed with or not):
  //
  //   u64le(len(name))  name
  //   u64le(len(dtype)) dtype          (the file's spelling: "BF16")
  //   u64le(rank)       rank x i64le(dim)
  //   u64le(bytes)      the tensor's data bytes
  //
  // Reads every byte of every tensor (and so faults the mapping in); runs at
  // memory bandwidth when the files are in the page cache. Returns IOError
  // only if the hash state cannot be allocated.
  Result<Hash128> WeightsDigest() const;

 private:
  SafetensorsModel() = default;

  std::string dir_;
  std::vector<SafetensorsFile> files_;
  std::vector<std::string> names_;
  // name -> (file index, tensor index within that file)
  std::unordered_map<std::string, std::pair<size_t, size_t>> where_;
  uint64_t total_bytes_ = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_SAFETENSORS_H_
