#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "engine/json_quote_internal.h"
#include "serde/le_coding.h"

namespace kvstash {

namespace {

using json = nlohmann::json;

constexpr uint64_t kLengthFieldBytes = 8;

// Element sizes of the dtypes the safetensors spec knows, so their byte spans
// are checked even though kvstash never computes with them. 0: unknown (or
// sub-byte, like F4), whose span cannot be checked but whose range still is.
uint64_t ElementSize(const std::string& dtype) {
  static const std::pair<const char*, uint64_t> kSizes[] = {
      {"F64", 8}, {"I64", 8},  {"U64", 8},     {"C64", 8},     {"F32", 4},     {"I32", 4},
      {"U32", 4}, {"F16", 2},  {"BF16", 2},    {"I16", 2},     {"U16", 2},     {"I8", 1},
      {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"F8_E8M0", 1},
  };
  for (const auto& [name, size] : kSizes) {
    if (dtype == name) return size;
  }
  return 0;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string ErrnoText(int err) { return std::strerror(err); }

// Small whole-file read for the index; the weights themselves are mapped.
Status ReadSmallFile(const std::string& path, uint64_t max_bytes, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string msg = "cannot open " + path + ": " + ErrnoText(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::IOError(msg);
  }
  out->clear();
  char buf[1 << 16];
  Status s;
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = Status::IOError("cannot read " + path + ": " + ErrnoText(errno));
      break;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > max_bytes) {
      s = Status::Corruption(path + " is larger than " + std::to_string(max_bytes) + " bytes");
      break;
    }
  }
  ::close(fd);
  return s;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// A non-negative JSON integer that fits `int64_t`, or false.
bool JsonToInt64(const json& j, int64_t* out) {
  if (j.is_number_unsigned()) {
    uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(v);
    return true;
  }
  if (j.is_number_integer()) {  // signed: nlohmann parses non-negatives as unsigned
    *out = j.get<int64_t>();
    return true;
  }
  return false;
}

// One tensor entry of the header; `where` is "<path>: tensor 'name'".
Status ParseTensorEntry(const std::string& where, const json& j, uint64_t data_size,
                        const char* data_start, TensorInfo* info,
                        std::pair<uint64_t, uint64_t>* range) {
  if (!j.is_object()) return Status::Corruption(where + ": entry is not a JSON object");
  auto dtype_it = j.find("dtype");
  auto shape_it = j.find("shape");
  auto offsets_it = j.find("data_offsets");
  if (dtype_it == j.end()) return Status::Corruption(where + ": missing \"dtype\"");
  if (shape_it == j.end()) return Status::Corruption(where + ": missing \"shape\"");
  if (offsets_it == j.end()) return Status::Corruption(where + ": missing \"data_offsets\"");
  if (!dtype_it->is_string()) return Status::Corruption(where + ": \"dtype\" is not a string");
  info->dtype = dtype_it->get<std::string>();

  if (!shape_it->is_array()) return Status::Corruption(where + ": \"shape\" is not an array");
  uint64_t elements = 1;
  bool overflow = false;
  for (const json& d : *shape_it) {
    int64_t dim = 0;
    if (!JsonToInt64(d, &dim)) {
      return Status::Corruption(where + ": shape " + json_internal::QuoteJson(*shape_it) +
                                " has a dimension that is not an integer in int64 range");
    }
    if (dim < 0) {
      return Status::Corruption(where + ": shape " + json_internal::QuoteJson(*shape_it) +
                                " has negative dimension " + std::to_string(dim));
    }
    info->shape.push_back(dim);
    overflow |= __builtin_mul_overflow(elements, static_cast<uint64_t>(dim), &elements);
  }
  const uint64_t element_size = ElementSize(info->dtype);
  uint64_t needed = 0;
  if (overflow || __builtin_mul_overflow(elements, std::max<uint64_t>(element_size, 1), &needed)) {
    return Status::Corruption(where + ": shape " + ShapeText(info->shape) + " of " + info->dtype +
                              " has more bytes than fit in 64 bits");
  }

  const json& offsets = *offsets_it;
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    return Status::Corruption(where + ": \"data_offsets\" is " + json_internal::QuoteJson(offsets) +
                              ", not [begin, end] of non-negative integers");
  }
  const uint64_t begin = offsets[0].get<uint64_t>();
  const uint64_t end = offsets[1].get<uint64_t>();
  if (begin > end) {
    return Status::Corruption(where + ": data_offsets [" + std::to_string(begin) + ", " +
                              std::to_string(end) + "] end before they begin");
  }
  if (end > data_size) {
    return Status::Corruption(where + ": data_offsets [" + std::to_string(begin) + ", " +
                              std::to_string(end) + "] exceed the data section of " +
                              std::to_string(data_size) + " bytes");
  }
  if (element_size != 0 && end - begin != needed) {
    return Status::Corruption(where + ": data_offsets span " + std::to_string(end - begin) +
                              " bytes, shape " + ShapeText(info->shape) + " of " + info->dtype +
                              " needs " + std::to_string(needed));
  }
  info->bytes = end - begin;
  info->data = data_start + begin;
  *range = {begin, end};
  return Status::OK();
}

}  // namespace

