#include "engine/safetensors.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/safetensors_writer.h"
#include "serde/le_coding.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using ::kvstash::testing::TempDir;

// gmock's HasSubstr without linking gmock.
#define EXPECT_HAS(haystack, needle)                               \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "expected \"" << (needle) << "\" in \"" << (haystack) << "\""

// By value: ASSERT_OK binds a reference, and `Temp().status()` would dangle.
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

std::string Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TensorToWrite T(const std::string& name, DType dtype, std::vector<int64_t> shape,
                const std::string& bytes) {
  return TensorToWrite{name, dtype, std::move(shape), bytes.data(), bytes.size()};
}

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadRaw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A safetensors file with a hand-written header, for the bad cases.
std::string Craft(const std::string& header, const std::string& data) {
  std::string out;
  PutFixed64(&out, header.size());
  return out + header + data;
}

// Writes a crafted file and opens it; the test asserts on the status.
Status OpenCrafted(const TempDir& dir, const std::string& header, const std::string& data) {
  const std::string path = dir.Sub("crafted.safetensors");
  WriteRaw(path, Craft(header, data));
  return SafetensorsFile::Open(path).status();
}

class SafetensorsTest : public ::testing::Test {
 protected:
  TempDir dir_;
  // 0-d, 1-d and 3-d tensors of all three dtypes, plus an empty one.
  std::string scalar_ = Random(4, 1);
  std::string vec_ = Random(5 * 2, 2);
  std::string cube_ = Random(2 * 3 * 4 * 2, 3);
  std::vector<TensorToWrite> Tensors() const {
    return {T("c.cube", DType::kBF16, {2, 3, 4}, cube_), T("a.scalar", DType::kF32, {}, scalar_),
            T("b.vec", DType::kF16, {5}, vec_), T("d.empty", DType::kF32, {0, 3}, "")};
  }
};

void ExpectView(const Result<TensorView>& v, DType dtype, const std::vector<int64_t>& shape,
                const std::string& bytes) {
  ASSERT_OK(v.status());
  EXPECT_EQ(v->dtype, dtype);
  EXPECT_EQ(v->shape, shape);
  ASSERT_EQ(v->bytes, bytes.size());
  EXPECT_EQ(std::string(v->data, v->bytes), bytes);
}

TEST_F(SafetensorsTest, RoundTripsAllDtypesAndShapes) {
  const std::string path = dir_.Sub("m.safetensors");
  ASSERT_OK(WriteSafetensors(path, Tensors(), {}));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  Result<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_OK(f.status());
  EXPECT_EQ(f->names(), (std::vector<std::string>{"a.scalar", "b.vec", "c.cube", "d.empty"}));
  EXPECT_TRUE(f->metadata().empty());
  ExpectView(f->Get("a.scalar"), DType::kF32, {}, scalar_);
  ExpectView(f->Get("b.vec"), DType::kF16, {5}, vec_);
  ExpectView(f->Get("c.cube"), DType::kBF16, {2, 3, 4}, cube_);
  ExpectView(f->Get("d.empty"), DType::kF32, {0, 3}, "");
  EXPECT_EQ(f->tensor_bytes(), scalar_.size() + vec_.size() + cube_.size());
  EXPECT_EQ(f->file_size(), std::filesystem::file_size(path));

  // The data section starts 8-byte aligned, after a space-padded header.
  const std::string raw = ReadRaw(path);
  const uint64_t n = DecodeFixed64(raw.data());
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_EQ(raw.size(), 8 + n + f->tensor_bytes());
  EXPECT_EQ(f->tensors()[0].file_offset, 8 + n);
}

TEST_F(SafetensorsTest, WritesSortedSpacePaddedHeader) {
  const std::string path = dir_.Sub("x.safetensors");
  const std::string data = Random(8, 4);
  ASSERT_OK(WriteSafetensors(
      path, {T("z", DType::kF16, {2}, data.substr(0, 4)), T("y", DType::kF32, {1}, data.substr(4))},
      {{"format", "pt"}}));
  const std::string header = R"({"__metadata__":{"format":"pt"},)"
                             R"("y":{"data_offsets":[0,4],"dtype":"F32","shape":[1]},)"
                             R"("z":{"data_offsets":[4,8],"dtype":"F16","shape":[2]}})";
  std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  EXPECT_EQ(ReadRaw(path), Craft(padded, data.substr(4) + data.substr(0, 4)));
}

