// `kvstash stat` and `kvstash inspect` as an operator sees them: totals equal
// what was inserted, a block's tokens, text, links, shapes and K/V statistics
// are right, damage is reported with exit 1, bad keys with exit 2, and both
// work offline and while another process holds the store.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "gc/block_stats.h"
#include "serde/block_codec.h"
#include "serde/block_hash.h"
#include "store/disk_tier.h"
#include "store/store.h"
#include "tests/raw_store.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"
#include "tests/tools/cli_test_util.h"

namespace kvstash {
namespace {

using testing::CliResult;
using testing::Iota;
using testing::MakeKv;
using testing::RunKvstash;
using testing::TempDir;
using testing::TestModel;

// A store at `dir` holding `tokens` of `desc` (closed again on return).
struct Stored {
  ModelId model;
  KvCacheView kv;
  std::vector<BlockHash> hashes;  // the chain's blocks, in order
};

Stored InsertAndClose(const std::string& dir, const ModelDescription& desc,
                      const std::vector<int32_t>& tokens, uint64_t seed = 1) {
  Stored out;
  StoreOptions options;
  options.path = dir;
  options.device = "cpu";
  auto store = Store::Open(options);
  EXPECT_OK(store.status());
  if (!store.ok()) return out;
  out.model = (*store)->RegisterModel(desc).value();
  out.kv = MakeKv(desc, tokens, tokens.size(), seed);
  EXPECT_OK((*store)->Insert(out.model, tokens, out.kv).status());
  EXPECT_OK((*store)->Close());
  out.hashes = ComputeChainHashes(out.model, tokens.data(), tokens.size(), desc.block_tokens);
  return out;
}

// Opens the store read-write once and closes it: RocksDB then moves what the
// last session left in its log into SST and blob files, as every restart of
// an inference process does.
void ReopenWriter(const std::string& dir) {
  DiskTierOptions options;
  options.path = dir;
  auto disk = DiskTier::Open(options);
  EXPECT_OK(disk.status());
}

std::string Key(const ModelId& model, const BlockHash& hash) {
  return model.ToHex() + "/" + hash.ToHex();
}

// Min/max/mean/abs-max of positions [p0, p0 + n) of a [kv_heads, positions,
// head_dim] tensor, computed by libtorch in float.
void ExpectStatsOf(const nlohmann::json& j, const at::Tensor& t, int64_t p0, int64_t n,
                   const std::string& what) {
  SCOPED_TRACE(what);
  const at::Tensor x = t.narrow(1, p0, n).to(at::kFloat);
  EXPECT_EQ(j["min"].get<double>(), x.min().item<double>());
  EXPECT_EQ(j["max"].get<double>(), x.max().item<double>());
  EXPECT_EQ(j["abs_max"].get<double>(), x.abs().max().item<double>());
  EXPECT_NEAR(j["mean"].get<double>(), x.to(at::kDouble).mean().item<double>(), 1e-9);
  EXPECT_EQ(j["nonfinite"], 0);
  EXPECT_EQ(j["elements"], x.numel());
}

TEST(BlockStatsTest, ConvertersMatchTorchForEveryBitPattern) {
  at::Tensor bits = at::arange(0, 65536, at::kInt).to(at::kShort);  // wraps to every pattern
  const at::Tensor as_bf16 = bits.view(at::kBFloat16).to(at::kFloat).contiguous();
  const at::Tensor as_half = bits.view(at::kHalf).to(at::kFloat).contiguous();
  const float* bf = as_bf16.data_ptr<float>();
  const float* hf = as_half.data_ptr<float>();
  int bad = 0;
  for (uint32_t i = 0; i < 65536 && bad < 5; ++i) {
    const float mine_bf = Bf16ToFloat(static_cast<uint16_t>(i));
    const float mine_hf = HalfToFloat(static_cast<uint16_t>(i));
    const bool bf_ok =
        std::isnan(bf[i]) ? std::isnan(mine_bf) : std::memcmp(&bf[i], &mine_bf, sizeof(float)) == 0;
    const bool hf_ok =
        std::isnan(hf[i]) ? std::isnan(mine_hf) : std::memcmp(&hf[i], &mine_hf, sizeof(float)) == 0;
    if (!bf_ok || !hf_ok) {
      ++bad;
      ADD_FAILURE() << "bits 0x" << std::hex << i << ": bf16 " << mine_bf << " vs " << bf[i]
                    << ", f16 " << mine_hf << " vs " << hf[i];
    }
  }
}

// ComputeLayerStats on a block decoded from its blob equals libtorch on the
// KV that was inserted, for each dtype.
TEST(BlockStatsTest, LayerStatsOfDecodedBlobEqualTorchOnTheInsertedKv) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(DTypeName(dtype));
    TempDir dir;
    const auto desc = TestModel(dtype);
    const auto tokens = Iota(40);
    Stored s = InsertAndClose(dir.path(), desc, tokens);
    auto disk = DiskTier::Open(DiskTierOptions{dir.path()});
    ASSERT_OK(disk.status());
    std::string blob;
    ASSERT_OK((*disk)->GetBlob(s.model, s.hashes[1], &blob));
    auto header = ParseBlockHeader(blob);
    ASSERT_OK(header.status());
    std::string raw(header->raw_bytes, '\0');
    BlockCodec codec;
    ASSERT_OK(codec.Decode(blob, {{0, raw.data(), raw.size()}}).status());
    auto layers = ComputeLayerStats(header->shape, header->tokens.size(), raw);
    ASSERT_OK(layers.status());
    ASSERT_EQ(layers->size(), desc.num_layers);
    for (uint32_t l = 0; l < desc.num_layers; ++l) {
      for (int kv = 0; kv < 2; ++kv) {
        const TensorStats& st = kv == 0 ? (*layers)[l].k : (*layers)[l].v;
        const at::Tensor x =
            (kv == 0 ? s.kv.keys[l] : s.kv.values[l]).narrow(1, 16, 16).to(at::kDouble);
        EXPECT_EQ(st.min, x.min().item<double>()) << "layer " << l << " kv " << kv;
        EXPECT_EQ(st.max, x.max().item<double>());
        EXPECT_EQ(st.abs_max, x.abs().max().item<double>());
        EXPECT_NEAR(st.mean, x.mean().item<double>(), 1e-9);
        EXPECT_EQ(st.elements, static_cast<uint64_t>(x.numel()));
      }
    }
    EXPECT_TRUE(ComputeLayerStats(header->shape, 3, raw).status().IsInvalidArgument());
  }
}

