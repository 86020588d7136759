#include "serde/logits_record.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tests/test_util.h"

namespace kvstash {
namespace {

LogitsKey Key() {
  LogitsKey key;
  key.model = ModelId{1, 2};
  key.parent = BlockHash{3, 4};
  key.tail = BlockHash{5, 6};
  return key;
}

std::vector<float> Logits(uint32_t vocab) {
  std::vector<float> v(vocab);
  for (uint32_t i = 0; i < vocab; ++i) v[i] = static_cast<float>(i) * -0.37f + 1e-3f;
  return v;
}

TEST(LogitsRecordTest, RoundTripsBitForBit) {
  const auto logits = Logits(300);
  std::string record;
  EncodeLogitsRecord(Key(), logits.data(), 300, &record);
  EXPECT_EQ(record.size(), 4 + 2 + 48 + 4 + 1 + 4 * 300 + 8u);
  EXPECT_EQ(record.substr(0, 4), "KVSL");
  std::vector<float> out(300);
  ASSERT_OK(DecodeLogitsRecord(record, Key(), 300, out.data()));
  EXPECT_EQ(std::memcmp(out.data(), logits.data(), 4 * 300), 0);
}

TEST(LogitsRecordTest, EveryTruncationAndEveryFlippedByteIsCorruption) {
  const auto logits = Logits(40);
  std::string record;
  EncodeLogitsRecord(Key(), logits.data(), 40, &record);
  std::vector<float> out(40);
  for (size_t n = 0; n < record.size(); ++n) {
    auto s = DecodeLogitsRecord(std::string_view(record).substr(0, n), Key(), 40, out.data());
    EXPECT_EQ(s.code(), Status::Code::kCorruption) << n;
  }
  for (size_t i = 0; i < record.size(); ++i) {
    std::string bad = record;
    bad[i] ^= 0x10;
    auto s = DecodeLogitsRecord(bad, Key(), 40, out.data());
    EXPECT_FALSE(s.ok()) << i;
    if (i < 4 || i >= 6) EXPECT_EQ(s.code(), Status::Code::kCorruption) << i << s.ToString();
  }
}

TEST(LogitsRecordTest, WrongKeyOrVocabIsCorruptionNamingIt) {
  const auto logits = Logits(40);
  std::string record;
  EncodeLogitsRecord(Key(), logits.data(), 40, &record);
  std::vector<float> out(41);
  LogitsKey other = Key();
  other.tail = BlockHash{5, 7};
  auto s = DecodeLogitsRecord(record, other, 40, out.data());
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.ToString().find("identity"), std::string::npos) << s.ToString();
  s = DecodeLogitsRecord(record, Key(), 41, out.data());
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.ToString().find("vocab 40"), std::string::npos) << s.ToString();
}

TEST(LogitsRecordTest, NewerVersionIsNotSupported) {
  const auto logits = Logits(8);
  std::string record;
  EncodeLogitsRecord(Key(), logits.data(), 8, &record);
  record[4] = 2;
  std::vector<float> out(8);
  auto s = DecodeLogitsRecord(record, Key(), 8, out.data());
  EXPECT_EQ(s.code(), Status::Code::kNotSupported) << s.ToString();
}

}  // namespace
}  // namespace kvstash