TEST_F(SafetensorsTest, MetadataRoundTrips) {
  const std::string path = dir_.Sub("m.safetensors");
  std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"quote\"d", "line\nbreak \xc3\xbc"}, {"empty", ""}};
  ASSERT_OK(WriteSafetensors(path, Tensors(), meta));
  Result<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_OK(f.status());
  EXPECT_EQ(f->metadata(), meta);
}

TEST_F(SafetensorsTest, WriterRejectsBadInputAndWritesNothing) {
  const std::string path = dir_.Sub("bad.safetensors");
  const std::string four = Random(4, 5);
  Status s = WriteSafetensors(path, {T("w", DType::kF16, {3}, four)}, {});
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_HAS(s.message(), "tensor 'w': 4 bytes given, shape [3] of F16 needs 6");
  s = WriteSafetensors(path, {T("w", DType::kF32, {1}, four), T("w", DType::kF32, {1}, four)}, {});
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  s = WriteSafetensors(path, {T("w", DType::kF32, {-1}, four)}, {});
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  s = WriteSafetensors(path, {T("__metadata__", DType::kF32, {1}, four)}, {});
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  s = WriteSafetensors(path, {T("bad\xff", DType::kF32, {1}, four)}, {});
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  s = WriteSafetensors(dir_.Sub("no/such/dir/x.safetensors"), {T("w", DType::kF32, {1}, four)}, {});
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_HAS(s.message(), "no/such/dir/x.safetensors.tmp");
}

TEST_F(SafetensorsTest, WriterReplacesAnExistingFile) {
  const std::string path = dir_.Sub("m.safetensors");
  WriteRaw(path, "old contents");
  ASSERT_OK(WriteSafetensors(path, Tensors(), {}));
  ASSERT_OK(StatusOf(SafetensorsFile::Open(path)));
}

TEST_F(SafetensorsTest, GetOfAMissingTensorIsNotFound) {
  const std::string path = dir_.Sub("m.safetensors");
  ASSERT_OK(WriteSafetensors(path, Tensors(), {}));
  Result<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_OK(f.status());
  Result<TensorView> v = f->Get("nope");
  EXPECT_TRUE(v.status().IsNotFound()) << v.status().ToString();
  EXPECT_HAS(v.status().message(), "'nope'");
  EXPECT_FALSE(f->Has("nope"));
  EXPECT_EQ(f->Find("nope"), nullptr);
}

TEST_F(SafetensorsTest, MovedFileKeepsItsViewsValid) {
  const std::string path = dir_.Sub("m.safetensors");
  ASSERT_OK(WriteSafetensors(path, Tensors(), {}));
  Result<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_OK(f.status());
  Result<TensorView> v = f->Get("c.cube");
  ASSERT_OK(v.status());
  SafetensorsFile moved = std::move(f).value();
  SafetensorsFile assigned = std::move(moved);
  EXPECT_EQ(std::string(v->data, v->bytes), cube_);
  ExpectView(assigned.Get("c.cube"), DType::kBF16, {2, 3, 4}, cube_);
}

TEST_F(SafetensorsTest, ConcurrentReads) {
  const std::string path = dir_.Sub("m.safetensors");
  ASSERT_OK(WriteSafetensors(path, Tensors(), {}));
  Result<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_OK(f.status());
  std::vector<std::thread> threads;
  std::vector<int> good(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        Result<TensorView> v = f->Get(i % 2 ? "c.cube" : "b.vec");
        const std::string& want = i % 2 ? cube_ : vec_;
        good[t] += v.ok() && std::string(v->data, v->bytes) == want;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int g : good) EXPECT_EQ(g, 200);
}

// ---------------------------------------------------------------------------
// Bad bytes

