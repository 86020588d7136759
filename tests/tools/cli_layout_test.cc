// The CLI on a store written by kvstash before layout 2 (layout 1): `ls` and
// `verify` read it as it is and change nothing; `verify --repair` (a
// read-write open) migrates it and finds it clean.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/raw_store.h"
#include "tests/store/legacy_store.h"
#include "tests/test_util.h"

// The kvstash binary: KVSTASH_BINARY when the build defines it, else
// build/tools/kvstash next to this test's build/tests/tools/ directory.
#ifndef KVSTASH_BINARY
namespace kvstash::testing {
inline std::string KvstashBinaryNextToTest() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "kvstash";
  return (self.parent_path().parent_path().parent_path() / "tools" / "kvstash").string();
}
}  // namespace kvstash::testing
#define KVSTASH_BINARY ::kvstash::testing::KvstashBinaryNextToTest()
#endif

#include "tests/tools/cli_test_util.h"

namespace kvstash {
namespace {

using testing::Iota;
using testing::LegacyPrompt;
using testing::LegacyStoreContents;
using testing::RawStore;
using testing::RunKvstash;
using testing::TempDir;

// Blocks of 16: A (16+16+8), B (A's first block, then 2 of its own), C (16+4).
std::vector<LegacyPrompt> Prompts() {
  std::vector<LegacyPrompt> p(3);
  p[0].tokens = Iota(40, 1);
  p[0].logits = true;
  p[1].tokens = Iota(24, 1);
  for (int32_t t = 9001; t < 9025; ++t) p[1].tokens.push_back(t);
  p[2].tokens = Iota(20, 30001);
  return p;
}
constexpr uint64_t kBlocks = 7;
constexpr uint64_t kChains = 3;
constexpr uint64_t kTokens = 40 + 32 + 20;

// "layout 1", "layout 2" or what is wrong, as the store's families and
// layout record say.
std::string LayoutOnDisk(const std::string& path) {
  RawStore raw(path);
  if (!raw.ok()) return raw.error();
  std::string layout;
  const bool recorded = raw.db()->Get(rocksdb::ReadOptions(), "layout/version", &layout).ok();
  if (!recorded && raw.has("children") && !raw.has("child_tokens")) return "layout 1";
  if (recorded && layout == std::string("\x02\x00\x00\x00", 4) && !raw.has("children") &&
      raw.has("child_tokens")) {
    return "layout 2";
  }
  return "mixed";
}

class CliLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(KVSTASH_BINARY)) << KVSTASH_BINARY << " not built";
    ASSERT_OK(testing::WriteLegacyStore(store(), testing::TestModel(DType::kF32, 16), Prompts(),
                                        &contents_));
    ASSERT_EQ(contents_.blocks.size(), kBlocks);
  }
  std::string store() const { return dir_.Sub("store"); }

  TempDir dir_;
  LegacyStoreContents contents_;
};

TEST_F(CliLayoutTest, LsAndVerifyReadALayout1StoreWithoutChangingIt) {
  auto ls = RunKvstash({"ls", "--store", store(), "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.err.find("migrated"), std::string::npos) << ls.err;
  const nlohmann::json models = ls.Json()["models"];
  ASSERT_EQ(models.size(), 1u) << ls.out;
  EXPECT_EQ(models[0]["model_id"], contents_.model.ToHex());
  EXPECT_EQ(models[0]["blocks"], kBlocks);
  EXPECT_EQ(models[0]["chains"], kChains);
  EXPECT_EQ(models[0]["tokens"], kTokens);
  EXPECT_EQ(models[0]["unreadable_metas"], 0);

  auto chains =
      RunKvstash({"ls", "--store", store(), "--model", contents_.model.ToHex(), "--json"});
  ASSERT_EQ(chains.exit_code, 0) << chains.err;
  const nlohmann::json detail = chains.Json()["models"][0]["chains_detail"];
  ASSERT_EQ(detail.size(), kChains) << chains.out;
  for (const auto& c : detail) EXPECT_TRUE(c["complete"].get<bool>()) << c;

  auto verify = RunKvstash({"verify", "--store", store(), "--json"});
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  const nlohmann::json v = verify.Json();
  EXPECT_TRUE(v["clean"].get<bool>()) << verify.out;
  EXPECT_EQ(v["blocks"], kBlocks);
  EXPECT_EQ(v["dangling_links"], 0);
  EXPECT_EQ(v["logits_records"], 1);

  auto text = RunKvstash({"verify", "--store", store()});
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_EQ(text.err.find("migrated"), std::string::npos) << text.err;

  EXPECT_EQ(LayoutOnDisk(store()), "layout 1");
}

TEST_F(CliLayoutTest, VerifyRepairMigratesAndFindsTheStoreClean) {
  auto repair = RunKvstash({"verify", "--store", store(), "--repair", "--json"});
  ASSERT_EQ(repair.exit_code, 0) << repair.err;
  EXPECT_NE(repair.err.find("index migrated to layout 2 (7 child links"), std::string::npos)
      << repair.err;
  const nlohmann::json v = repair.Json();
  EXPECT_TRUE(v["clean"].get<bool>()) << repair.out;
  EXPECT_EQ(v["blocks"], kBlocks);
  EXPECT_EQ(LayoutOnDisk(store()), "layout 2");

  // Again: nothing to migrate, same answers.
  auto again = RunKvstash({"verify", "--store", store(), "--repair", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.err.find("migrated"), std::string::npos) << again.err;
  EXPECT_TRUE(again.Json()["clean"].get<bool>()) << again.out;
  auto ls = RunKvstash({"ls", "--store", store(), "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.Json()["models"][0]["blocks"], kBlocks);
  EXPECT_EQ(ls.Json()["models"][0]["chains"], kChains);
}

}  // namespace
}  // namespace kvstash
