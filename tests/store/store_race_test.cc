// A stored prefix stays findable while its blocks move between tiers: a
// reader running beside a writer must always match (and load) all of a
// prefix that was inserted before it looked, whether the writer is evicting
// blocks (device tier -> write queue -> disk) or superseding a partial tail
// with a longer block that holds the same tokens.
//
// CI once saw StoreTest.ConcurrentInsertsAndLoadsOfOverlappingPrefixes load
// fewer tokens than were stored: a block was briefly in no tier at all.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "tests/store/store_open_util.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::Iota;
using testing::MakeKv;
using testing::PrefixEqual;
using testing::TempDir;

constexpr size_t kCapacity = 64;
constexpr int kRounds = 150;

// Round k's prompt: two whole blocks and an 8-token tail, sharing nothing
// with another round's.
std::vector<int32_t> Prompt(int k) { return Iota(40, 1 + 1000 * k); }

// The prompt continued: its tail block becomes whole (the 8-token partial is
// superseded), then another chain is stored after it.
std::vector<int32_t> Continued(int k, size_t extra) {
  auto tokens = Prompt(k);
  for (size_t i = 0; i < extra; ++i) tokens.push_back(900000 + k * 100 + int(i));
  return tokens;
}

class StoreRaceTest : public ::testing::TestWithParam<SpillPolicy> {};

TEST_P(StoreRaceTest, AStoredPrefixIsFoundWhileItsBlocksMove) {
  TempDir dir;
  const auto desc = testing::TestModel(DType::kF32);
  // Room for four blocks: every round evicts the previous rounds' blocks.
  auto store =
      testing::OpenCpuStore(dir.path(), 4 * testing::ShapeOf(desc).RawBytes(16), GetParam());
  ASSERT_NE(store, nullptr);
  auto model = store->RegisterModel(desc).value();

  std::atomic<int> published{-1};
  std::atomic<bool> done{false};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(failures_mutex);
    if (failures.size() < 20) failures.push_back(what);
  };

  std::thread writer([&] {
    for (int k = 0; k < kRounds; ++k) {
      auto prompt = Prompt(k);
      auto inserted = store->Insert(model, prompt, MakeKv(desc, prompt, kCapacity));
      if (!inserted.ok()) fail("insert: " + inserted.status().ToString());
      published = k;
      for (size_t extra : {8, 24}) {
        auto longer = Continued(k, extra);
        auto more = store->Insert(model, longer, MakeKv(desc, longer, kCapacity));
        if (!more.ok()) fail("insert: " + more.status().ToString());
      }
    }
    done = true;
  });
  auto read = [&] {
    auto dst = MakeKv(desc, {}, kCapacity);
    while (!done) {
      const int k = published;
      if (k < 0) continue;
      // Any round published so far: the newest ones are moving right now.
      for (int j : {k, k - 1, k / 2}) {
        if (j < 0) continue;
        auto prompt = Prompt(j);
        auto match = store->Match(model, prompt);
        if (!match.ok() || match->tokens != prompt.size()) {
          fail("round " + std::to_string(j) + ": matched " +
               (match.ok() ? std::to_string(match->tokens) : match.status().ToString()) + " of " +
               std::to_string(prompt.size()) + " tokens");
        }
        auto loaded = store->Load(model, prompt, dst);
        if (!loaded.ok() || loaded->tokens != prompt.size()) {
          fail("round " + std::to_string(j) + ": loaded " +
               (loaded.ok() ? std::to_string(loaded->tokens) : loaded.status().ToString()) +
               " of " + std::to_string(prompt.size()) + " tokens");
        } else if (!PrefixEqual(dst, MakeKv(desc, prompt, kCapacity), prompt.size())) {
          fail("round " + std::to_string(j) + ": loaded wrong KV");
        }
      }
    }
  };
  std::thread reader1(read), reader2(read);
  writer.join();
  reader1.join();
  reader2.join();
  for (const auto& failure : failures) ADD_FAILURE() << failure;
  ASSERT_OK(store->Flush());
  for (int k = 0; k < kRounds; ++k) {
    EXPECT_EQ(store->Match(model, Prompt(k))->tokens, 40u) << "round " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, StoreRaceTest,
                         ::testing::Values(SpillPolicy::kWriteThrough, SpillPolicy::kOnEvict),
                         [](const auto& info) {
                           return info.param == SpillPolicy::kWriteThrough ? "WriteThrough"
                                                                           : "OnEvict";
                         });

}  // namespace
}  // namespace kvstash