TEST_F(SafetensorsTest, EveryTruncationIsCorruption) {
  const std::string path = dir_.Sub("m.safetensors");
  ASSERT_OK(WriteSafetensors(path, Tensors(), {{"format", "pt"}}));
  const std::string full = ReadRaw(path);
  const std::string cut_path = dir_.Sub("cut.safetensors");
  // The file is small: try every length, so header, padding and data are all cut.
  for (size_t len = 0; len < full.size(); ++len) {
    WriteRaw(cut_path, full.substr(0, len));
    Status s = SafetensorsFile::Open(cut_path).status();
    EXPECT_TRUE(s.IsCorruption()) << "length " << len << ": " << s.ToString();
    EXPECT_HAS(s.message(), cut_path) << "length " << len;
  }
}

// A flipped header byte may still be a valid file (a digit in a name); it
// must never be read out of bounds.
TEST_F(SafetensorsTest, FlippedHeaderBytesNeverReadOutOfBounds) {
  const std::string path = dir_.Sub("m.safetensors");
  ASSERT_OK(WriteSafetensors(path, Tensors(), {{"format", "pt"}}));
  const std::string full = ReadRaw(path);
  const size_t header_end = 8 + DecodeFixed64(full.data());
  const std::string flipped_path = dir_.Sub("flipped.safetensors");
  int opened = 0;
  for (size_t pos = 0; pos < header_end; ++pos) {
    for (unsigned char mask : {0x01, 0x10, 0x80}) {
      std::string bytes = full;
      bytes[pos] = static_cast<char>(bytes[pos] ^ mask);
      WriteRaw(flipped_path, bytes);
      Result<SafetensorsFile> f = SafetensorsFile::Open(flipped_path);
      if (!f.ok()) {
        EXPECT_TRUE(f.status().IsCorruption()) << pos << ": " << f.status().ToString();
        continue;
      }
      ++opened;
      uint64_t sum = 0;
      for (const TensorInfo& t : f->tensors()) {
        ASSERT_LE(t.file_offset + t.bytes, bytes.size()) << pos;
        for (uint64_t i = 0; i < t.bytes; ++i) sum += static_cast<unsigned char>(t.data[i]);
      }
      (void)sum;
    }
  }
  EXPECT_GT(opened, 0);  // some flips (in names, metadata) leave a valid file
}

TEST_F(SafetensorsTest, HeaderLengthBeyondTheFile) {
  std::string bytes = Craft("{}", "");
  EncodeFixed64(bytes.data(), 1000);
  const std::string path = dir_.Sub("long.safetensors");
  WriteRaw(path, bytes);
  Status s = SafetensorsFile::Open(path).status();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_HAS(s.message(), "header length 1000 exceeds the 2 bytes");
}

TEST_F(SafetensorsTest, HeaderLengthOverTheLimit) {
  // A sparse file big enough to hold the oversized header it claims.
  const std::string path = dir_.Sub("huge.safetensors");
  std::string prefix;
  PutFixed64(&prefix, SafetensorsFile::kMaxHeaderBytes + 1);
  WriteRaw(path, prefix);
  std::filesystem::resize_file(path, SafetensorsFile::kMaxHeaderBytes + 64);
  Status s = SafetensorsFile::Open(path).status();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_HAS(s.message(), "exceeds the limit of 100000000 bytes");
}

TEST_F(SafetensorsTest, DataOffsetsOutOfRange) {
  Status s = OpenCrafted(dir_, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         std::string(8, 'x'));
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_HAS(s.message(), "tensor 'w': data_offsets [4, 12] exceed the data section of 8 bytes");
  s = OpenCrafted(dir_, R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})",
                  std::string(8, 'x'));
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  s = OpenCrafted(dir_, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})",
                  std::string(8, 'x'));
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  s = OpenCrafted(dir_, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})",
                  std::string(8, 'x'));
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
}

