#include "serde/block_hash.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "serde/hash128.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

constexpr ModelId kModel{0x0123456789abcdefull, 0xfedcba9876543210ull};

// The hash input spelled out byte by byte, independently of the library's
// own encoding helpers: model (lo LE, hi LE), parent (lo LE, hi LE), tokens
// as int32 LE.
void AppendLe64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

BlockHash Reference(const ModelId& model, const BlockHash& parent,
                    const std::vector<int32_t>& tokens) {
  std::string bytes;
  AppendLe64(&bytes, model.lo);
  AppendLe64(&bytes, model.hi);
  AppendLe64(&bytes, parent.lo);
  AppendLe64(&bytes, parent.hi);
  for (int32_t t : tokens) {
    uint32_t u = static_cast<uint32_t>(t);
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return BlockHash{h.low64, h.high64};
}

BlockHash Hash(const ModelId& model, const BlockHash& parent, const std::vector<int32_t>& tokens) {
  return ComputeBlockHash(model, parent, tokens.data(), tokens.size());
}

std::vector<int32_t> RandomTokens(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, 151935);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = dist(rng);
  return t;
}

TEST(BlockHashTest, RootIsZero) {
  EXPECT_TRUE(kRootBlockHash.IsZero());
  EXPECT_EQ(kRootBlockHash.ToHex(), std::string(32, '0'));
}

// Pinned values: block hashes are content addresses of stored blocks, so a
// change here invalidates every existing store. The hex strings were computed
// once with libxxhash outside kvstash; the test also recomputes them from the
// explicitly built byte string.
TEST(BlockHashTest, PinnedValues) {
  const std::vector<int32_t> first_tokens = {1, 2, 3};
  BlockHash first = Hash(kModel, kRootBlockHash, first_tokens);
  EXPECT_EQ(first, Reference(kModel, kRootBlockHash, first_tokens));
  EXPECT_EQ(first.ToHex(), "5924db113ca84e12fe4e7f9e062f39b5");

  const std::vector<int32_t> second_tokens = {4, 5, -1, 0x7fffffff};
  BlockHash second = Hash(kModel, first, second_tokens);
  EXPECT_EQ(second, Reference(kModel, first, second_tokens));
  EXPECT_EQ(second.ToHex(), "5aca6ec3d32c7e794b96a6d720f3dce4");

  // Zero tokens: the hash of model and parent alone.
  BlockHash empty = ComputeBlockHash(kModel, kRootBlockHash, nullptr, 0);
  EXPECT_EQ(empty, Reference(kModel, kRootBlockHash, {}));
  EXPECT_EQ(empty.ToHex(), "5819904e472304e08f8ce528b04a37d4");
}

TEST(BlockHashTest, MatchesReferenceOnRandomInputs) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    ModelId model{rng(), rng()};
    BlockHash parent{rng(), rng()};
    std::vector<int32_t> tokens(rng() % 130);
    for (auto& t : tokens) t = static_cast<int32_t>(rng());
    ASSERT_EQ(Hash(model, parent, tokens), Reference(model, parent, tokens)) << "case " << i;
  }
}

TEST(BlockHashTest, Deterministic) {
  std::vector<int32_t> tokens = RandomTokens(64, 1);
  BlockHash a = Hash(kModel, kRootBlockHash, tokens);
  BlockHash b = Hash(kModel, kRootBlockHash, std::vector<int32_t>(tokens));
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a.IsZero());
}

TEST(BlockHashTest, EveryInputChangesHash) {
  std::vector<int32_t> tokens = RandomTokens(64, 2);
  BlockHash parent{11, 22};
  BlockHash base = Hash(kModel, parent, tokens);
  std::set<std::string> seen = {base.ToHex()};
  auto expect_new = [&](BlockHash h, const std::string& what) {
    EXPECT_NE(h, base) << what;
    EXPECT_TRUE(seen.insert(h.ToHex()).second) << what << " collides with another variant";
  };
  // Model: each half, and a single bit.
  expect_new(Hash({kModel.lo ^ 1, kModel.hi}, parent, tokens), "model lo bit");
  expect_new(Hash({kModel.lo, kModel.hi ^ (1ull << 63)}, parent, tokens), "model hi bit");
  // Parent.
  expect_new(Hash(kModel, kRootBlockHash, tokens), "root parent");
  expect_new(Hash(kModel, {12, 22}, tokens), "parent lo");
  expect_new(Hash(kModel, {11, 23}, tokens), "parent hi");
  expect_new(Hash(kModel, {22, 11}, tokens), "parent halves swapped");
  // Tokens: each position changed, order, length.
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::vector<int32_t> t = tokens;
    t[i] ^= 1;
    expect_new(Hash(kModel, parent, t), "token " + std::to_string(i));
  }
  std::vector<int32_t> swapped = tokens;
  std::swap(swapped[0], swapped[1]);
  expect_new(Hash(kModel, parent, swapped), "swapped tokens");
  std::vector<int32_t> shorter(tokens.begin(), tokens.end() - 1);
  expect_new(Hash(kModel, parent, shorter), "dropped last token");
  std::vector<int32_t> longer = tokens;
  longer.push_back(0);
  expect_new(Hash(kModel, parent, longer), "appended token 0");
}