Result<DType> SafetensorsDTypeToDType(const std::string& dtype) {
  if (dtype == "F32") return DType::kF32;
  if (dtype == "F16") return DType::kF16;
  if (dtype == "BF16") return DType::kBF16;
  return Status::NotSupported("dtype " + dtype + " (kvstash computes with F32, F16 and BF16)");
}

// ---------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept { *this = std::move(other); }

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    Unmap();
    path_ = std::move(other.path_);
    file_size_ = other.file_size_;
    tensor_bytes_ = other.tensor_bytes_;
    map_ = std::exchange(other.map_, nullptr);
    metadata_ = std::move(other.metadata_);
    tensors_ = std::move(other.tensors_);
    index_ = std::move(other.index_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { Unmap(); }

void SafetensorsFile::Unmap() {
  if (map_ != nullptr) ::munmap(map_, file_size_);
  map_ = nullptr;
}

Result<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string msg = "cannot open " + path + ": " + ErrnoText(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::IOError(msg);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::IOError("cannot stat " + path + ": " + ErrnoText(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::IOError(path + " is not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < kLengthFieldBytes) {
    ::close(fd);
    return Status::Corruption(path + ": file is " + std::to_string(file_size) +
                              " bytes, too short for the 8-byte header length");
  }
  void* map = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_err = errno;
  ::close(fd);  // the mapping keeps the file open
  if (map == MAP_FAILED) {
    return Status::IOError("cannot mmap " + path + " (" + std::to_string(file_size) +
                           " bytes): " + ErrnoText(map_err));
  }

  // From here on the mapping is owned by `file`, and unmapped on any error.
  SafetensorsFile file;
  file.path_ = path;
  file.file_size_ = file_size;
  file.map_ = map;
  const char* base = static_cast<const char*>(map);

  const uint64_t header_len = DecodeFixed64(base);
  if (header_len > file_size - kLengthFieldBytes) {
    return Status::Corruption(path + ": header length " + std::to_string(header_len) +
                              " exceeds the " + std::to_string(file_size - kLengthFieldBytes) +
                              " bytes after the length field (file is " +
                              std::to_string(file_size) + " bytes)");
  }
  if (header_len > kMaxHeaderBytes) {
    return Status::Corruption(path + ": header length " + std::to_string(header_len) +
                              " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
                              " bytes");
  }
  const char* header = base + kLengthFieldBytes;
  const char* data_start = header + header_len;
  const uint64_t data_size = file_size - kLengthFieldBytes - header_len;

  json root;
  try {
    root = json::parse(header, data_start);
  } catch (const json::exception& e) {
    return Status::Corruption(path + ": header (" + std::to_string(header_len) +
                              " bytes) is not valid JSON: " + e.what());
  }
  if (!root.is_object()) {
    return Status::Corruption(path + ": header is JSON " + std::string(root.type_name()) +
                              ", not an object");
  }

  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  ranges.reserve(root.size());
  file.tensors_.reserve(root.size());
  // Every access below checks the JSON type first; the catch is a backstop so
  // that a missed case is still a Corruption, not an escaping exception.
  try {
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (!it->is_object()) {
          return Status::Corruption(path + ": __metadata__ is JSON " +
                                    std::string(it->type_name()) + ", not an object");
        }
        for (auto m = it->begin(); m != it->end(); ++m) {
          if (!m->is_string()) {
            return Status::Corruption(path + ": __metadata__ value of '" + m.key() + "' is JSON " +
                                      std::string(m->type_name()) + ", not a string");
          }
          file.metadata_[m.key()] = m->get<std::string>();
        }
        continue;
      }
      TensorInfo info;
      info.name = it.key();
      std::pair<uint64_t, uint64_t> range;
      KVSTASH_RETURN_IF_ERROR(ParseTensorEntry(path + ": tensor '" + info.name + "'", *it,
                                               data_size, data_start, &info, &range));
      info.file_offset = kLengthFieldBytes + header_len + range.first;
      file.tensors_.push_back(std::move(info));
      ranges.push_back(range);
    }
  } catch (const json::exception& e) {
    return Status::Corruption(path + ": bad header: " + e.what());
  }

  // Offset order; a tensor overlaps if it starts before the furthest end of
  // the non-empty tensors before it. Empty tensors own no bytes.
  std::vector<size_t> order(file.tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (ranges[a] != ranges[b]) return ranges[a] < ranges[b];
    return file.tensors_[a].name < file.tensors_[b].name;
  });
  uint64_t max_end = 0;
  size_t max_end_at = 0;
  for (size_t i : order) {
    const auto& [begin, end] = ranges[i];
    if (begin == end) continue;
    if (begin < max_end) {
      const auto& prev = ranges[max_end_at];
      return Status::Corruption(path + ": tensors '" + file.tensors_[max_end_at].name +
                                "' data_offsets [" + std::to_string(prev.first) + ", " +
                                std::to_string(prev.second) + "] and '" + file.tensors_[i].name +
                                "' data_offsets [" + std::to_string(begin) + ", " +
                                std::to_string(end) + "] overlap");
    }
    max_end = end;
    max_end_at = i;
  }
  std::vector<TensorInfo> sorted;
  sorted.reserve(order.size());
  for (size_t i : order) {
    file.tensor_bytes_ += file.tensors_[i].bytes;
    sorted.push_back(std::move(file.tensors_[i]));
  }
  file.tensors_ = std::move(sorted);
  for (size_t i = 0; i < file.tensors_.size(); ++i) file.index_[file.tensors_[i].name] = i;
  return file;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const TensorInfo& t : tensors_) out.push_back(t.name);
  return out;
}