TEST_F(SafetensorsTest, SpanShapeMismatchNamesBothNumbers) {
  Status s = OpenCrafted(
      dir_, R"({"model.norm.weight":{"dtype":"BF16","shape":[896],"data_offsets":[0,3584]}})",
      std::string(3584, 'x'));
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_HAS(s.message(),
             "tensor 'model.norm.weight': data_offsets span 3584 bytes, "
             "shape [896] of BF16 needs 1792");
  // Known dtypes kvstash does not compute with are checked too.
  s = OpenCrafted(dir_, R"({"ids":{"dtype":"I64","shape":[3],"data_offsets":[0,12]}})",
                  std::string(12, 'x'));
  EXPECT_HAS(s.message(), "span 12 bytes, shape [3] of I64 needs 24");
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  Status s = OpenCrafted(dir_,
                         R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         std::string(12, 'x'));
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_HAS(s.message(), "'a' data_offsets [0, 8] and 'b' data_offsets [4, 12] overlap");
  // The same range twice overlaps as well; an empty tensor owns no bytes.
  s = OpenCrafted(dir_,
                  R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                  R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                  std::string(4, 'x'));
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_OK(OpenCrafted(dir_,
                        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                        std::string(8, 'x')));
}

TEST_F(SafetensorsTest, UnsupportedDtypesAreListableButNotViewable) {
  const std::string path = dir_.Sub("crafted.safetensors");
  WriteRaw(path, Craft(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("ids":{"dtype":"I64","shape":[2],"data_offsets":[4,20]},)"
                       R"("q":{"dtype":"Q4_WEIRD","shape":[7],"data_offsets":[20,23]}})",
                       Random(23, 6)));
  Result<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_OK(f.status());
  EXPECT_EQ(f->names(), (std::vector<std::string>{"w", "ids", "q"}));
  ASSERT_NE(f->Find("ids"), nullptr);
  EXPECT_EQ(f->Find("ids")->dtype, "I64");
  EXPECT_EQ(f->Find("ids")->bytes, 16u);
  EXPECT_OK(StatusOf(f->Get("w")));
  Status s = f->Get("ids").status();
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  EXPECT_HAS(s.message(), "tensor 'ids' has dtype I64");
  s = f->Get("q").status();
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  EXPECT_HAS(s.message(), "Q4_WEIRD");
}

TEST_F(SafetensorsTest, MalformedHeaders) {
  const std::string data(8, 'x');
  struct Case {
    std::string header;
    std::string expect;
  };
  const Case cases[] = {
      {"{\"w\": {\"dtype\": \"F32\", ", "not valid JSON"},
      {"\x01\x02garbage", "not valid JSON"},
      {"", "not valid JSON"},
      {"[1, 2]", "header is JSON array, not an object"},
      {R"({"w":[0,8]})", "tensor 'w': entry is not a JSON object"},
      {R"({"w":{"shape":[2],"data_offsets":[0,8]}})", "tensor 'w': missing \"dtype\""},
      {R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", "tensor 'w': missing \"shape\""},
      {R"({"w":{"dtype":"F32","shape":[2]}})", "tensor 'w': missing \"data_offsets\""},
      {R"({"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", "\"dtype\" is not a string"},
      {R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", "\"shape\" is not an array"},
      {R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "negative dimension -2"},
      {R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", "not an integer"},
      {R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})",
       "not an integer in int64 range"},
      {R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
       "more bytes than fit in 64 bits"},
      {R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})",
       "more bytes than fit in 64 bits"},
      {R"({"__metadata__":{"n":1}})", "__metadata__ value of 'n' is JSON number, not a string"},
      {R"({"__metadata__":"pt"})", "__metadata__ is JSON string, not an object"},
  };
  for (const Case& c : cases) {
    Status s = OpenCrafted(dir_, c.header, data);
    EXPECT_TRUE(s.IsCorruption()) << c.header << ": " << s.ToString();
    EXPECT_HAS(s.message(), c.expect) << c.header;
  }
}

// A nested value quoted in an error is described, not printed: printing
// recursed once per level and overflowed the stack (fuzz finding 3).
TEST_F(SafetensorsTest, DeeplyNestedShapeIsAShortError) {
  const size_t depth = 1'000'000;
  const std::string header = R"({"w":{"dtype":"F32","shape":[)" + std::string(depth, '[') +
                             std::string(depth, ']') + R"(],"data_offsets":[0,8]}})";
  Status s = OpenCrafted(dir_, header, std::string(8, 'x'));
  EXPECT_TRUE(s.IsCorruption()) << s.ToString().substr(0, 300);
  EXPECT_HAS(s.message(), "an array of 1 element holding arrays or objects");
  EXPECT_LT(s.message().size(), 300u);
}

