// The sorted child index (store/child_index.h) against a brute-force scan of
// every sibling, on random sets with shared prefixes, partial blocks and
// negative token ids.
#include "store/child_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace kvstash {
namespace {

BlockHash HashOf(const std::vector<int32_t>& tokens) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t t : tokens) h = (h ^ static_cast<uint32_t>(t)) * 1099511628211ull;
  return Hash128{h, tokens.size()};
}

// A small alphabet and short sequences, so siblings share prefixes often.
std::vector<int32_t> RandomTokens(std::mt19937& rng, size_t max_len) {
  std::uniform_int_distribution<size_t> len(1, max_len);
  std::uniform_int_distribution<int32_t> tok(-2, 3);
  std::vector<int32_t> v(len(rng));
  for (int32_t& t : v) t = tok(rng);
  return v;
}

size_t BruteLongest(const std::set<std::vector<int32_t>>& all, const std::vector<int32_t>& q) {
  size_t best = 0;
  for (const auto& s : all) best = std::max(best, CommonPrefixLength(s, q));
  return best;
}

std::set<std::vector<int32_t>> BruteStrictPrefixes(const std::set<std::vector<int32_t>>& all,
                                                   const std::vector<int32_t>& t) {
  std::set<std::vector<int32_t>> out;
  for (const auto& s : all) {
    if (s.size() < t.size() && std::equal(s.begin(), s.end(), t.begin())) out.insert(s);
  }
  return out;
}

TEST(ChildIndexTest, AgreesWithAScanOfEverySibling) {
  std::mt19937 rng(7);
  const ModelId model{1, 2};
  const BlockHash parent{3, 4};
  for (int round = 0; round < 200; ++round) {
    ChildIndex index;
    std::set<std::vector<int32_t>> all;
    const int n = 1 + round % 40;
    for (int i = 0; i < n; ++i) {
      auto t = RandomTokens(rng, 6);
      index.Add(model, parent, t, HashOf(t));
      all.insert(t);
    }
    ASSERT_EQ(index.size(), all.size());
    for (int q = 0; q < 30; ++q) {
      const auto query = RandomTokens(rng, 6);
      const size_t want = BruteLongest(all, query);
      auto got = index.Longest(model, parent, query);
      if (want == 0) {
        EXPECT_FALSE(got.has_value());
      } else {
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(got->common, want);
        // The hash names a child that really shares `want` tokens.
        bool named = false;
        for (const auto& s : all) {
          named |= HashOf(s) == got->hash && CommonPrefixLength(s, query) == want &&
                   s.size() == got->block_tokens;
        }
        EXPECT_TRUE(named);
      }
      std::set<std::vector<int32_t>> prefixes;
      for (const ChildLink& c : index.ShorterPrefixes(model, parent, query)) {
        EXPECT_EQ(c.hash, HashOf(c.tokens));
        prefixes.insert(c.tokens);
      }
      EXPECT_EQ(prefixes, BruteStrictPrefixes(all, query));
    }
    // Removing takes the child out of both answers.
    const auto victim = *all.begin();
    index.Remove(model, parent, victim, HashOf(victim));
    all.erase(victim);
    EXPECT_EQ(index.size(), all.size());
    EXPECT_EQ(index.Children(model, parent).size(), all.size());
  }
}

TEST(ChildIndexTest, ParentsAndModelsAreSeparate) {
  ChildIndex index;
  const std::vector<int32_t> t = {5, 6, 7};
  index.Add(ModelId{1, 1}, BlockHash{2, 2}, t, HashOf(t));
  EXPECT_TRUE(index.Longest(ModelId{1, 1}, BlockHash{2, 2}, t).has_value());
  EXPECT_FALSE(index.Longest(ModelId{1, 1}, BlockHash{2, 3}, t).has_value());
  EXPECT_FALSE(index.Longest(ModelId{1, 2}, BlockHash{2, 2}, t).has_value());
  // Remove only drops the entry it names.
  index.Remove(ModelId{1, 1}, BlockHash{2, 2}, t, BlockHash{9, 9});
  EXPECT_EQ(index.size(), 1u);
  index.Remove(ModelId{1, 1}, BlockHash{2, 2}, t, HashOf(t));
  EXPECT_EQ(index.size(), 0u);
}

}  // namespace
}  // namespace kvstash
