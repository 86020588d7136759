// MakeByteLevelBpeJson: the tokenizer.json it writes, the merges it learns,
// and byte-exact round trips through the tokenizer it makes.
#include "engine/tokenizer_maker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/tokenizer.h"
#include "tests/engine/tokenizer_test_util.h"

namespace kvstash {
namespace {

using testing::Ids;
using testing::MustLoad;
using testing::Spell;
using testing::V;

const char kTraining[] =
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.\n"
    "In 2024 the fox ran 12 times around the house, and the dog didn't care.\n"
    "She said: \"the other fox is quicker than the first fox\" -- they're both foxes.\n";

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// "aaab" is one pre-token. Pairs: (a,a) twice, (a,b) once: merge 0 is "a a"
// -> id 256. Then [aa a b] has (aa,a) and (a,b) once each; the tie goes to
// the smaller (left, right) = (97, 98): merge 1 is "a b" -> id 257.
TEST(TokenizerMakerTest, LearnsTheMostFrequentPairFirst) {
  const std::string json = MakeByteLevelBpeJson("aaab", 5, {});
  const auto root = nlohmann::json::parse(json);
  EXPECT_EQ(root["model"]["merges"], nlohmann::json::array({"a a", "a b", "aa ab"}));
  auto t = MustLoad(json);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->vocab_size(), 259u);  // training ran out of pairs after 3 merges
  EXPECT_EQ(t->TokenToId("aa"), 256);
  EXPECT_EQ(t->TokenToId("ab"), 257);
  EXPECT_EQ(t->TokenToId("aaab"), 258);
  // Encode applies the merges by rank: [a a a b] -> [aa a b] -> [aa ab] -> [aaab].
  EXPECT_EQ(Ids(*t, "aaab"), (V{258}));
  EXPECT_EQ(Ids(*t, "aaa"), (V{256, 'a'}));
}

TEST(TokenizerMakerTest, FileHasTheDeclaredShape) {
  const std::string json = MakeByteLevelBpeJson(kTraining, 20, {"<|endoftext|>", "<|im_start|>"});
  const auto root = nlohmann::json::parse(json);
  EXPECT_EQ(root["normalizer"], nlohmann::json::parse(R"({"type": "NFC"})"));
  const auto& steps = root["pre_tokenizer"]["pretokenizers"];
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0]["type"], "Split");
  EXPECT_EQ(steps[0]["behavior"], "Isolated");
  EXPECT_EQ(
      steps[0]["pattern"]["Regex"],
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)");
  EXPECT_EQ(steps[1], nlohmann::json::parse(R"({"type": "ByteLevel", "add_prefix_space": false,
                                                "trim_offsets": false, "use_regex": false})"));
  EXPECT_EQ(root["decoder"]["type"], "ByteLevel");
  EXPECT_EQ(root["model"]["type"], "BPE");
  EXPECT_EQ(root["model"]["merges"].size(), 20u);
  ASSERT_EQ(root["added_tokens"].size(), 2u);
  EXPECT_EQ(root["added_tokens"][0]["id"], 276);
  EXPECT_EQ(root["added_tokens"][0]["content"], "<|endoftext|>");
  EXPECT_EQ(root["added_tokens"][0]["special"], true);
  EXPECT_EQ(root["added_tokens"][0]["normalized"], false);
  EXPECT_EQ(root["added_tokens"][1]["id"], 277);

  auto t = MustLoad(json);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->vocab_size(), 278u);
  // Ids 0..255 are the bytes 0..255, in the byte-level alphabet.
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(t->TokenToId(Spell(std::string(1, static_cast<char>(b)))), b) << b;
  }
  EXPECT_EQ(t->TokenToId("Ġ"), 32);
  EXPECT_EQ(t->TokenToId("Ċ"), 10);
  EXPECT_EQ(Ids(*t, "x<|endoftext|><|im_start|>"), (V{'x', 276, 277}));
}

