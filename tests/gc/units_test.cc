// The size and duration spellings `kvstash prune` accepts.
#include "gc/units.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace kvstash {
namespace {

TEST(UnitsTest, ByteSizes) {
  const std::pair<const char*, uint64_t> cases[] = {
      {"0", 0},
      {"1234", 1234},
      {"1234B", 1234},
      {"64k", 64ull << 10},
      {"500M", 500ull << 20},
      {"500m", 500ull << 20},
      {"1.5G", 3ull << 29},
      {"2GiB", 2ull << 30},
      {"2gib", 2ull << 30},
      {"1T", 1ull << 40},
      {"10MB", 10'000'000},
      {"1.5KB", 1500},
  };
  for (const auto& [text, bytes] : cases) {
    auto v = ParseByteSize(text);
    ASSERT_OK(v.status());
    EXPECT_EQ(*v, bytes) << text;
  }
}

TEST(UnitsTest, BadByteSizesNameTheText) {
  for (const char* text : {"", "M", "-5M", "1.5", "1.5B", "12X", "1..5G", "5 M", "1PiB",
                           "99999999999999999999", "20000000T"}) {
    auto v = ParseByteSize(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_TRUE(v.status().IsInvalidArgument());
    EXPECT_NE(v.status().message().find(std::string("'") + text + "'"), std::string::npos)
        << v.status().ToString();
  }
}

TEST(UnitsTest, Durations) {
  using std::chrono::milliseconds;
  const std::pair<const char*, int64_t> cases[] = {
      {"250ms", 250},      {"30s", 30'000},     {"10m", 600'000},    {"2h", 7'200'000},
      {"7d", 604'800'000}, {"1w", 604'800'000}, {"1.5h", 5'400'000}, {"0s", 0},
  };
  for (const auto& [text, ms] : cases) {
    auto v = ParseDuration(text);
    ASSERT_OK(v.status());
    EXPECT_EQ(v->count(), ms) << text;
  }
}

TEST(UnitsTest, BadDurations) {
  for (const char* text : {"", "30", "s", "-1h", "2y", "1h30m", "3 d"}) {
    auto v = ParseDuration(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_NE(v.status().message().find("bad duration"), std::string::npos);
  }
}

}  // namespace
}  // namespace kvstash