TEST_F(SafetensorsTest, OpenOfAMissingFileIsNotFound) {
  Status s = SafetensorsFile::Open(dir_.Sub("nope.safetensors")).status();
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  s = SafetensorsFile::Open(dir_.path()).status();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
}

// ---------------------------------------------------------------------------
// Models

class SafetensorsModelTest : public SafetensorsTest {
 protected:
  // Writes Tensors() as two shards and an index into `dir`.
  void WriteSharded(const std::string& dir) {
    std::vector<TensorToWrite> all = Tensors();
    ASSERT_OK(WriteSafetensors(dir + "/model-00001-of-00002.safetensors", {all[0], all[1]}, {}));
    ASSERT_OK(WriteSafetensors(dir + "/model-00002-of-00002.safetensors", {all[2], all[3]}, {}));
    ASSERT_OK(WriteSafetensorsIndex(dir,
                                    {{all[0].name, "model-00001-of-00002.safetensors"},
                                     {all[1].name, "model-00001-of-00002.safetensors"},
                                     {all[2].name, "model-00002-of-00002.safetensors"},
                                     {all[3].name, "model-00002-of-00002.safetensors"}},
                                    TotalBytes()));
  }
  uint64_t TotalBytes() const { return scalar_.size() + vec_.size() + cube_.size(); }
  std::string Index() const { return dir_.Sub("model.safetensors.index.json"); }
};

TEST_F(SafetensorsModelTest, SingleFile) {
  ASSERT_OK(WriteSafetensors(dir_.Sub("model.safetensors"), Tensors(), {}));
  Result<std::unique_ptr<SafetensorsModel>> m = SafetensorsModel::Open(dir_.path());
  ASSERT_OK(m.status());
  EXPECT_EQ((*m)->names(), (std::vector<std::string>{"a.scalar", "b.vec", "c.cube", "d.empty"}));
  EXPECT_EQ((*m)->total_bytes(), TotalBytes());
  EXPECT_EQ((*m)->files().size(), 1u);
  ExpectView((*m)->Get("c.cube"), DType::kBF16, {2, 3, 4}, cube_);
}

TEST_F(SafetensorsModelTest, ShardedGetWorksAcrossShards) {
  WriteSharded(dir_.path());
  Result<std::unique_ptr<SafetensorsModel>> m = SafetensorsModel::Open(dir_.path());
  ASSERT_OK(m.status());
  const SafetensorsModel& model = **m;
  EXPECT_EQ(model.files().size(), 2u);
  EXPECT_EQ(model.names(), (std::vector<std::string>{"a.scalar", "b.vec", "c.cube", "d.empty"}));
  EXPECT_EQ(model.total_bytes(), TotalBytes());
  ExpectView(model.Get("a.scalar"), DType::kF32, {}, scalar_);
  ExpectView(model.Get("b.vec"), DType::kF16, {5}, vec_);
  ExpectView(model.Get("c.cube"), DType::kBF16, {2, 3, 4}, cube_);
  ExpectView(model.Get("d.empty"), DType::kF32, {0, 3}, "");
  EXPECT_TRUE(model.Has("c.cube"));
  EXPECT_FALSE(model.Has("e"));
  EXPECT_TRUE(model.Get("e").status().IsNotFound());
}

TEST_F(SafetensorsModelTest, IndexNamingAMissingTensor) {
  WriteSharded(dir_.path());
  ASSERT_OK(WriteSafetensorsIndex(dir_.path(),
                                  {{"a.scalar", "model-00001-of-00002.safetensors"},
                                   {"ghost", "model-00002-of-00002.safetensors"}},
                                  0));
  Status s = SafetensorsModel::Open(dir_.path()).status();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_HAS(s.message(), "maps tensor 'ghost' to shard 'model-00002-of-00002.safetensors'");
  EXPECT_HAS(s.message(), "has no such tensor");
}