TEST(TokenizerMakerTest, SameInputsSameBytes) {
  const std::vector<std::string> specials = {"<|endoftext|>"};
  const std::string a = MakeByteLevelBpeJson(kTraining, 60, specials);
  EXPECT_EQ(a, MakeByteLevelBpeJson(kTraining, 60, specials));
  EXPECT_NE(a, MakeByteLevelBpeJson(kTraining, 61, specials));
  auto ta = MustLoad(a);
  auto tb = MustLoad(MakeByteLevelBpeJson(kTraining, 60, specials));
  ASSERT_NE(ta, nullptr);
  ASSERT_NE(tb, nullptr);
  EXPECT_EQ(ta->digest(), tb->digest());
}

TEST(TokenizerMakerTest, MergesShortenTheTrainingText) {
  const std::string text = Repeat(kTraining, 3);
  auto bytes_only = MustLoad(MakeByteLevelBpeJson(text, 0, {}));
  auto merged = MustLoad(MakeByteLevelBpeJson(text, 150, {}));
  ASSERT_NE(bytes_only, nullptr);
  ASSERT_NE(merged, nullptr);
  EXPECT_EQ(bytes_only->vocab_size(), 256u);
  EXPECT_EQ(Ids(*bytes_only, text).size(), text.size());
  const size_t n = Ids(*merged, text).size();
  EXPECT_LT(n, text.size() / 3) << n << " tokens for " << text.size() << " bytes";
  EXPECT_EQ(merged->Decode(Ids(*merged, text)), text);
}

// Special tokens are cut out of the training text, so no merge crosses them
// or learns their insides.
TEST(TokenizerMakerTest, SpecialTokensAreNotTrainedOn) {
  const std::string text = Repeat("<|eot|>", 50) + "ab";
  const auto root = nlohmann::json::parse(MakeByteLevelBpeJson(text, 10, {"<|eot|>"}));
  EXPECT_EQ(root["model"]["merges"], nlohmann::json::array({"a b"}));
}

// Emoji, CJK, combining-free accents, control bytes and invalid UTF-8 (a lone
// continuation byte, a truncated 3-byte character, 0xFF) all come back exactly.
TEST(TokenizerMakerTest, RoundTripsMixedText) {
  auto t = MustLoad(MakeByteLevelBpeJson(Repeat(kTraining, 2), 200, {"<|endoftext|>"}));
  ASSERT_NE(t, nullptr);
  static constexpr char kMixed[] =
      "Hello \xF0\x9F\x91\x8B\xF0\x9F\x8F\xBD world! 漢字かな交じり文 — café naïve\t\r\n"
      "\x80 lone \xE2\x82 cut \xFF\xFE end \x00 nul<|endoftext|>tail  \n\n  "
      "1234567 ١٢٣ 🇺🇳 \xF0\x9F\x98";
  const std::string text(kMixed, sizeof(kMixed) - 1);  // keeps the NUL
  ASSERT_NE(text.find('\0'), std::string::npos);
  const V ids = Ids(*t, text);
  EXPECT_EQ(t->Decode(ids), text);
  const auto special = t->TokenToId("<|endoftext|>");
  ASSERT_TRUE(special.has_value());
  EXPECT_NE(std::find(ids.begin(), ids.end(), *special), ids.end());
}

// The maker's vocab, merges and pre-tokenizer cover every byte sequence: with
// its normalizer taken out, any bytes come back exactly.
TEST(TokenizerMakerTest, RoundTripsArbitraryBytes) {
  auto root = nlohmann::json::parse(MakeByteLevelBpeJson(kTraining, 100, {"<|endoftext|>"}));
  root["normalizer"] = nullptr;
  auto t = MustLoad(root.dump());
  ASSERT_NE(t, nullptr);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(t->Decode(Ids(*t, all)), all);
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    std::string bytes(1 + rng() % 2000, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
    EXPECT_EQ(t->Decode(Ids(*t, bytes)), bytes) << "round " << round;
  }
}