TEST(CliStatTest, TotalsEqualWhatWasInsertedAndCountersShowTheLoads) {
  TempDir dir;
  const auto desc = TestModel(DType::kBF16);
  const auto first = Iota(40);         // blocks of 16, 16, 8
  const auto second = Iota(20, 1000);  // blocks of 16, 4
  {
    StoreOptions options;
    options.path = dir.path();
    options.device = "cpu";
    auto store = Store::Open(options).value();
    auto model = store->RegisterModel(desc).value();
    ASSERT_OK(store->Insert(model, first, MakeKv(desc, first, 40)).status());
    ASSERT_OK(store->Insert(model, second, MakeKv(desc, second, 20)).status());
    // Logits after `first` (3 blocks) and `second` (2); a one-block prompt keeps none.
    ASSERT_OK(store->InsertLogits(model, first, at::zeros({1, desc.vocab_size})));
    ASSERT_OK(store->InsertLogits(model, second, at::zeros({1, desc.vocab_size})));
    ASSERT_OK(store->InsertLogits(model, Iota(16, 7000), at::zeros({1, desc.vocab_size})));
    auto dst = MakeKv(desc, {}, 64);
    ASSERT_OK(store->Load(model, first, dst).status());
    ASSERT_OK(store->Load(model, Iota(16, 5000), dst).status());  // a miss
    ASSERT_OK(store->Close());
  }
  auto stat = RunKvstash({"stat", "--store", dir.path(), "--json"});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  auto j = stat.Json();
  EXPECT_EQ(j["models"], 1);
  EXPECT_EQ(j["blocks"], 5);
  EXPECT_EQ(j["chains"], 2);
  EXPECT_EQ(j["tokens"], 60);
  EXPECT_EQ(j["raw_bytes"], testing::ShapeOf(desc).RawBytes(60));
  EXPECT_GT(j["stored_bytes"].get<uint64_t>(), 0u);
  EXPECT_NEAR(j["compression_ratio"].get<double>(),
              j["raw_bytes"].get<double>() / j["stored_bytes"].get<double>(), 1e-9);
  EXPECT_GT(j["disk_usage_bytes"].get<uint64_t>(), j["stored_bytes"].get<uint64_t>());
  // Two records of 59 + 4 x vocab + 8 bytes; the one-block prompt kept none.
  EXPECT_EQ(j["logits_records"], 2);
  EXPECT_EQ(j["logits_bytes"], 2 * (59 + 4 * desc.vocab_size + 8));
  for (const char* key : {"sst_bytes", "sst_files", "blob_bytes", "live_blob_bytes", "blob_files",
                          "wal_bytes", "memtable_bytes", "estimate_live_data_bytes"}) {
    EXPECT_TRUE(j["rocksdb"].contains(key)) << key;
  }
  const auto& c = j["counters"];
  EXPECT_EQ(c["loads"], 2);
  EXPECT_EQ(c["hit_tokens_device"], 40);
  EXPECT_EQ(c["hit_tokens_disk"], 0);
  EXPECT_EQ(c["hit_tokens_remote"], 0);
  EXPECT_EQ(c["miss_tokens"], 16);
  EXPECT_NEAR(c["hit_token_ratio"].get<double>(), 40.0 / 56.0, 1e-12);
  EXPECT_EQ(c["blocks_inserted"], 5);
  EXPECT_EQ(c["corrupt_blocks"], 0);
  EXPECT_EQ(c["remote_puts"], 0);
  EXPECT_EQ(c["remote_put_errors"], 0);

  auto human = RunKvstash({"stat", "--store", dir.path()});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("5 in 2 chains"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("hit tokens 40"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("logits       2 records"), std::string::npos) << human.out;

  auto missing = RunKvstash({"stat", "--store", dir.Sub("nope")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("kvstash stat: NotFound"), std::string::npos) << missing.err;
}

// A counters record this kvstash cannot read (here: from a newer one) is
// reported, with everything else still shown, and stat exits 1.
// `--store none` (no disk tier) on a command that reads a store: the error
// names what that command cannot do, not "nothing to list" (issue 13).
TEST(CliStatTest, StoreNoneNamesTheCommandsPurpose) {
  TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"stat", "--store", "none"}, "no store to summarize"},
      {{"ls", "--store", "none"}, "no store to list"},
      {{"verify", "--store", "none"}, "no store to verify"},
      {{"prune", "--store", "none", "--orphans", "--dry-run"}, "no store to prune"},
      {{"export", "--store", "none", "--model", std::string(32, 'a'), "-o", dir.Sub("p")},
       "no store to export from"},
      {{"inspect", "--store", "none", std::string(32, 'a') + "/" + std::string(32, 'b')},
       "no store to inspect"},
  };
  for (const auto& [args, want] : cases) {
    auto r = RunKvstash(args);
    EXPECT_NE(r.exit_code, 0) << args[0];
    EXPECT_NE(r.err.find("--store none: " + want), std::string::npos) << args[0] << ": " << r.err;
    if (args[0] != "ls") {
      EXPECT_EQ(r.err.find("list"), std::string::npos) << r.err;
    }
  }
}