TEST(BlockHashTest, ModelAndParentAreNotInterchangeable) {
  // model and parent are both 16 bytes; swapping them must change the hash.
  BlockHash other{0xaaaa, 0xbbbb};
  std::vector<int32_t> tokens = {5, 6, 7};
  EXPECT_NE(Hash(kModel, other, tokens), Hash(other, kModel, tokens));
}

TEST(BlockHashTest, DifferentModelDifferentHashForSameTokens) {
  ModelId other{kModel.lo + 1, kModel.hi};
  std::vector<int32_t> tokens = RandomTokens(100, 3);
  std::vector<BlockHash> a = ComputeChainHashes(kModel, tokens.data(), tokens.size(), 16);
  std::vector<BlockHash> b = ComputeChainHashes(other, tokens.data(), tokens.size(), 16);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NE(a[i], b[i]) << "block " << i;
}

TEST(BlockHashTest, SameTokensAtDifferentPositionsDiffer) {
  // Prompt "A B" vs "B B": the second block has the same tokens but a different
  // prefix, so it must not share KV.
  std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<int32_t> b = {5, 6, 7, 8, 5, 6, 7, 8};
  std::vector<BlockHash> ha = ComputeChainHashes(kModel, a.data(), a.size(), 4);
  std::vector<BlockHash> hb = ComputeChainHashes(kModel, b.data(), b.size(), 4);
  ASSERT_EQ(ha.size(), 2u);
  ASSERT_EQ(hb.size(), 2u);
  EXPECT_NE(ha[1], hb[1]);
  EXPECT_NE(hb[0], hb[1]);  // same 4 tokens, first vs second position
  // Yet a block only depends on its own prefix: equal prefixes share hashes.
  std::vector<int32_t> c = {1, 2, 3, 4, 9, 9, 9, 9};
  std::vector<BlockHash> hc = ComputeChainHashes(kModel, c.data(), c.size(), 4);
  EXPECT_EQ(ha[0], hc[0]);
  EXPECT_NE(ha[1], hc[1]);
}

TEST(BlockHashTest, ChainHashesEqualManualChaining) {
  for (size_t n : {1u, 63u, 64u, 65u, 128u, 200u}) {
    for (size_t block : {1u, 7u, 64u}) {
      SCOPED_TRACE("n=" + std::to_string(n) + " block=" + std::to_string(block));
      std::vector<int32_t> tokens = RandomTokens(n, static_cast<uint32_t>(n * 100 + block));
      std::vector<BlockHash> chain = ComputeChainHashes(kModel, tokens.data(), n, block);
      ASSERT_EQ(chain.size(), (n + block - 1) / block);
      BlockHash parent = kRootBlockHash;
      for (size_t i = 0; i < chain.size(); ++i) {
        size_t start = i * block;
        size_t len = std::min(block, n - start);
        std::vector<int32_t> piece(tokens.begin() + start, tokens.begin() + start + len);
        BlockHash expected = Reference(kModel, parent, piece);
        ASSERT_EQ(chain[i], expected) << "block " << i;
        parent = expected;
      }
    }
  }
}

TEST(BlockHashTest, ChainSplitsWithShorterLastBlock) {
  std::vector<int32_t> tokens = RandomTokens(150, 9);
  std::vector<BlockHash> chain = ComputeChainHashes(kModel, tokens.data(), tokens.size(), 64);
  ASSERT_EQ(chain.size(), 3u);  // 64 + 64 + 22
  std::vector<int32_t> tail(tokens.begin() + 128, tokens.end());
  EXPECT_EQ(chain[2], Hash(kModel, chain[1], tail));
  // A prefix's chain is a prefix of the full chain, for whole blocks.
  std::vector<BlockHash> prefix = ComputeChainHashes(kModel, tokens.data(), 128, 64);
  ASSERT_EQ(prefix.size(), 2u);
  EXPECT_EQ(prefix[0], chain[0]);
  EXPECT_EQ(prefix[1], chain[1]);
  // But a partial last block hashes differently from the full block it grows into.
  std::vector<BlockHash> partial = ComputeChainHashes(kModel, tokens.data(), 100, 64);
  ASSERT_EQ(partial.size(), 2u);
  EXPECT_EQ(partial[0], chain[0]);
  EXPECT_NE(partial[1], chain[1]);
  // Hashes within one chain are distinct.
  EXPECT_NE(chain[0], chain[1]);
  EXPECT_NE(chain[1], chain[2]);
}

TEST(BlockHashTest, ChainOfNoTokensIsEmpty) {
  EXPECT_TRUE(ComputeChainHashes(kModel, nullptr, 0, 64).empty());
}

TEST(BlockHashTest, BlockSizeLargerThanSequence) {
  std::vector<int32_t> tokens = {10, 20, 30};
  std::vector<BlockHash> chain = ComputeChainHashes(kModel, tokens.data(), tokens.size(), 64);
  ASSERT_EQ(chain.size(), 1u);
  EXPECT_EQ(chain[0], Hash(kModel, kRootBlockHash, tokens));
}

}  // namespace
}  // namespace kvstash
