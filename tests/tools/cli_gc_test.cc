// `kvstash verify` and `kvstash prune` on stores that `kvstash run` filled:
// what an operator sees (exit codes, one-line errors, JSON), and what the
// store holds afterwards (what was kept still warms a run).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "serde/block_codec.h"
#include "serde/block_hash.h"
#include "store/disk_tier.h"
#include "tests/test_util.h"
#include "tests/tools/cli_test_util.h"

namespace kvstash {
namespace {

using testing::CliResult;
using testing::RunKvstash;
using testing::TempDir;

constexpr size_t kPromptTokens = 640;  // 10 blocks of 64

class CliGcTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    for (const char* dtype : {"f32", "bf16"}) {
      auto r = RunKvstash({"mkmodel", "--out", dir_->Sub(std::string("tiny-") + dtype), "--preset",
                           "tiny", "--dtype", dtype, "--seed", "5"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::vector<int32_t> PromptIds(int i) {
    std::vector<int32_t> ids(kPromptTokens);
    for (size_t j = 0; j < ids.size(); ++j)
      ids[j] = static_cast<int32_t>(1 + (i * 131 + j * 7) % 500);
    return ids;
  }
  // Runs prompt `i` against `store`; returns the run's JSON.
  static nlohmann::json Run(const std::string& store, int i, const std::string& dtype = "f32") {
    const std::string ids_file = dir_->Sub("ids-" + std::to_string(i) + ".txt");
    {
      std::ofstream out(ids_file);
      for (int32_t id : PromptIds(i)) out << id << " ";
    }
    auto r =
        RunKvstash({"run", "--model", dir_->Sub("tiny-" + dtype), "--store", store, "--prompt-ids",
                    ids_file, "--no-bos", "--max-new-tokens", "1", "--json", "--threads", "2"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? r.Json() : nlohmann::json();
  }
  static int Reused(const std::string& store, int i) {
    auto j = Run(store, i);
    return j.is_null() ? -1 : j["reused_tokens"].get<int>();
  }
  static uint64_t Blocks(const std::string& store) {
    auto ls = RunKvstash({"ls", "--store", store, "--json"});
    EXPECT_EQ(ls.exit_code, 0) << ls.err;
    uint64_t n = 0;
    const nlohmann::json j = ls.Json();
    for (const auto& m : j["models"]) n += m["blocks"].get<uint64_t>();
    return n;
  }
  static std::vector<BlockHash> Hashes(const std::string& model_hex, int i) {
    const auto ids = PromptIds(i);
    return ComputeChainHashes(Hash128::FromHex(model_hex).value(), ids.data(), ids.size(), 64);
  }

  static TempDir* dir_;
};

TempDir* CliGcTest::dir_ = nullptr;

TEST_F(CliGcTest, VerifyOfAHealthyStoreIsCleanInJsonAndText) {
  TempDir store;
  for (int i = 0; i < 3; ++i) Run(store.path(), i);
  auto json = RunKvstash({"verify", "--store", store.path(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto j = json.Json();
  EXPECT_TRUE(j["clean"].get<bool>());
  EXPECT_GE(j["blocks"].get<int>(), 30);
  EXPECT_EQ(j["corrupt"], 0);
  EXPECT_TRUE(j["problems"].empty());
  EXPECT_NE(json.err.find("verify: "), std::string::npos) << "summary line on stderr";
  auto text = RunKvstash({"verify", "--store", store.path()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("0 corrupt, 0 orphaned"), std::string::npos) << text.out;
  EXPECT_EQ(text.err, "") << "no progress bar when stderr is not a terminal";
}

TEST_F(CliGcTest, VerifyFindsCorruptionAndAnOrphanAndRepairFixesBoth) {
  TempDir store;
  std::string model_hex;
  for (int i = 0; i < 4; ++i) model_hex = Run(store.path(), i)["model_id"];
  const ModelId model = Hash128::FromHex(model_hex).value();
  {
    auto disk = DiskTier::Open(DiskTierOptions{store.path()});
    ASSERT_OK(disk.status());
    // Prompt 1, block 5: one flipped payload byte.
    const auto h1 = Hashes(model_hex, 1);
    auto meta = (*disk)->GetMeta(model, h1[5]);
    ASSERT_OK(meta.status());
    std::string blob;
    ASSERT_OK((*disk)->GetBlob(model, h1[5], &blob));
    blob[blob.size() / 2] ^= 0x01;
    ASSERT_OK((*disk)->PutBlocks({{model, h1[5], *meta, blob}}, true));
    // Prompt 2, block 3 gone: block 4 is an orphan.
    const auto h2 = Hashes(model_hex, 2);
    ASSERT_OK((*disk)->DeleteBlock(model, h2[3], h2[2]));
  }
  auto found = RunKvstash({"verify", "--store", store.path(), "--json"});
  EXPECT_EQ(found.exit_code, 1) << found.err;
  auto j = found.Json();
  EXPECT_FALSE(j["clean"].get<bool>());
  EXPECT_EQ(j["corrupt"], 1);
  EXPECT_EQ(j["orphans"], 1);
  EXPECT_GE(j["unreachable"].get<int>(), 4 + 5);

  auto text = RunKvstash({"verify", "--store", store.path()});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.out.find("corrupt       " + model_hex + " " + Hashes(model_hex, 1)[5].ToHex()),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("checksum"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("orphan"), std::string::npos) << text.out;

  auto repair = RunKvstash({"verify", "--store", store.path(), "--repair", "--json"});
  ASSERT_EQ(repair.exit_code, 0) << repair.err;
  auto r = repair.Json();
  EXPECT_TRUE(r["repaired"].get<bool>());
  EXPECT_GE(r["repair"]["blocks_deleted"].get<int>(), 2 + 4 + 5);
  EXPECT_GT(r["repair"]["disk_bytes_before"].get<uint64_t>(), 0u);

  auto again = RunKvstash({"verify", "--store", store.path(), "--json"});
  EXPECT_EQ(again.exit_code, 0) << again.out;
  EXPECT_TRUE(again.Json()["clean"].get<bool>());
  // Intact prompts still warm a new process in full; damaged ones up to the damage.
  EXPECT_EQ(Reused(store.path(), 0), static_cast<int>(kPromptTokens));
  EXPECT_EQ(Reused(store.path(), 3), static_cast<int>(kPromptTokens));
  EXPECT_EQ(Reused(store.path(), 1), 5 * 64);
  EXPECT_EQ(Reused(store.path(), 2), 3 * 64);
}

// K/V that is well-formed but wrong (what a client with the write token of
// `kvstash serve` could store): every checksum and hash holds, so plain verify
// calls the store clean; --recompute runs the model again and finds the one
// poisoned block, and --repair deletes it and what was computed on it.
TEST_F(CliGcTest, RecomputeFindsWellFormedButWrongKv) {
  TempDir store;
  std::string model_hex;
  for (int i = 0; i < 3; ++i) model_hex = Run(store.path(), i)["model_id"];
  const std::string model_dir = dir_->Sub("tiny-f32");

  auto healthy = RunKvstash(
      {"verify", "--store", store.path(), "--recompute", "--model", model_dir, "--json"});
  ASSERT_EQ(healthy.exit_code, 0) << healthy.err;
  nlohmann::json h = healthy.Json();
  EXPECT_TRUE(h["clean"].get<bool>());
  EXPECT_EQ(h["recompute"]["model_id"], model_hex);
  EXPECT_EQ(h["recompute"]["stored_chains"], 3);
  EXPECT_EQ(h["recompute"]["chains"], 3);
  EXPECT_EQ(h["recompute"]["blocks"], 30);
  EXPECT_EQ(h["recompute"]["tokens"], 3 * kPromptTokens);
  EXPECT_TRUE(h["recompute"]["wrong"].empty());
  std::printf("recompute of a healthy f32 store: largest difference %.3g (tolerance %.3g)\n",
              h["recompute"]["largest_difference_within"].get<double>(),
              h["recompute"]["tolerance"].get<double>());
  EXPECT_LT(h["recompute"]["largest_difference_within"].get<double>(), 1e-4);

  // Poison prompt 1, block 4: layer 0's keys negated, then re-encoded, so
  // the blob is as sound as any the store wrote.
  const ModelId model = Hash128::FromHex(model_hex).value();
  const BlockHash poisoned = Hashes(model_hex, 1)[4];
  {
    auto disk = DiskTier::Open(DiskTierOptions{store.path()});
    ASSERT_OK(disk.status());
    auto meta = (*disk)->GetMeta(model, poisoned);
    ASSERT_OK(meta.status());
    std::string blob;
    ASSERT_OK((*disk)->GetBlob(model, poisoned, &blob));
    BlockCodec codec;
    auto header = ParseBlockHeader(blob);
    ASSERT_OK(header.status());
    std::string raw(header->raw_bytes, '\0');
    ASSERT_OK(codec.Decode(blob, {{0, raw.data(), raw.size()}}).status());
    const size_t layer_keys = raw.size() / header->shape.layers / 2;
    for (size_t i = 3; i < layer_keys; i += 4) raw[i] ^= static_cast<char>(0x80);  // f32 signs
    std::string forged;
    ASSERT_OK(codec.Encode(*header, raw, EncodeOptions{header->codec, header->level}, &forged));
    meta->stored_bytes = forged.size();
    ASSERT_OK((*disk)->PutBlocks({{model, poisoned, *meta, forged}}, true));
  }
  auto plain = RunKvstash({"verify", "--store", store.path(), "--json"});
  EXPECT_EQ(plain.exit_code, 0) << "the forgery is well-formed: " << plain.out;

  auto found = RunKvstash(
      {"verify", "--store", store.path(), "--recompute", "--model", model_dir, "--json"});
  EXPECT_EQ(found.exit_code, 1) << found.err;
  nlohmann::json f = found.Json();
  EXPECT_FALSE(f["clean"].get<bool>());
  ASSERT_EQ(f["recompute"]["wrong"].size(), 1u) << f.dump();
  EXPECT_EQ(f["recompute"]["wrong"][0]["hash"], poisoned.ToHex());
  EXPECT_EQ(f["recompute"]["wrong"][0]["first_position"], 4 * 64);
  EXPECT_GT(f["recompute"]["wrong"][0]["difference"].get<double>(), 0.1);
  auto text = RunKvstash({"verify", "--store", store.path(), "--recompute", "--model", model_dir});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.out.find(poisoned.ToHex() + "  K/V differ from the model's by"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("1 differ"), std::string::npos) << text.out;

  auto repair = RunKvstash({"verify", "--store", store.path(), "--recompute", "--model", model_dir,
                            "--repair", "--json"});
  ASSERT_EQ(repair.exit_code, 0) << repair.err;
  EXPECT_EQ(repair.Json()["repair"]["blocks_deleted"], 6);  // block 4 and the 5 below it
  EXPECT_EQ(RunKvstash({"verify", "--store", store.path(), "--recompute", "--model", model_dir,
                        "--sample", "0"})
                .exit_code,
            0);
  EXPECT_EQ(Reused(store.path(), 1), 4 * 64);
  EXPECT_EQ(Reused(store.path(), 0), static_cast<int>(kPromptTokens));
}

// A model the store holds nothing of is named, with what it does hold.
TEST_F(CliGcTest, RecomputeWithAnotherModelSaysWhatIsStored) {
  TempDir store;
  Run(store.path(), 0, "bf16");
  auto r = RunKvstash(
      {"verify", "--store", store.path(), "--recompute", "--model", dir_->Sub("tiny-f32")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("kvstash verify: NotFound: --recompute: the store holds no model that is "
                       "this one as loaded"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("bf16"), std::string::npos) << r.err;
  auto usage = RunKvstash({"verify", "--store", store.path(), "--recompute"});
  EXPECT_NE(usage.exit_code, 0);
  EXPECT_NE(usage.err.find("--recompute needs --model DIR"), std::string::npos) << usage.err;
  // The bf16 model's own store checks out within bf16's tolerance.
  auto bf16 = RunKvstash({"verify", "--store", store.path(), "--recompute", "--model",
                          dir_->Sub("tiny-bf16"), "--json"});
  ASSERT_EQ(bf16.exit_code, 0) << bf16.err << bf16.out;
  std::printf("recompute of a bf16 store: largest difference %.3g (tolerance %.3g)\n",
              bf16.Json()["recompute"]["largest_difference_within"].get<double>(),
              bf16.Json()["recompute"]["tolerance"].get<double>());
}

// A store RocksDB cannot open (issue 12, item 6: every run exited 1, and
// verify --repair repaired nothing). A run answers cold and names the command
// that recovers; verify --repair salvages every block into a new store and
// keeps the damaged one aside; runs then reuse everything again.
TEST_F(CliGcTest, DamagedStoreRunsColdAndRepairSalvagesItsBlocks) {
  for (const std::string damage : {"CURRENT", "MANIFEST"}) {
    SCOPED_TRACE(damage);
    TempDir root;
    const std::string store = root.Sub("store");
    std::vector<nlohmann::json> first;
    for (int i = 0; i < 3; ++i) first.push_back(Run(store, i));
    for (const auto& entry : std::filesystem::directory_iterator(store)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(damage, 0) != 0) continue;
      std::string bytes;
      {
        std::ifstream in(entry.path(), std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
      }
      // CURRENT: a name that is no file; MANIFEST: its middle zeroed.
      if (damage == "CURRENT") {
        bytes = "garbage";
      } else {
        std::fill(bytes.begin() + bytes.size() / 3, bytes.end(), '\0');
      }
      std::ofstream(entry.path(), std::ios::binary | std::ios::trunc) << bytes;
    }

    const std::string ids = dir_->Sub("ids-0.txt");
    auto cold =
        RunKvstash({"run", "--model", dir_->Sub("tiny-f32"), "--store", store, "--prompt-ids", ids,
                    "--no-bos", "--max-new-tokens", "1", "--json", "--threads", "2"});
    ASSERT_EQ(cold.exit_code, 0) << cold.err;
    EXPECT_NE(cold.err.find("is damaged"), std::string::npos) << cold.err;
    EXPECT_NE(cold.err.find("`kvstash verify --repair --store " + store + "` salvages"),
              std::string::npos)
        << cold.err;
    nlohmann::json c = cold.Json();
    EXPECT_EQ(c["reused_tokens"], 0);
    EXPECT_EQ(c["tokens"], first[0]["tokens"]);
    EXPECT_FALSE(c["store_error"].is_null());

    auto repair = RunKvstash({"verify", "--store", store, "--repair", "--json"});
    ASSERT_EQ(repair.exit_code, 0) << repair.err << repair.out;
    nlohmann::json r = repair.Json();
    EXPECT_TRUE(r["repaired"].get<bool>());
    EXPECT_EQ(r["salvage"]["blocks"], 30) << r.dump();
    EXPECT_TRUE(std::filesystem::exists(r["salvage"]["damaged_path"].get<std::string>()));
    EXPECT_NE(repair.err.find("salvaged 30 blocks"), std::string::npos) << repair.err;
    EXPECT_EQ(RunKvstash({"verify", "--store", store}).exit_code, 0);
    for (int i = 0; i < 3; ++i) {
      nlohmann::json warm = Run(store, i);
      EXPECT_EQ(warm["reused_tokens"], kPromptTokens) << i;
      EXPECT_EQ(warm["tokens"], first[i]["tokens"]) << i;
    }
  }
}

TEST_F(CliGcTest, DryRunListsWhatWouldGoAndChangesNothing) {
  TempDir store;
  for (int i = 0; i < 3; ++i) Run(store.path(), i);
  const uint64_t blocks = Blocks(store.path());
  auto dry =
      RunKvstash({"prune", "--store", store.path(), "--max-bytes", "1", "--dry-run", "--json"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  auto j = dry.Json();
  EXPECT_TRUE(j["dry_run"].get<bool>());
  EXPECT_EQ(j["blocks"].get<uint64_t>(), blocks);
  EXPECT_GT(j["stored_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["reasons"]["budget"].get<uint64_t>(), blocks);
  EXPECT_FALSE(j.contains("freed_bytes"));
  auto text = RunKvstash({"prune", "--store", store.path(), "--older-than", "1s", "--dry-run"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("would delete"), std::string::npos) << text.out;
  EXPECT_EQ(Blocks(store.path()), blocks);
  EXPECT_EQ(Reused(store.path(), 0), static_cast<int>(kPromptTokens));
}

TEST_F(CliGcTest, MaxBytesKeepsRecentPromptsAndFreesDisk) {
  TempDir store;
  for (int i = 0; i < 6; ++i) Run(store.path(), i);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Reused(store.path(), 4);  // used again: the most recent
  Reused(store.path(), 5);
  const uint64_t blocks = Blocks(store.path());
  auto dry =
      RunKvstash({"prune", "--store", store.path(), "--max-bytes", "1", "--dry-run", "--json"});
  const uint64_t stored = dry.Json()["stored_bytes"];
  const std::string budget = std::to_string(stored * 2 / 5);  // room for 2 of 6 prompts

  auto pruned = RunKvstash({"prune", "--store", store.path(), "--max-bytes", budget, "--json"});
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  auto j = pruned.Json();
  EXPECT_FALSE(j["dry_run"].get<bool>());
  EXPECT_LE(j["kept_bytes"].get<uint64_t>(), stored * 2 / 5);
  EXPECT_TRUE(j["budget_met"].get<bool>());
  const uint64_t before = j["disk_bytes_before"], after = j["disk_bytes_after"];
  std::printf("prune --max-bytes %s: deleted %llu blocks (%llu stored bytes); du %llu -> %llu\n",
              budget.c_str(), (unsigned long long)j["blocks"].get<uint64_t>(),
              (unsigned long long)j["stored_bytes"].get<uint64_t>(), (unsigned long long)before,
              (unsigned long long)after);
  EXPECT_LT(after, before);
  EXPECT_EQ(j["freed_bytes"].get<uint64_t>(), before - after);
  EXPECT_GE(before - after, j["stored_bytes"].get<uint64_t>() / 2);
  EXPECT_LT(Blocks(store.path()), blocks);

  auto verify = RunKvstash({"verify", "--store", store.path(), "--json"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_EQ(verify.Json()["orphans"], 0);
  EXPECT_EQ(Reused(store.path(), 5), static_cast<int>(kPromptTokens));
  EXPECT_EQ(Reused(store.path(), 4), static_cast<int>(kPromptTokens));
  EXPECT_EQ(Reused(store.path(), 0), 0);

  auto text = RunKvstash({"prune", "--store", store.path(), "--max-bytes", "1.5K"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("freed"), std::string::npos) << text.out;
  EXPECT_EQ(Blocks(store.path()), 0u);
}

TEST_F(CliGcTest, OlderThanDeletesOnlyIdlePrompts) {
  TempDir store;
  for (int i = 0; i < 3; ++i) Run(store.path(), i);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  Reused(store.path(), 1);
  auto pruned = RunKvstash({"prune", "--store", store.path(), "--older-than", "2s", "--json"});
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  EXPECT_EQ(pruned.Json()["reasons"]["age"].get<int>(), 20);
  EXPECT_EQ(Reused(store.path(), 1), static_cast<int>(kPromptTokens));
  EXPECT_EQ(Reused(store.path(), 0), 0);
}

TEST_F(CliGcTest, ModelAloneRemovesOneModelAndOrphansRemovesDanglingChains) {
  TempDir store;
  const std::string f32 = Run(store.path(), 0)["model_id"];
  Run(store.path(), 1);
  const std::string bf16 = Run(store.path(), 0, "bf16")["model_id"];
  ASSERT_NE(f32, bf16);
  {
    auto disk = DiskTier::Open(DiskTierOptions{store.path()});
    ASSERT_OK(disk.status());
    const auto h = Hashes(f32, 1);
    ASSERT_OK((*disk)->DeleteBlock(Hash128::FromHex(f32).value(), h[0], kRootBlockHash));
  }
  auto orphans = RunKvstash({"prune", "--store", store.path(), "--orphans", "--json"});
  ASSERT_EQ(orphans.exit_code, 0) << orphans.err;
  EXPECT_EQ(orphans.Json()["reasons"]["orphan"], 1);
  EXPECT_EQ(orphans.Json()["reasons"]["unreachable"].get<int>(), 8);
  EXPECT_EQ(RunKvstash({"verify", "--store", store.path()}).exit_code, 0);

  auto pruned = RunKvstash({"prune", "--store", store.path(), "--model", f32, "--json"});
  ASSERT_EQ(pruned.exit_code, 0) << pruned.err;
  EXPECT_TRUE(pruned.Json()["models"][0]["unregistered"].get<bool>());
  auto ls = RunKvstash({"ls", "--store", store.path(), "--json"});
  ASSERT_EQ(ls.Json()["models"].size(), 1u);
  EXPECT_EQ(ls.Json()["models"][0]["model_id"], bf16);

  auto unknown = RunKvstash({"prune", "--store", store.path(), "--model", f32});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("kvstash prune: NotFound: model " + f32), std::string::npos)
      << unknown.err;
}

// This test process holds the store read-write, as a live inference
// service would; the kvstash processes it starts are refused.
TEST_F(CliGcTest, StoreHeldByAnotherProcessGetsOneClearLine) {
  TempDir store;
  Run(store.path(), 0);
  {
    auto holder = DiskTier::Open(DiskTierOptions{store.path()});
    ASSERT_OK(holder.status());
    for (std::vector<std::string> args :
         {std::vector<std::string>{"prune", "--store", store.path(), "--max-bytes", "1"},
          std::vector<std::string>{"verify", "--store", store.path(), "--repair"}}) {
      auto r = RunKvstash(args);
      EXPECT_EQ(r.exit_code, 1) << args[0];
      EXPECT_NE(r.err.find("is in use by another process; stop that process"), std::string::npos)
          << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
    // Read-only paths work meanwhile.
    EXPECT_EQ(RunKvstash({"verify", "--store", store.path()}).exit_code, 0);
    EXPECT_EQ(
        RunKvstash({"prune", "--store", store.path(), "--max-bytes", "1", "--dry-run"}).exit_code,
        0);
  }
  EXPECT_EQ(RunKvstash({"prune", "--store", store.path(), "--max-bytes", "1"}).exit_code, 0);
  EXPECT_EQ(Blocks(store.path()), 0u);
}

TEST_F(CliGcTest, BadUsageExitsTwo) {
  TempDir store;
  Run(store.path(), 0);
  auto none = RunKvstash({"prune", "--store", store.path()});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("give at least one of"), std::string::npos) << none.err;
  auto size = RunKvstash({"prune", "--store", store.path(), "--max-bytes", "12X"});
  EXPECT_EQ(size.exit_code, 2);
  EXPECT_NE(size.err.find("bad size '12X'"), std::string::npos) << size.err;
  auto age = RunKvstash({"prune", "--store", store.path(), "--older-than", "5"});
  EXPECT_EQ(age.exit_code, 2);
  EXPECT_EQ(RunKvstash({"prune", "--store", store.path(), "--model", "xyz"}).exit_code, 2);
  auto missing = RunKvstash({"prune", "--store", store.Sub("nope"), "--orphans"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no kvstash store"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace kvstash