TEST_F(SafetensorsModelTest, IndexNamingAMissingShard) {
  WriteSharded(dir_.path());
  ASSERT_OK(WriteSafetensorsIndex(
      dir_.path(), {{"a.scalar", "model-00001-of-00002.safetensors"}, {"x", "gone.safetensors"}},
      0));
  Status s = SafetensorsModel::Open(dir_.path()).status();
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_HAS(s.message(), "shard 'gone.safetensors' named by " + Index());

  ASSERT_OK(WriteSafetensorsIndex(dir_.path(), {{"x", "../escape.safetensors"}}, 0));
  s = SafetensorsModel::Open(dir_.path()).status();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_HAS(s.message(), "not a path inside");
}

TEST_F(SafetensorsModelTest, CorruptShardNamesTheShard) {
  WriteSharded(dir_.path());
  const std::string shard = dir_.Sub("model-00002-of-00002.safetensors");
  std::filesystem::resize_file(shard, std::filesystem::file_size(shard) - 1);
  Status s = SafetensorsModel::Open(dir_.path()).status();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_HAS(s.message(), "shard 'model-00002-of-00002.safetensors'");
  EXPECT_HAS(s.message(), "exceed the data section");
}

TEST_F(SafetensorsModelTest, BadIndexJson) {
  WriteSharded(dir_.path());
  const std::pair<std::string, std::string> cases[] = {
      {"{not json", "not valid JSON"},
      {"[]", "not a JSON object"},
      {R"({"metadata":{}})", "missing \"weight_map\""},
      {R"({"weight_map":[]})", "\"weight_map\" is JSON array, not an object"},
      {R"({"weight_map":{"a.scalar":3}})", "weight_map entry of tensor 'a.scalar' is JSON number"},
  };
  for (const auto& [text, expect] : cases) {
    WriteRaw(Index(), text);
    Status s = SafetensorsModel::Open(dir_.path()).status();
    EXPECT_TRUE(s.IsCorruption()) << text << ": " << s.ToString();
    EXPECT_HAS(s.message(), expect) << text;
    EXPECT_HAS(s.message(), Index()) << text;
  }
}

TEST_F(SafetensorsModelTest, NoWeightsNamesBothPaths) {
  Status s = SafetensorsModel::Open(dir_.path()).status();
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_HAS(s.message(), Index());
  EXPECT_HAS(s.message(), dir_.Sub("model.safetensors"));
}

TEST_F(SafetensorsModelTest, UnsupportedDtypeInAModel) {
  WriteRaw(dir_.Sub("model.safetensors"),
           Craft(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                 R"("ids":{"dtype":"I64","shape":[1],"data_offsets":[4,12]}})",
                 Random(12, 7)));
  Result<std::unique_ptr<SafetensorsModel>> m = SafetensorsModel::Open(dir_.path());
  ASSERT_OK(m.status());
  EXPECT_TRUE((*m)->Has("ids"));
  EXPECT_OK(StatusOf((*m)->Get("w")));
  Status s = (*m)->Get("ids").status();
  EXPECT_TRUE(s.IsNotSupported()) << s.ToString();
  EXPECT_HAS(s.message(), "I64");
  EXPECT_OK(StatusOf((*m)->WeightsDigest()));
}

Hash128 DigestOf(const std::string& dir) {
  Result<std::unique_ptr<SafetensorsModel>> m = SafetensorsModel::Open(dir);
  EXPECT_OK(m.status());
  if (!m.ok()) return Hash128{};
  Result<Hash128> h = (*m)->WeightsDigest();
  EXPECT_OK(h.status());
  return h.ok() ? *h : Hash128{};
}

