// The Redis Cluster tier's address and slot function (store/remote/
// redis_address.h, redis_slots.h): what users type and what the cluster
// specification fixes.
#include "store/remote/redis_address.h"

#include <gtest/gtest.h>

#include "store/remote/redis_keys.h"
#include "store/remote/redis_slots.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

TEST(RedisSlotsTest, MatchTheClusterSpecification) {
  EXPECT_EQ(RedisCrc16("123456789"), 0x31C3);  // the specification's test vector
  EXPECT_EQ(RedisKeySlot("foo"), 12182);       // CLUSTER KEYSLOT foo
  EXPECT_EQ(RedisKeySlot("bar"), 5061);
  // Hash tags: only the part inside the first {...} counts, if non-empty.
  EXPECT_EQ(RedisKeySlot("{user1000}.following"), RedisKeySlot("{user1000}.followers"));
  EXPECT_EQ(RedisKeySlot("{user1000}.following"), RedisKeySlot("user1000"));
  EXPECT_EQ(RedisKeySlot("foo{}{bar}"), RedisCrc16("foo{}{bar}") % kRedisSlots);
  EXPECT_EQ(RedisKeySlot("foo{{bar}}zap"), RedisKeySlot("{bar"));
}

TEST(RedisSlotsTest, KvstashKeysSpreadOverTheSlots) {
  // No hash tag: one model's blocks land all over the cluster.
  ModelId model = Hash128{1, 2};
  std::vector<int> per_third(3, 0);
  for (uint64_t i = 0; i < 300; ++i) {
    const std::string key = RedisBlockKey(model, Hash128{i, i * 7});
    EXPECT_EQ(key.find('{'), std::string::npos);
    ++per_third[RedisKeySlot(key) * 3 / kRedisSlots];
  }
  for (int n : per_third) EXPECT_GT(n, 60);
}

TEST(RedisKeysTest, NameWhatTheyHold) {
  const ModelId model = Hash128{0x0123456789abcdefull, 0xfedcba9876543210ull};
  const std::string block = RedisBlockKey(model, Hash128{1, 2});
  EXPECT_EQ(block.rfind("kvstash:block:" + model.ToHex() + ":", 0), 0u) << block;
  EXPECT_EQ(ClassifyRedisKey(block), RedisKeyKind::kBlock);
  EXPECT_EQ(ClassifyRedisKey(RedisModelKey(model)), RedisKeyKind::kModel);
  EXPECT_EQ(ClassifyRedisKey(RedisLogitsKey({model, Hash128{3, 4}, Hash128{5, 6}})),
            RedisKeyKind::kLogits);
  EXPECT_EQ(ClassifyRedisKey("session:42"), RedisKeyKind::kOther);
}

TEST(RedisAddressTest, SeedsAndCredentials) {
  auto one = ParseRedisAddress("redis://10.0.0.5:7000", "");
  ASSERT_OK(one.status());
  ASSERT_EQ(one->seeds.size(), 1u);
  EXPECT_EQ(one->seeds[0].host, "10.0.0.5");
  EXPECT_EQ(one->seeds[0].port, 7000);
  EXPECT_TRUE(one->password.empty());

  auto many = ParseRedisAddress("redis://:pa@ss@a:1,b:2,[::1]:3/", "");
  ASSERT_OK(many.status());
  ASSERT_EQ(many->seeds.size(), 3u);
  EXPECT_EQ(many->password, "pa@ss");
  EXPECT_TRUE(many->user.empty());
  EXPECT_EQ(many->seeds[2].host, "::1");
  EXPECT_EQ(many->seeds[2].port, 3);
  EXPECT_EQ(DescribeRedisSeeds(*many), "redis://a:1,b:2,[::1]:3");

  auto user = ParseRedisAddress("redis://kv:secret@h:6379", "");
  ASSERT_OK(user.status());
  EXPECT_EQ(user->user, "kv");
  EXPECT_EQ(user->password, "secret");

  // The token file's password, when the address has none.
  auto token = ParseRedisAddress("redis://h:6379", "from-file");
  ASSERT_OK(token.status());
  EXPECT_EQ(token->password, "from-file");
}

TEST(RedisAddressTest, BadAddressesAreRefusedWithoutShowingThePassword) {
  for (const char* bad :
       {"redis://", "redis://h", "redis://h:0", "redis://h:70000", "redis://h:x",
        "redis://:secret@h:99999", "redis://secret@h:1", "redis://:@h:1", "redis://h:1,,h:-2"}) {
    auto parsed = ParseRedisAddress(bad, "");
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_TRUE(parsed.status().IsInvalidArgument()) << parsed.status().ToString();
    EXPECT_EQ(parsed.status().message().find("secret"), std::string::npos)
        << parsed.status().ToString();
  }
  auto both = ParseRedisAddress("redis://:a@h:1", "b");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("token file"), std::string::npos)
      << both.status().ToString();
}

}  // namespace
}  // namespace kvstash
