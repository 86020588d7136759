// Feeds SafetensorsFile::Open a model's weights file, and
// SafetensorsModel::Open a sharded model's model.safetensors.index.json, as
// `kvstash run --model DIR` reads them from a downloaded checkpoint.
//
// Input: control byte | bytes. Control bit 0 clear: the bytes are a
// .safetensors file. Set: they are model.safetensors.index.json in a
// directory that also holds two valid shards (a.safetensors, b.safetensors).
// Files go to a private directory under $TMPDIR (default /dev/shm if
// writable, else /tmp), removed at exit.
//
// Properties: nothing crashes, leaks or hits UB; a bad file is Corruption; a
// bad index Corruption, or NotFound/IOError for a shard it names that is
// missing or not a file; a file that opens describes only bytes inside it:
// every tensor's view is exactly the file's bytes at its offset, inside the
// data section, non-empty tensors do not overlap, a known dtype's byte count
// is its shape's, Get() answers for exactly F32/F16/BF16; a model that opens
// finds every name it lists and can digest its weights.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "fuzz/fuzz_util.h"

namespace kvstash::fuzz {
namespace {

struct Scratch {
  std::string dir;
  Scratch() {
    // tmpfs when there is one: on a disk file system every input's
    // truncate and rewrite costs more than parsing it.
    const char* tmp = std::getenv("TMPDIR");
    std::string base = tmp && *tmp ? tmp : "/tmp";
    if (!(tmp && *tmp) && ::access("/dev/shm", W_OK) == 0) base = "/dev/shm";
    std::string pattern = base + "/kvstash-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    dir = pattern;
    // Two small shards the fuzzed index can name.
    const float a[4] = {1, 2, 3, 4};
    const uint16_t b[3] = {0x3f80, 0x4000, 0x4040};
    Status s = WriteSafetensors(
        dir + "/a.safetensors",
        {{"w.a", DType::kF32, {2, 2}, a, sizeof(a)}, {"w.scalar", DType::kF32, {}, a, 4}},
        {{"format", "pt"}});
    if (s.ok()) {
      s = WriteSafetensors(dir + "/b.safetensors", {{"w.b", DType::kBF16, {3}, b, sizeof(b)}}, {});
    }
    if (!s.ok()) {
      std::fprintf(stderr, "cannot write the shards: %s\n", s.ToString().c_str());
      std::abort();
    }
  }
  ~Scratch() {
    for (const char* name :
         {"a.safetensors", "b.safetensors", "model.safetensors.index.json", "input.safetensors"}) {
      ::unlink((dir + "/" + name).c_str());
    }
    ::rmdir(dir.c_str());
  }
};

void WriteFile(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FUZZ_CHECK(fd >= 0);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    FUZZ_CHECK(n > 0);
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

uint64_t KnownElementSize(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
  return 0;
}

void CheckFile(std::string_view bytes, const SafetensorsFile& file) {
  FUZZ_CHECK(file.file_size() == bytes.size());
  const uint64_t header_len = DecodeFixed64(bytes.data());
  const uint64_t data_start = 8 + header_len;
  uint64_t max_end = 0, total = 0;
  for (const TensorInfo& t : file.tensors()) {
    FUZZ_CHECK_MSG(t.file_offset >= data_start && t.file_offset <= bytes.size() &&
                       t.bytes <= bytes.size() - t.file_offset,
                   "tensor '" + t.name + "' outside the data section");
    FUZZ_CHECK(std::memcmp(t.data, bytes.data() + t.file_offset, t.bytes) == 0);
    if (t.bytes > 0) {
      FUZZ_CHECK_MSG(t.file_offset >= max_end, "tensor '" + t.name + "' overlaps another");
      max_end = t.file_offset + t.bytes;
    }
    total += t.bytes;
    uint64_t elements = 1;
    for (int64_t d : t.shape) {
      FUZZ_CHECK(d >= 0);
      elements *= static_cast<uint64_t>(d);  // checked for overflow by Open
    }
    if (const uint64_t size = KnownElementSize(t.dtype); size != 0) {
      FUZZ_CHECK(t.bytes == elements * size);
    }
    FUZZ_CHECK(file.Find(t.name) == &t && file.Has(t.name));
    Result<TensorView> view = file.Get(t.name);
    const bool computes = t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16";
    FUZZ_CHECK_MSG(view.ok() == computes, view.status().ToString());
    if (!view.ok()) {
      FUZZ_CHECK_ERROR(view.status(), Code::kNotSupported);
    } else {
      FUZZ_CHECK(view->data == t.data && view->bytes == t.bytes && view->shape == t.shape);
      FUZZ_CHECK(view->bytes == elements * DTypeSize(view->dtype));
    }
  }
  FUZZ_CHECK(total == file.tensor_bytes());
  FUZZ_CHECK(file.names().size() == file.tensors().size());
}

void CheckModel(const SafetensorsModel& model) {
  uint64_t total = 0;
  for (const std::string& name : model.names()) {
    const TensorInfo* info = model.Find(name);
    FUZZ_CHECK(info != nullptr && info->name == name && model.Has(name));
    total += info->bytes;
    (void)model.Get(name);
  }
  FUZZ_CHECK(total == model.total_bytes());
  FUZZ_CHECK(model.WeightsDigest().ok());
}

}  // namespace
}  // namespace kvstash::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvstash;
  using namespace kvstash::fuzz;
  static Scratch* scratch = new Scratch();  // destroyed at exit below
  static const bool registered = (std::atexit([] { delete scratch; }), true);
  (void)registered;
  if (size < 1) return 0;
  const std::string_view bytes = AsView(data + 1, size - 1);

  if (data[0] & 1) {
    WriteFile(scratch->dir + "/" + SafetensorsModel::kIndexFile, bytes);
    Result<std::unique_ptr<SafetensorsModel>> model = SafetensorsModel::Open(scratch->dir);
    if (!model.ok()) {
      FUZZ_CHECK_ERROR(model.status(), Code::kCorruption, Code::kNotFound, Code::kIOError);
      return 0;
    }
    CheckModel(**model);
    return 0;
  }
  const std::string path = scratch->dir + "/input.safetensors";
  WriteFile(path, bytes);
  Result<SafetensorsFile> file = SafetensorsFile::Open(path);
  if (!file.ok()) {
    FUZZ_CHECK_ERROR(file.status(), Code::kCorruption);
    return 0;
  }
  CheckFile(bytes, *file);
  return 0;
}