TEST_F(SafetensorsModelTest, WeightsDigestIgnoresShardingButNotContent) {
  const std::string one = dir_.Sub("one"), two = dir_.Sub("two"), other = dir_.Sub("other");
  for (const std::string& d : {one, two, other}) std::filesystem::create_directory(d);
  ASSERT_OK(WriteSafetensors(one + "/model.safetensors", Tensors(), {{"format", "pt"}}));
  WriteSharded(two);
  const Hash128 base = DigestOf(one);
  EXPECT_FALSE(base.IsZero());
  EXPECT_EQ(DigestOf(two), base);
  EXPECT_EQ(DigestOf(one), base);  // deterministic

  // One flipped data byte.
  cube_[7] ^= 1;
  ASSERT_OK(WriteSafetensors(other + "/model.safetensors", Tensors(), {}));
  EXPECT_NE(DigestOf(other), base);
  cube_[7] ^= 1;
  ASSERT_OK(WriteSafetensors(other + "/model.safetensors", Tensors(), {}));
  EXPECT_EQ(DigestOf(other), base);

  // A renamed tensor.
  std::vector<TensorToWrite> renamed = Tensors();
  renamed[0].name = "c.cubf";
  ASSERT_OK(WriteSafetensors(other + "/model.safetensors", renamed, {}));
  EXPECT_NE(DigestOf(other), base);

  // Same bytes, another dtype or shape.
  std::vector<TensorToWrite> retyped = Tensors();
  retyped[2].dtype = DType::kBF16;
  ASSERT_OK(WriteSafetensors(other + "/model.safetensors", retyped, {}));
  EXPECT_NE(DigestOf(other), base);
  std::vector<TensorToWrite> reshaped = Tensors();
  reshaped[0].shape = {4, 3, 2};
  ASSERT_OK(WriteSafetensors(other + "/model.safetensors", reshaped, {}));
  EXPECT_NE(DigestOf(other), base);
}

// Prints, does not assert: timings on a shared machine are noise for a test.
TEST_F(SafetensorsModelTest, WeightsDigestThroughput) {
  constexpr size_t kTensors = 25;
  constexpr size_t kBytesEach = 8 << 20;  // 200 MiB in all
  std::vector<std::string> data(kTensors);
  std::vector<TensorToWrite> tensors;
  for (size_t i = 0; i < kTensors; ++i) {
    data[i].resize(kBytesEach);
    std::vector<uint64_t> words(kBytesEach / 8);
    std::iota(words.begin(), words.end(), i << 40);
    std::memcpy(data[i].data(), words.data(), kBytesEach);
    tensors.push_back(T("model.layers." + std::to_string(i) + ".w", DType::kF32,
                        {static_cast<int64_t>(kBytesEach / 4)}, data[i]));
  }
  const std::string path = dir_.Sub("model.safetensors");
  ASSERT_OK(WriteSafetensors(path, tensors, {}));
  {
    // The bound for a single thread: xxh3 over memory that is already mapped.
    auto start = std::chrono::steady_clock::now();
    uint64_t sum = 0;
    for (const std::string& d : data) sum += Xxh3Hash128(d).lo;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double gb = kTensors * kBytesEach / 1e9;
    std::printf(
        "xxh3-128 over the same bytes in memory (reference): %.0f MB in %.1f ms = %.2f "
        "GB/s (%llx)\n",
        gb * 1e3, s * 1e3, gb / s, static_cast<unsigned long long>(sum));
  }
  data.clear();

  auto time_digest = [&](const SafetensorsModel& m, const char* pass) {
    const double gb = static_cast<double>(m.total_bytes()) / 1e9;
    auto start = std::chrono::steady_clock::now();
    Result<Hash128> h = m.WeightsDigest();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_OK(h.status());
    std::printf("WeightsDigest %s: %.0f MB in %.1f ms = %.2f GB/s\n", pass, gb * 1e3, s * 1e3,
                gb / s);
  };
  {
    Result<std::unique_ptr<SafetensorsModel>> m = SafetensorsModel::Open(dir_.path());
    ASSERT_OK(m.status());
    time_digest(**m, "page cache warm, first touch of the mapping");
    time_digest(**m, "again, mapping faulted in");
  }
  // Drop this file's (clean, now unmapped) pages from the page cache.
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  ::close(fd);
  Result<std::unique_ptr<SafetensorsModel>> m = SafetensorsModel::Open(dir_.path());
  ASSERT_OK(m.status());
  time_digest(**m, "page cache cold (disk-bound)");
}

}  // namespace
}  // namespace kvstash
