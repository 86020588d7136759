// Every --json output is one valid JSON document, whatever bytes the user
// gave: a path or pin name that is not UTF-8 prints as U+FFFD instead of
// aborting the process (nlohmann's dump throws on invalid UTF-8).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/test_util.h"
#include "tests/tools/cli_test_util.h"

namespace kvstash {
namespace {

using testing::RunKvstash;
using testing::TempDir;

const std::string kNotUtf8 =
    "st\xff"
    "ore";
const std::string kReplacement =
    "st\xef\xbf\xbd"
    "ore";  // U+FFFD in UTF-8

class CliJsonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto r = RunKvstash({"mkmodel", "--out", dir_->Sub("tiny"), "--preset", "tiny"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { delete dir_; }

  // A store at a path that is not UTF-8, holding one run.
  static std::string StoreWithOneRun(const TempDir& dir, const std::string& pin = "") {
    const std::string store = dir.Sub(kNotUtf8);
    std::vector<std::string> args = {
        "run",      "--model",  dir_->Sub("tiny"),  "--store", store,
        "--prompt", "a prompt", "--max-new-tokens", "2",       "--threads",
        "2"};
    if (!pin.empty()) args.insert(args.end(), {"--pin", pin});
    auto r = RunKvstash(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return store;
  }

  static TempDir* dir_;
};

TempDir* CliJsonTest::dir_ = nullptr;

TEST_F(CliJsonTest, MkmodelWithANonUtf8PathPrintsJson) {
  TempDir out;
  auto r = RunKvstash({"mkmodel", "--out", out.Sub("mk\xff"), "--preset", "tiny", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string printed = r.Json().dump();
  EXPECT_NE(printed.find("mk\xef\xbf\xbd"), std::string::npos) << printed;
  EXPECT_TRUE(std::filesystem::exists(out.Sub("mk\xff") + "/config.json"));
}

TEST_F(CliJsonTest, StoreCommandsWithANonUtf8StorePathPrintJson) {
  TempDir dir;
  const std::string store = StoreWithOneRun(dir);
  const std::vector<std::vector<std::string>> commands = {
      {"verify", "--store", store, "--json"},
      {"stat", "--store", store, "--json"},
      {"ls", "--store", store, "--json"},
      {"prune", "--store", store, "--orphans", "--dry-run", "--json"}};
  for (const auto& args : commands) {
    SCOPED_TRACE(args[0]);
    auto r = RunKvstash(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NO_THROW(r.Json()) << r.out;
  }
  auto stat = RunKvstash({"stat", "--store", store, "--json"});
  EXPECT_NE(stat.Json().dump().find(kReplacement), std::string::npos) << stat.out;
}

TEST_F(CliJsonTest, APinNamedInNonUtf8ListsAsJson) {
  TempDir dir;
  const std::string store = StoreWithOneRun(dir, "pin\xfe");
  auto r = RunKvstash({"ls", "--store", store, "--pinned", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = r.Json();
  ASSERT_EQ(j["pins"].size(), 1u) << r.out;
  EXPECT_EQ(j["pins"][0]["name"], "pin\xef\xbf\xbd");
  // The pin still works by its real name.
  auto unpin = RunKvstash({"unpin", "--store", store, "pin\xfe"});
  EXPECT_EQ(unpin.exit_code, 0) << unpin.err;
}

}  // namespace
}  // namespace kvstash