const TensorInfo* SafetensorsFile::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
Result<TensorView> ToView(const TensorInfo& info, const std::string& path) {
  Result<DType> dtype = SafetensorsDTypeToDType(info.dtype);
  if (!dtype.ok()) {
    return Status::NotSupported(path + ": tensor '" + info.name + "' has dtype " + info.dtype +
                                "; kvstash computes with F32, F16 and BF16");
  }
  return TensorView{info.name, *dtype, info.shape, info.data, info.bytes};
}
}  // namespace

Result<TensorView> SafetensorsFile::Get(const std::string& name) const {
  const TensorInfo* info = Find(name);
  if (info == nullptr) return Status::NotFound(path_ + " has no tensor '" + name + "'");
  return ToView(*info, path_);
}

// ---------------------------------------------------------------------------
// SafetensorsModel

namespace {

// Shard names come from a file we did not write: keep them inside the model
// directory.
bool IsPlainRelativePath(const std::string& name) {
  if (name.empty() || name[0] == '/') return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string::npos) slash = name.size();
    if (name.compare(start, slash - start, "..") == 0 && slash - start == 2) return false;
    start = slash + 1;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<SafetensorsModel>> SafetensorsModel::Open(const std::string& dir) {
  std::unique_ptr<SafetensorsModel> model(new SafetensorsModel());
  model->dir_ = dir;
  const std::string index_path = dir + "/" + kIndexFile;
  const std::string single_path = dir + "/" + kSingleFile;

  if (!FileExists(index_path)) {
    if (!FileExists(single_path)) {
      return Status::NotFound("no safetensors weights in " + dir + ": tried " + index_path +
                              " and " + single_path);
    }
    KVSTASH_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(single_path));
    for (size_t i = 0; i < file.tensors().size(); ++i) {
      model->where_[file.tensors()[i].name] = {0, i};
      model->names_.push_back(file.tensors()[i].name);
      model->total_bytes_ += file.tensors()[i].bytes;
    }
    std::sort(model->names_.begin(), model->names_.end());
    model->files_.push_back(std::move(file));
    return model;
  }

