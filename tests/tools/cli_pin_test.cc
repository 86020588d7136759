// Pinned prefixes from the command line: `kvstash run --pin`, `ls --pinned`,
// `unpin`, and what `prune` keeps because of them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/test_util.h"
#include "tests/tools/cli_test_util.h"

namespace kvstash {
namespace {

using testing::RunKvstash;
using testing::TempDir;

constexpr size_t kPromptTokens = 640;  // 10 blocks of 64

class CliPinTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto r = RunKvstash({"mkmodel", "--out", dir_->Sub("tiny"), "--preset", "tiny", "--dtype",
                         "f32", "--seed", "5"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { delete dir_; }

  // Runs prompt `i` (640 tokens) against `store`, pinning it as `pin` if
  // given; returns the run's JSON.
  static nlohmann::json Run(const std::string& store, int i, const std::string& pin = "") {
    const std::string ids_file = dir_->Sub("ids-" + std::to_string(i) + ".txt");
    {
      std::ofstream out(ids_file);
      for (size_t j = 0; j < kPromptTokens; ++j) out << 1 + (i * 131 + j * 7) % 500 << " ";
    }
    std::vector<std::string> args = {
        "run",    "--model",  dir_->Sub("tiny"),  "--store", store,    "--prompt-ids",
        ids_file, "--no-bos", "--max-new-tokens", "1",       "--json", "--threads",
        "2"};
    if (!pin.empty()) {
      args.push_back("--pin");
      args.push_back(pin);
    }
    auto r = RunKvstash(args);
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
    const nlohmann::json j = ls.Json();  // ranging over a temporary's member dangles
    for (const auto& m : j["models"]) n += m["blocks"].get<uint64_t>();
    return n;
  }

  static TempDir* dir_;
};

TempDir* CliPinTest::dir_ = nullptr;

TEST_F(CliPinTest, LsPinnedListsThePinInJsonAndText) {
  TempDir store;
  Run(store.path(), 0, "system-prompt");
  auto ls = RunKvstash({"ls", "--store", store.path(), "--pinned", "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  const nlohmann::json j = ls.Json();
  ASSERT_EQ(j["pins"].size(), 1u) << ls.out;
  const auto& pin = j["pins"][0];
  EXPECT_EQ(pin["name"], "system-prompt");
  EXPECT_EQ(pin["tokens"].get<uint64_t>(), kPromptTokens);
  EXPECT_EQ(pin["model_id"].get<std::string>().size(), 32u);
  EXPECT_EQ(pin["leaf_hash"].get<std::string>().size(), 32u);
  EXPECT_TRUE(pin["present"].get<bool>());

  auto text = RunKvstash({"ls", "--store", store.path(), "--pinned"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("system-prompt"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(pin["leaf_hash"].get<std::string>()), std::string::npos);
}

TEST_F(CliPinTest, PruneKeepsThePinnedChainAndUnpinLetsItGo) {
  for (const std::vector<std::string>& criterion :
       {std::vector<std::string>{"--max-bytes", "0"},
        std::vector<std::string>{"--older-than", "0s"}}) {
    SCOPED_TRACE(criterion[0]);
    TempDir store;
    Run(store.path(), 0, "keep");
    Run(store.path(), 1);
    const uint64_t before = Blocks(store.path());
    ASSERT_GE(before, 20u);

    std::vector<std::string> prune = {"prune", "--store", store.path(), "--json"};
    prune.insert(prune.end(), criterion.begin(), criterion.end());
    auto r = RunKvstash(prune);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.Json()["pinned_blocks"].get<uint64_t>(), 10u) << r.out;
    EXPECT_EQ(Blocks(store.path()), 10u);  // the pinned chain's 10 full blocks
    EXPECT_EQ(Reused(store.path(), 1), 0);
    EXPECT_EQ(Reused(store.path(), 0), static_cast<int>(kPromptTokens));

    auto unpin = RunKvstash({"unpin", "keep", "--store", store.path()});
    ASSERT_EQ(unpin.exit_code, 0) << unpin.err;
    auto again = RunKvstash(prune);
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(Blocks(store.path()), 0u);
    auto ls = RunKvstash({"ls", "--store", store.path(), "--pinned", "--json"});
    EXPECT_TRUE(ls.Json()["pins"].empty());
  }
}

TEST_F(CliPinTest, UnpinOfAnUnknownNameFails) {
  TempDir store;
  Run(store.path(), 0);
  auto r = RunKvstash({"unpin", "nope", "--store", store.path()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
}

TEST_F(CliPinTest, ExportedPinImportsIntoAnEmptyStoreAndWarmsIt) {
  TempDir src, dst;
  const nlohmann::json first = Run(src.path(), 0, "keep");
  Run(src.path(), 1);
  auto ls = RunKvstash({"ls", "--store", src.path(), "--pinned", "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  const std::string model = ls.Json()["pins"][0]["model_id"];
  const std::string pack = dir_->Sub("keep.kvsp");
  auto ex =
      RunKvstash({"export", "--store", src.path(), "--model", model, "--pin", "keep", "-o", pack});
  ASSERT_EQ(ex.exit_code, 0) << ex.err;

  // A damaged pack is refused and creates nothing.
  std::string bytes;
  {
    std::ifstream in(pack, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 1000u);
  const std::string bad = dir_->Sub("bad.kvsp");
  {
    std::string flipped = bytes;
    flipped[flipped.size() / 2] ^= 0x40;
    std::ofstream(bad, std::ios::binary) << flipped;
  }
  auto refused = RunKvstash({"import", bad, "--store", dst.path()});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("checksum"), std::string::npos) << refused.err;
  EXPECT_FALSE(std::filesystem::exists(dst.path() + "/CURRENT"));

  auto im = RunKvstash({"import", pack, "--store", dst.path()});
  ASSERT_EQ(im.exit_code, 0) << im.err;
  EXPECT_EQ(Blocks(dst.path()), 10u);
  EXPECT_EQ(Reused(dst.path(), 0), static_cast<int>(kPromptTokens));
  EXPECT_EQ(Reused(dst.path(), 1), 0);
}

}  // namespace
}  // namespace kvstash
