#include "engine/safetensors_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "serde/le_coding.h"

namespace kvstash {

namespace {

using json = nlohmann::json;

struct Piece {
  const void* data;
  uint64_t size;
};

std::string ErrnoText(int err) { return std::strerror(err); }

Status WriteAll(int fd, const std::string& path, const void* data, uint64_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    // write() moves at most ~2 GiB per call on Linux; ask for 1 GiB at a time.
    size_t want = static_cast<size_t>(std::min<uint64_t>(size, uint64_t{1} << 30));
    ssize_t n = ::write(fd, p, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError("cannot write " + path + ": " + ErrnoText(errno));
    p += n;
    size -= static_cast<uint64_t>(n);
  }
  return Status::OK();
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The one place this module writes a file: `pieces` into `path`.tmp, fsync,
// rename over `path`, fsync the directory so the rename itself is durable.
// On failure before the rename the .tmp is removed; `path` is untouched.
Status WriteFileAtomically(const std::string& path, const std::vector<Piece>& pieces) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot create " + tmp + ": " + ErrnoText(errno));
  Status s;
  for (const Piece& piece : pieces) {
    s = WriteAll(fd, tmp, piece.data, piece.size);
    if (!s.ok()) break;
  }
  if (s.ok() && ::fsync(fd) != 0) {
    s = Status::IOError("cannot fsync " + tmp + ": " + ErrnoText(errno));
  }
  // close() can report a deferred write error (NFS, quota).
  if (::close(fd) != 0 && s.ok()) {
    s = Status::IOError("cannot close " + tmp + ": " + ErrnoText(errno));
  }
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::IOError("cannot rename " + tmp + " to " + path + ": " + ErrnoText(errno));
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  const std::string dir = DirOf(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::IOError("cannot open directory " + dir + ": " + ErrnoText(errno));
  if (::fsync(dfd) != 0) {
    s = Status::IOError("cannot fsync directory " + dir + ": " + ErrnoText(errno));
  }
  ::close(dfd);
  return s;
}

Status CheckTensor(const TensorToWrite& t) {
  const std::string where = "tensor '" + t.name + "'";
  if (t.name.empty()) return Status::InvalidArgument("a tensor has an empty name");
  if (t.name == "__metadata__") {
    return Status::InvalidArgument("tensor name '__metadata__' is reserved for the header");
  }
  const size_t element_size = DTypeSize(t.dtype);
  if (element_size == 0) {
    return Status::InvalidArgument(where + ": unknown dtype value " +
                                   std::to_string(static_cast<int>(t.dtype)));
  }
  uint64_t needed = element_size;
  for (int64_t d : t.shape) {
    if (d < 0) {
      return Status::InvalidArgument(where + ": negative dimension " + std::to_string(d));
    }
    if (__builtin_mul_overflow(needed, static_cast<uint64_t>(d), &needed)) {
      return Status::InvalidArgument(where + ": shape has more bytes than fit in 64 bits");
    }
  }
  if (needed != t.bytes) {
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i) {
      shape += (i ? ", " : "") + std::to_string(t.shape[i]);
    }
    return Status::InvalidArgument(
        where + ": " + std::to_string(t.bytes) + " bytes given, shape [" + shape + "] of " +
        DTypeToSafetensorsDType(t.dtype) + " needs " + std::to_string(needed));
  }
  if (t.bytes > 0 && t.data == nullptr) return Status::InvalidArgument(where + ": data is null");
  return Status::OK();
}

}  // namespace

const char* DTypeToSafetensorsDType(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
  }
  return "unknown";
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> sorted;
  sorted.reserve(tensors.size());
  for (const TensorToWrite& t : tensors) {
    KVSTASH_RETURN_IF_ERROR(CheckTensor(t));
    sorted.push_back(&t);
  }
  // Name order for the data, like the header's keys: the same tensors give
  // the same bytes whatever order the caller lists them in.
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorToWrite* a, const TensorToWrite* b) { return a->name < b->name; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i]->name == sorted[i - 1]->name) {
      return Status::InvalidArgument("tensor '" + sorted[i]->name + "' is given twice");
    }
  }

  std::string header;
  try {
    json root = json::object();  // keys sorted: nlohmann's object is a std::map
    uint64_t offset = 0;
    for (const TensorToWrite* t : sorted) {
      root[t->name] = {{"dtype", DTypeToSafetensorsDType(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", json::array({offset, offset + t->bytes})}};
      offset += t->bytes;
    }
    if (!metadata.empty()) root["__metadata__"] = metadata;
    header = root.dump();
  } catch (const json::exception& e) {
    // dump() refuses strings that are not UTF-8.
    return Status::InvalidArgument("cannot encode the header of " + path + ": " + e.what());
  }
  // Spaces up to a multiple of 8, so the data section (at 8 + header length)
  // is 8-byte aligned, as Hugging Face's writer does.
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string length;
  PutFixed64(&length, header.size());

  std::vector<Piece> pieces;
  pieces.reserve(sorted.size() + 2);
  pieces.push_back({length.data(), length.size()});
  pieces.push_back({header.data(), header.size()});
  for (const TensorToWrite* t : sorted) pieces.push_back({t->data, t->bytes});
  return WriteFileAtomically(path, pieces);
}

Status WriteSafetensorsIndex(const std::string& dir,
                             const std::map<std::string, std::string>& weight_map,
                             uint64_t total_size) {
  // SafetensorsModel::kIndexFile; spelled here to keep the writer free of the reader.
  const std::string path = dir + "/model.safetensors.index.json";
  for (const auto& [tensor, shard] : weight_map) {
    if (shard.empty()) {
      return Status::InvalidArgument("tensor '" + tensor + "' is mapped to an empty shard name");
    }
  }
  std::string text;
  try {
    json root = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
    text = root.dump(2) + "\n";
  } catch (const json::exception& e) {
    return Status::InvalidArgument("cannot encode " + path + ": " + e.what());
  }
  return WriteFileAtomically(path, {{text.data(), text.size()}});
}

}  // namespace kvstash