  std::string text;
  KVSTASH_RETURN_IF_ERROR(ReadSmallFile(index_path, SafetensorsFile::kMaxHeaderBytes, &text));
  // tensor -> shard; std::map so names_ comes out sorted.
  std::map<std::string, std::string> weight_map;
  try {
    json root = json::parse(text);
    if (!root.is_object()) return Status::Corruption(index_path + ": not a JSON object");
    auto wm = root.find("weight_map");
    if (wm == root.end()) return Status::Corruption(index_path + ": missing \"weight_map\"");
    if (!wm->is_object()) {
      return Status::Corruption(index_path + ": \"weight_map\" is JSON " +
                                std::string(wm->type_name()) + ", not an object");
    }
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it->is_string()) {
        return Status::Corruption(index_path + ": weight_map entry of tensor '" + it.key() +
                                  "' is JSON " + std::string(it->type_name()) +
                                  ", not a file name");
      }
      weight_map[it.key()] = it->get<std::string>();
    }
  } catch (const json::exception& e) {
    return Status::Corruption(index_path + ": not valid JSON: " + e.what());
  }

  // shard file name -> index in files_; each shard is opened once.
  std::map<std::string, size_t> shard_index;
  for (const auto& [tensor, shard] : weight_map) {
    if (shard_index.count(shard)) continue;
    if (!IsPlainRelativePath(shard)) {
      return Status::Corruption(index_path + ": tensor '" + tensor + "' is mapped to shard '" +
                                shard + "', which is not a path inside " + dir);
    }
    shard_index.emplace(shard, 0);
  }
  for (auto& [shard, index] : shard_index) {
    Result<SafetensorsFile> file = SafetensorsFile::Open(dir + "/" + shard);
    if (!file.ok()) {
      return file.status().WithContext("shard '" + shard + "' named by " + index_path);
    }
    index = model->files_.size();
    model->files_.push_back(std::move(file).value());
  }
  for (const auto& [tensor, shard] : weight_map) {
    const size_t f = shard_index.at(shard);
    const SafetensorsFile& file = model->files_[f];
    const TensorInfo* info = file.Find(tensor);
    if (info == nullptr) {
      return Status::Corruption(index_path + " maps tensor '" + tensor + "' to shard '" + shard +
                                "', but " + file.path() + " has no such tensor");
    }
    model->where_[tensor] = {f, static_cast<size_t>(info - file.tensors().data())};
    model->names_.push_back(tensor);
    model->total_bytes_ += info->bytes;
  }
  return model;
}

const TensorInfo* SafetensorsModel::Find(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) return nullptr;
  return &files_[it->second.first].tensors()[it->second.second];
}

Result<TensorView> SafetensorsModel::Get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    return Status::NotFound("model in " + dir_ + " has no tensor '" + name + "'");
  }
  const SafetensorsFile& file = files_[it->second.first];
  return ToView(file.tensors()[it->second.second], file.path());
}

// Hashes straight from the mapping, in one pass. Measured on a cold page
// cache, madvise(WILLNEED) a chunk ahead made this slower (1.0 vs 1.5-2.0
// GB/s for 200 MB): the fault path's own readahead already streams each
// tensor, and tensors are stored in roughly name order anyway.
Result<Hash128> SafetensorsModel::WeightsDigest() const {
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  if (state == nullptr) return Status::IOError("cannot allocate an XXH3 state");
  XXH3_128bits_reset(state.get());
  std::string head;
  for (const std::string& name : names_) {
    const TensorInfo& t = *Find(name);
    head.clear();
    PutFixed64(&head, t.name.size());
    head += t.name;
    PutFixed64(&head, t.dtype.size());
    head += t.dtype;
    PutFixed64(&head, t.shape.size());
    for (int64_t d : t.shape) PutFixed64(&head, static_cast<uint64_t>(d));
    PutFixed64(&head, t.bytes);
    XXH3_128bits_update(state.get(), head.data(), head.size());
    XXH3_128bits_update(state.get(), t.data, t.bytes);
  }
  XXH128_hash_t h = XXH3_128bits_digest(state.get());
  return Hash128{h.low64, h.high64};
}

}  // namespace kvstash
