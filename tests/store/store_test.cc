#include "store/store.h"

#include <gtest/gtest.h>

#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::Iota;
using testing::MakeKv;
using testing::PrefixEqual;
using testing::TempDir;
using testing::TestModel;

std::unique_ptr<Store> OpenStore(const std::string& path, uint64_t device_budget = 1ull << 30,
                                 SpillPolicy policy = SpillPolicy::kWriteThrough) {
  StoreOptions options;
  options.path = path;
  options.device = "cpu";
  options.device_budget_bytes = device_budget;
  options.spill_policy = policy;
  auto store = Store::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

TEST(StoreTest, InsertCloseReopenLoadsEqualBytes) {
  TempDir dir;
  const auto desc = TestModel();
  const auto tokens = Iota(100);  // 6 full blocks of 16 and a partial of 4
  const auto kv = MakeKv(desc, tokens, 128);
  {
    auto store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc);
    ASSERT_OK(model.status());
    auto ins = store->Insert(*model, tokens, kv);
    ASSERT_OK(ins.status());
    EXPECT_EQ(ins->blocks_added, 7u);
    EXPECT_EQ(ins->tokens_stored, 100u);
    ASSERT_OK(store->Close());
  }
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  auto model = store->RegisterModel(desc);
  ASSERT_OK(model.status());
  auto match = store->Match(*model, tokens);
  ASSERT_OK(match.status());
  EXPECT_EQ(match->tokens, 100u);
  EXPECT_EQ(match->disk_tokens, 100u);
  auto dst = MakeKv(desc, {}, 128);
  auto loaded = store->Load(*model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 100u);
  EXPECT_EQ(loaded->disk_tokens, 100u);
  EXPECT_TRUE(PrefixEqual(dst, kv, 100));
}

}  // namespace
}  // namespace kvstash