TEST(CliStatTest, UnreadableCountersAreReportedAndExit1) {
  TempDir dir;
  InsertAndClose(dir.path(), TestModel(), Iota(16));
  {
    testing::RawStore raw(dir.path());
    ASSERT_TRUE(raw.ok()) << raw.error();
    std::string newer = DiskCounters().Encode();
    newer[0] = 3;  // a version from a later kvstash
    EXPECT_TRUE(raw.db()->Put(rocksdb::WriteOptions(), "stats/counters", newer).ok());
  }
  auto r = RunKvstash({"stat", "--store", dir.path(), "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("kvstash stat: NotSupported: store counters: version 3"), std::string::npos)
      << r.err;
  auto j = r.Json();
  EXPECT_EQ(j["blocks"], 1);
  EXPECT_TRUE(j["counters"].is_null());
  EXPECT_NE(j["counters_error"].get<std::string>().find("version 3"), std::string::npos);
}

class CliInspectTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto r =
        RunKvstash({"mkmodel", "--out", dir_->Sub("tiny"), "--preset", "tiny", "--dtype", "bf16"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::ofstream(dir_->Sub("prompt.txt"))
        << "The store keeps these blocks in memory and on disk, checks every byte when it "
           "reads them back, and shares them with other processes on the same host. "
           "Operators can list, inspect, verify and prune what is stored, live or offline. "
           "A cache keeps what was computed once so that it need not be computed again. "
           "Each block holds the keys and values of sixty-four consecutive tokens.";
  }
  static void TearDownTestSuite() { delete dir_; }
  static TempDir* dir_;
};
TempDir* CliInspectTest::dir_ = nullptr;

TEST_F(CliInspectTest, ShowsTokensTextLinksAndShapesOfABlockARunStored) {
  TempDir store;
  auto run = RunKvstash({"run", "--model", dir_->Sub("tiny"), "--store", store.path(),
                         "--prompt-file", dir_->Sub("prompt.txt"), "--no-bos", "--max-new-tokens",
                         "2", "--json", "--threads", "2"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const ModelId model = Hash128::FromHex(run.Json()["model_id"].get<std::string>()).value();
  auto tok = RunKvstash(
      {"tokenize", "--model", dir_->Sub("tiny"), "--text-file", dir_->Sub("prompt.txt"), "--json"});
  ASSERT_EQ(tok.exit_code, 0) << tok.err;
  const std::vector<int32_t> ids = tok.Json()["ids"];
  ASSERT_GT(ids.size(), 128u);
  const BlockHash first = ComputeBlockHash(model, kRootBlockHash, ids.data(), 64);
  const BlockHash second = ComputeBlockHash(model, first, ids.data() + 64, 64);

  auto r = RunKvstash({"inspect", "--store", store.path(), Key(model, first), "--model-dir",
                       dir_->Sub("tiny"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.Json();
  EXPECT_EQ(j["token_ids"], std::vector<int32_t>(ids.begin(), ids.begin() + 64));
  std::string prompt;
  std::getline(std::ifstream(dir_->Sub("prompt.txt")), prompt, '\0');
  const std::string text = j["text"];
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(prompt.compare(0, text.size(), text), 0) << text;  // the prompt's first 64 tokens
  EXPECT_EQ(j["meta"]["parent"], kRootBlockHash.ToHex());
  EXPECT_EQ(j["children"], std::vector<std::string>{second.ToHex()});
  EXPECT_EQ(j["meta"]["tokens"], 64);
  EXPECT_EQ(j["meta"]["dtype"], "bf16");
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_TRUE(j["checksum_ok"].get<bool>());
  EXPECT_EQ(j["header"]["hash"], first.ToHex());
  EXPECT_EQ(j["header"]["layers"], 4);
  ASSERT_EQ(j["layers"].size(), 4u);
  for (const auto& layer : j["layers"]) {
    EXPECT_EQ(layer["k"]["shape"], (std::vector<int>{2, 64, 16}));
    EXPECT_EQ(layer["v"]["shape"], (std::vector<int>{2, 64, 16}));
    EXPECT_GT(layer["k"]["abs_max"].get<double>(), 0);
  }

  // The second block, by a bare hash prefix and --tokenizer, names its parent.
  auto by_prefix = RunKvstash({"inspect", "--store", store.path(), second.ToHex().substr(0, 10),
                               "--tokenizer", dir_->Sub("tiny") + "/tokenizer.json", "--json"});
  ASSERT_EQ(by_prefix.exit_code, 0) << by_prefix.err;
  auto k = by_prefix.Json();
  EXPECT_EQ(k["block"], second.ToHex());
  EXPECT_EQ(k["meta"]["parent"], first.ToHex());
  EXPECT_EQ(k["token_ids"], std::vector<int32_t>(ids.begin() + 64, ids.begin() + 128));
  EXPECT_EQ(prompt.compare(text.size(), k["text"].get<std::string>().size(),
                           k["text"].get<std::string>()),
            0);

  auto human = RunKvstash({"inspect", "--store", store.path(), first.ToHex()});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("checksum     ok"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("[2, 64, 16]"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find(second.ToHex()), std::string::npos) << human.out;
}

TEST_F(CliInspectTest, JsonStatsEqualTorchOnTheInsertedKv) {
  TempDir dir;
  const auto desc = TestModel(DType::kBF16);
  Stored s = InsertAndClose(dir.path(), desc, Iota(40));
  auto r = RunKvstash({"inspect", "--store", dir.path(), Key(s.model, s.hashes[2]), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.Json();
  ASSERT_EQ(j["layers"].size(), desc.num_layers);
  for (uint32_t l = 0; l < desc.num_layers; ++l) {
    const auto& layer = j["layers"][l];
    EXPECT_EQ(layer["k"]["shape"], (std::vector<int>{2, 8, 16}));  // the partial last block
    ExpectStatsOf(layer["k"], s.kv.keys[l], 32, 8, "K of layer " + std::to_string(l));
    ExpectStatsOf(layer["v"], s.kv.values[l], 32, 8, "V of layer " + std::to_string(l));
  }
  EXPECT_TRUE(j["children"].empty());
  EXPECT_EQ(j["meta"]["parent"], s.hashes[1].ToHex());
}

// Rewrites one stored block's blob with byte `offset` flipped.
void FlipBlobByte(const std::string& dir, const ModelId& model, const BlockHash& hash,
                  size_t offset) {
  auto disk = DiskTier::Open(DiskTierOptions{dir});
  ASSERT_OK(disk.status());
  DiskBlockWrite w;
  w.model = model;
  w.hash = hash;
  w.meta = (*disk)->GetMeta(model, hash).value();
  ASSERT_OK((*disk)->GetBlob(model, hash, &w.blob));
  ASSERT_LT(offset, w.blob.size());
  w.blob[offset] ^= 0x20;
  ASSERT_OK((*disk)->PutBlocks({w}, /*sync=*/true));
}

TEST_F(CliInspectTest, CorruptPayloadIsShownWithTheChecksumFailureAndExits1) {
  TempDir dir;
  const auto desc = TestModel(DType::kBF16);
  Stored s = InsertAndClose(dir.path(), desc, Iota(40));
  FlipBlobByte(dir.path(), s.model, s.hashes[0], kBlockFixedHeaderSize + 4 * 16 + 10);
  const std::string key = Key(s.model, s.hashes[0]);

  auto r = RunKvstash({"inspect", "--store", dir.path(), key, "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("kvstash inspect: Corruption"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
  auto j = r.Json();
  EXPECT_FALSE(j["ok"].get<bool>());
  EXPECT_FALSE(j["checksum_ok"].get<bool>());
  EXPECT_EQ(j["header"]["hash"], s.hashes[0].ToHex());  // the header still reads
  EXPECT_EQ(j["header"]["tokens"], 16);
  EXPECT_TRUE(j["layers"].empty());
  ASSERT_FALSE(j["problems"].empty());
  EXPECT_NE(j["problems"][0].get<std::string>().find("checksum mismatch"), std::string::npos);
  EXPECT_EQ(j["token_ids"], Iota(16));

  auto human = RunKvstash({"inspect", "--store", dir.path(), key});
  EXPECT_EQ(human.exit_code, 1);
  EXPECT_NE(human.out.find("checksum     MISMATCH"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("PROBLEMS"), std::string::npos) << human.out;
  // The healthy block next to it is still fine.
  EXPECT_EQ(RunKvstash({"inspect", "--store", dir.path(), Key(s.model, s.hashes[1])}).exit_code, 0);
}

TEST_F(CliInspectTest, CorruptHeaderIsShownAsFarAsReadable) {
  TempDir dir;
  const auto desc = TestModel(DType::kBF16);
  Stored s = InsertAndClose(dir.path(), desc, Iota(40));
  FlipBlobByte(dir.path(), s.model, s.hashes[1], 72);  // token_count
  auto r = RunKvstash({"inspect", "--store", dir.path(), Key(s.model, s.hashes[1]), "--json"});
  EXPECT_EQ(r.exit_code, 1);
  auto j = r.Json();
  EXPECT_TRUE(j["header"].is_null());
  EXPECT_FALSE(j["header_error"].get<std::string>().empty());
  EXPECT_FALSE(j["checksum_ok"].get<bool>());
  EXPECT_EQ(j["meta"]["tokens"], 16);  // the metadata still reads
  EXPECT_EQ(j["children"], std::vector<std::string>{s.hashes[2].ToHex()});
}

TEST_F(CliInspectTest, UnknownKeysExit1AndBadKeysExit2) {
  TempDir dir;
  Stored s = InsertAndClose(dir.path(), TestModel(), Iota(16));
  const std::string absent = "00112233445566778899aabbccddeeff";
  for (const std::string& key : {absent, s.model.ToHex() + "/" + absent, std::string("00112233")}) {
    auto r = RunKvstash({"inspect", "--store", dir.path(), key});
    EXPECT_EQ(r.exit_code, 1) << key;
    EXPECT_NE(r.err.find("kvstash inspect: NotFound: no block matches"), std::string::npos)
        << r.err;
  }
  for (const std::string& key :
       {std::string("xyz"), std::string("abc/") + absent, s.model.ToHex() + "/",
        s.model.ToHex() + "/" + absent + "00", s.model.ToHex() + "/a/b"}) {
    auto r = RunKvstash({"inspect", "--store", dir.path(), key});
    EXPECT_EQ(r.exit_code, 2) << key;
    EXPECT_NE(r.err.find("bad KEY"), std::string::npos) << r.err;
  }
  EXPECT_EQ(RunKvstash({"inspect", "--store", dir.path()}).exit_code, 2);  // no KEY
  EXPECT_EQ(
      RunKvstash({"inspect", "--store", dir.path(), absent, "--tokenizer", "a", "--model-dir", "b"})
          .exit_code,
      2);
  auto no_store = RunKvstash({"inspect", "--store", dir.Sub("nope"), absent});
  EXPECT_EQ(no_store.exit_code, 1);
}

// The same block hash under two registered models (here: copied there by
// hand) is ambiguous without the model; with it, the copy's header disagrees
// with its key.
TEST_F(CliInspectTest, AmbiguousBlockListsTheMatches) {
  TempDir dir;
  Stored s = InsertAndClose(dir.path(), TestModel(), Iota(16));
  const ModelId other = Hash128::FromHex("ffeeddccbbaa99887766554433221100").value();
  {
    auto disk = DiskTier::Open(DiskTierOptions{dir.path()});
    ASSERT_OK(disk.status());
    DiskBlockWrite w;
    w.model = other;
    w.hash = s.hashes[0];
    w.meta = (*disk)->GetMeta(s.model, s.hashes[0]).value();
    ASSERT_OK((*disk)->GetBlob(s.model, s.hashes[0], &w.blob));
    ASSERT_OK((*disk)->PutBlocks({w}, /*sync=*/true));
    ASSERT_OK((*disk)->PutModel(other, "not a model description"));
  }
  auto r = RunKvstash({"inspect", "--store", dir.path(), s.hashes[0].ToHex()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("ambiguous: 2 blocks match"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(Key(s.model, s.hashes[0])), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(Key(other, s.hashes[0])), std::string::npos) << r.err;

  auto copy = RunKvstash({"inspect", "--store", dir.path(), Key(other, s.hashes[0]), "--json"});
  EXPECT_EQ(copy.exit_code, 1);
  EXPECT_NE(copy.err.find("blob header names model " + s.model.ToHex()), std::string::npos)
      << copy.err;
  EXPECT_TRUE(copy.Json()["description"].is_null());  // its registry entry does not parse
}

// Blocks of an earlier session live in RocksDB's blob files, not its log.
TEST_F(CliInspectTest, ReadsBlocksAnEarlierSessionWrote) {
  TempDir dir;
  const auto desc = TestModel(DType::kBF16);
  Stored s = InsertAndClose(dir.path(), desc, Iota(40));
  ReopenWriter(dir.path());
  auto r = RunKvstash({"inspect", "--store", dir.path(), Key(s.model, s.hashes[0]), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.Json()["ok"].get<bool>());
  ExpectStatsOf(r.Json()["layers"][0]["k"], s.kv.keys[0], 0, 16, "K of layer 0");
}

// A child process holding the store read-write, inserting all the time.
class StormChild {
 public:
  explicit StormChild(const std::string& dir) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      execl(KVSTASH_STORE_CHILD, KVSTASH_STORE_CHILD, "storm", dir.c_str(), nullptr);
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
  }
  ~StormChild() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_) fclose(out_);
  }
  // Waits until the child acknowledged `n` flushes.
  bool WaitForFlushes(int n) {
    char line[256];
    for (int seen = 0; seen < n;) {
      if (!out_ || !fgets(line, sizeof(line), out_)) return false;
      if (std::strncmp(line, "flushed", 7) == 0) ++seen;
    }
    return true;
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

TEST_F(CliInspectTest, BothCommandsWorkWhileAnotherProcessHoldsTheStore) {
  TempDir dir;
  const auto desc = TestModel(DType::kBF16);  // store_child's model
  Stored s = InsertAndClose(dir.path(), desc, Iota(40));
  StormChild child(dir.path());
  ASSERT_TRUE(child.WaitForFlushes(2));

  auto stat = RunKvstash({"stat", "--store", dir.path(), "--json"});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  EXPECT_GE(stat.Json()["blocks"].get<int>(), 3);
  EXPECT_EQ(stat.Json()["models"], 1);
  for (const BlockHash& hash : s.hashes) {
    auto r = RunKvstash({"inspect", "--store", dir.path(), Key(s.model, hash), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(r.Json()["ok"].get<bool>());
  }
  auto human = RunKvstash({"inspect", "--store", dir.path(), s.hashes[1].ToHex()});
  EXPECT_EQ(human.exit_code, 0) << human.err;
}

}  // namespace
}  // namespace kvstash