// With the NFC the file declares, Decode(Encode(x)) is x with each valid
// UTF-8 run put in NFC (random bytes sometimes form a non-NFC character, such
// as U+0343, whose NFC is U+0313), and nothing else changes.
TEST(TokenizerMakerTest, RoundTripIsExactUpToNfc) {
  auto t = MustLoad(MakeByteLevelBpeJson(kTraining, 100, {"<|endoftext|>"}));
  ASSERT_NE(t, nullptr);
  // The reference: byte tokens only, NFC, no pre-tokenizer split.
  testing::TokJson j;
  j.vocab = testing::PieceVocab({});
  j.normalizer = R"({"type": "NFC"})";
  auto nfc = MustLoad(j.Build());
  ASSERT_NE(nfc, nullptr);
  EXPECT_EQ(nfc->Decode(Ids(*nfc, "x\xCD\x83\xFF")), "x\xCC\x93\xFF");
  EXPECT_EQ(t->Decode(Ids(*t, "x\xCD\x83\xFF")), "x\xCC\x93\xFF");

  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(t->Decode(Ids(*t, all)), all);  // no two bytes in a row form a character
  std::mt19937 rng(42);
  int changed = 0;
  for (int round = 0; round < 20; ++round) {
    std::string bytes(1 + rng() % 2000, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
    const std::string expected = nfc->Decode(Ids(*nfc, bytes));
    changed += expected != bytes;
    EXPECT_EQ(t->Decode(Ids(*t, bytes)), expected) << "round " << round;
  }
  EXPECT_GT(changed, 0);  // the seed does hit non-NFC characters
}

// A special token spelled like a vocab entry is that entry, as Hugging Face
// assigns it; the others follow the vocab.
TEST(TokenizerMakerTest, SpecialTokenSpelledLikeAVocabEntryGetsItsId) {
  const auto root = nlohmann::json::parse(MakeByteLevelBpeJson("", 0, {"<s>", "a", "</s>"}));
  ASSERT_EQ(root["added_tokens"].size(), 3u);
  EXPECT_EQ(root["added_tokens"][0]["id"], 256);
  EXPECT_EQ(root["added_tokens"][1]["id"], 'a');
  EXPECT_EQ(root["added_tokens"][2]["id"], 257);
  auto t = MustLoad(root.dump());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "<s>ba</s>"), (V{256, 'b', 'a', 257}));
}

TEST(TokenizerMakerTest, EmptyTrainingTextGivesByteTokensOnly) {
  const std::string json = MakeByteLevelBpeJson("", 100, {"<s>", "", "<s>", "</s>"});
  auto t = MustLoad(json);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->vocab_size(), 258u);  // 256 bytes, then "<s>" and "</s>" once each
  EXPECT_EQ(Ids(*t, "<s>hi</s>"), (V{256, 'h', 'i', 257}));
}

// Long runs of one character class make one long pre-token or one long
// regex match; PCRE2 must not run out of stack and BPE must stay fast.
TEST(TokenizerMakerTest, LongRunsEncodeAndRoundTrip) {
  auto t = MustLoad(MakeByteLevelBpeJson(kTraining, 100, {}));
  ASSERT_NE(t, nullptr);
  for (const std::string& run :
       {std::string(60000, 'a'), std::string(60000, ' '), std::string(60000, '7'),
        Repeat(" \n", 30000), Repeat("!?", 30000), Repeat("\xE6\xBC\xA2", 20000)}) {
    const V ids = Ids(*t, run);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(t->Decode(ids), run) << run.substr(0, 8);
  }
}

// Encoding 20 KB must take well under 100 ms in an optimized build; under the
// sanitizers of the test build, allow 20x.
TEST(TokenizerMakerTest, Encodes20KbQuickly) {
  auto t = MustLoad(MakeByteLevelBpeJson(Repeat(kTraining, 4), 300, {}));
  ASSERT_NE(t, nullptr);
  std::string text;
  for (int i = 0; text.size() < 20 * 1024; ++i) {
    text += kTraining;
    text += "Line " + std::to_string(i) + ": 漢字 café 👋 ";
  }
  const auto start = std::chrono::steady_clock::now();
  const V ids = Ids(*t, text);
  const auto ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("encoded %zu bytes into %zu tokens in %.1f ms\n", text.size(), ids.size(), ms);
  EXPECT_LT(ms, 2000.0);
  EXPECT_EQ(t->Decode(ids), text);
}

}  // namespace
}  // namespace kvstash
