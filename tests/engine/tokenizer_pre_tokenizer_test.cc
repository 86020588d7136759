// Pre-tokenizers as tokenizer.json declares them: Split (each behavior,
// invert, Regex and String patterns), Digits, ByteLevel and Sequence order.
//
// Every tokenizer here has the 256 byte tokens (id b is byte b) plus a few
// whole pieces at ids 256+ (PieceVocab), no merges and ignore_merges: true.
// So a pre-token that is one of the pieces encodes to its id and any other
// pre-token to its bytes: the ids spell out the pre-tokenization.
#include "engine/tokenizer.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/engine/tokenizer_test_util.h"

namespace kvstash {
namespace {

using testing::Ids;
using testing::MustLoad;
using testing::PieceVocab;
using testing::TokJson;
using testing::V;

constexpr char kByteLevel[] = R"({"type": "ByteLevel", "add_prefix_space": false,
                                  "use_regex": false})";
constexpr char kByteLevelPrefix[] = R"({"type": "ByteLevel", "add_prefix_space": true,
                                        "use_regex": false})";

std::unique_ptr<Tokenizer> PieceTokenizer(const std::vector<std::string>& pieces,
                                          const std::string& pre_tokenizer,
                                          const std::string& added_tokens = "[]") {
  TokJson j;
  j.vocab = PieceVocab(pieces);
  j.model_options = R"("ignore_merges": true,)";
  j.pre_tokenizer = pre_tokenizer;
  j.added_tokens = added_tokens;
  return MustLoad(j.Build());
}

// [step, ByteLevel] as a Sequence.
std::string Then(const std::string& step, const std::string& byte_level = kByteLevel) {
  return R"({"type": "Sequence", "pretokenizers": [)" + step + ", " + byte_level + "]}";
}

std::string SplitOn(const std::string& pattern, const std::string& behavior, bool invert = false) {
  return R"({"type": "Split", "pattern": )" + pattern + R"(, "behavior": ")" + behavior +
         R"(", "invert": )" + (invert ? "true" : "false") + "}";
}

// Pieces: ab=256 cd=257 --=258 ab-=259 -cd=260; '-' is byte 45.
const std::vector<std::string> kDashPieces = {"ab", "cd", "--", "ab-", "-cd"};

V SplitDashes(const std::string& behavior, bool invert = false) {
  auto t = PieceTokenizer(kDashPieces, Then(SplitOn(R"({"String": "-"})", behavior, invert)));
  return t == nullptr ? V{} : Ids(*t, "ab--cd");
}

TEST(PreTokenizerTest, SplitBehaviors) {
  // Matches: "-", "-"; the rest: "ab", "cd".
  EXPECT_EQ(SplitDashes("Isolated"), (V{256, 45, 45, 257}));        // ab - - cd
  EXPECT_EQ(SplitDashes("Removed"), (V{256, 257}));                 // ab cd
  EXPECT_EQ(SplitDashes("MergedWithPrevious"), (V{259, 45, 257}));  // ab- - cd
  EXPECT_EQ(SplitDashes("MergedWithNext"), (V{256, 45, 260}));      // ab - -cd
  EXPECT_EQ(SplitDashes("Contiguous"), (V{256, 258, 257}));         // ab -- cd
  // Inverted, "ab" and "cd" are the matches.
  EXPECT_EQ(SplitDashes("Removed", true), (V{45, 45}));                   // - -
  EXPECT_EQ(SplitDashes("MergedWithPrevious", true), (V{256, 45, 260}));  // ab - -cd
  EXPECT_EQ(SplitDashes("Isolated", true), (V{256, 45, 45, 257}));
  // No Split: one pre-token, which is not a piece.
  auto t = PieceTokenizer(kDashPieces, kByteLevel);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "ab--cd"), (V{'a', 'b', '-', '-', 'c', 'd'}));
}

TEST(PreTokenizerTest, SplitRegexAndEmptyResults) {
  auto t = PieceTokenizer({"ab", "cd"}, Then(SplitOn(R"({"Regex": "\\s+"})", "Removed")));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "ab \t cd"), (V{256, 257}));
  EXPECT_EQ(Ids(*t, "  \n "), V{});  // everything removed
  EXPECT_EQ(Ids(*t, ""), V{});
  // A pattern that can match empty still advances; its empty matches (before
  // "a", "b", "c" and "d", as in Python's and Rust's regex iterators) cut too.
  t = PieceTokenizer({"ab", "cd"}, Then(SplitOn(R"({"Regex": "x*"})", "Removed")));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "abxxcd"), (V{'a', 'b', 'c', 'd'}));
}

// Invalid UTF-8 matches no character class: it falls between the matches.
TEST(PreTokenizerTest, SplitRegexPassesInvalidUtf8Through) {
  auto t = PieceTokenizer({"ab", "cd"}, Then(SplitOn(R"({"Regex": "\\p{L}+"})", "Isolated")));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t,
                "ab\xFF"
                "cd"),
            (V{256, 255, 257}));
  EXPECT_EQ(Ids(*t, "ab\xE2\x82"), (V{256, 0xE2, 0x82}));  // a truncated character
  EXPECT_EQ(t->Decode({256, 255, 257}),
            "ab\xFF"
            "cd");
}

// Qwen2's regex: case-insensitive contractions, single digits, punctuation
// keeps its newlines, and the last space of a run joins the next word.
// "I'M 12,\n\n  go" -> I | 'M | ' ' | 1 | 2 | ",\n\n" | ' ' | " go".
TEST(PreTokenizerTest, SplitWithQwen2Regex) {
  const std::string regex =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+)";
  auto t = PieceTokenizer({"'M", ",\n\n", " go"},
                          Then(SplitOn(R"({"Regex": ")" + regex + "\"}", "Isolated")));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "I'M 12,\n\n  go"), (V{'I', 256, ' ', '1', '2', 257, ' ', 258}));
}

// GPT-2's regex (ByteLevel use_regex) is case-sensitive and keeps digit runs:
// "I'M 12,\n\n  go" -> I | ' | M | " 12" | , | "\n\n " | " go".
TEST(PreTokenizerTest, ByteLevelUseRegexAppliesGpt2Regex) {
  auto t = PieceTokenizer({" 12", "\n\n ", " go"},
                          R"({"type": "ByteLevel", "add_prefix_space": false})");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "I'M 12,\n\n  go"), (V{'I', '\'', 'M', 256, ',', 257, 258}));
}

TEST(PreTokenizerTest, DigitsContiguousOrIndividual) {
  const std::string x3 = "\xD9\xA3\xD9\xA4";  // U+0663 U+0664, Arabic-Indic digits (Nd)
  const std::vector<std::string> pieces = {"123", x3, "7\xC2\xBD"};  // 7½: ½ is No
  auto t = PieceTokenizer(pieces, Then(R"({"type": "Digits", "individual_digits": false})"));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "a123b"), (V{'a', 256, 'b'}));
  EXPECT_EQ(Ids(*t, "x" + x3 + "y"), (V{'x', 257, 'y'}));
  EXPECT_EQ(Ids(*t, "7\xC2\xBDx"), (V{258, 'x'}));

  t = PieceTokenizer(pieces, Then(R"({"type": "Digits", "individual_digits": true})"));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "a123b"), (V{'a', '1', '2', '3', 'b'}));
  EXPECT_EQ(Ids(*t, "x" + x3 + "y"), (V{'x', 0xD9, 0xA3, 0xD9, 0xA4, 'y'}));
}

TEST(PreTokenizerTest, ByteLevelAddPrefixSpace) {
  auto t = PieceTokenizer({" hi"}, kByteLevelPrefix);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "hi"), (V{256}));
  EXPECT_EQ(Ids(*t, " hi"), (V{256}));  // already there: not doubled
  EXPECT_EQ(t->Decode({256}), " hi");

  t = PieceTokenizer({" hi"}, kByteLevel);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "hi"), (V{'h', 'i'}));
}

// Hugging Face pre-tokenizes each stretch between added tokens separately, so
// each gets its own prefix space.
TEST(PreTokenizerTest, PrefixSpaceAppliesToEachStretchBetweenAddedTokens) {
  auto t = PieceTokenizer({" hi"}, kByteLevelPrefix,
                          R"([{"id": 257, "content": "<s>", "special": true}])");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "hi<s>hi"), (V{256, 257, 256}));
  EXPECT_EQ(Ids(*t, "<s><s>"), (V{257, 257}));
  EXPECT_EQ(t->vocab_size(), 258u);
}

// Swapping two steps of a Sequence changes the pieces: Digits then ByteLevel
// gives each digit its own prefix space; ByteLevel then Digits prefixes the
// whole text once and then cuts the digits out of "Ġ12".
TEST(PreTokenizerTest, SequenceOrderMatters) {
  const std::string digits = R"({"type": "Digits", "individual_digits": true})";
  const std::vector<std::string> pieces = {" 1", " 2"};
  auto t = PieceTokenizer(pieces, R"({"type": "Sequence", "pretokenizers": [)" + digits + ", " +
                                      kByteLevelPrefix + "]}");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "12"), (V{256, 257}));

  t = PieceTokenizer(pieces, R"({"type": "Sequence", "pretokenizers": [)" +
                                 std::string(kByteLevelPrefix) + ", " + digits + "]}");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "12"), (V{' ', '1', '2'}));
}

// Steps after ByteLevel see the byte-level alphabet, where ' ' is 'Ġ'.
TEST(PreTokenizerTest, StepsAfterByteLevelSeeTheByteAlphabet) {
  const std::vector<std::string> pieces = {"ab", "cd"};
  auto before = PieceTokenizer(pieces, Then(SplitOn(R"({"String": " "})", "Removed")));
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(Ids(*before, "ab cd"), (V{256, 257}));

  auto after = PieceTokenizer(pieces, R"({"type": "Sequence", "pretokenizers": [)" +
                                          std::string(kByteLevel) + ", " +
                                          SplitOn(R"({"String": " "})", "Removed") + "]}");
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(Ids(*after, "ab cd"), (V{'a', 'b', ' ', 'c', 'd'}));

  auto after_g = PieceTokenizer(pieces, R"({"type": "Sequence", "pretokenizers": [)" +
                                            std::string(kByteLevel) + ", " +
                                            SplitOn(R"({"String": "Ġ"})", "Removed") + "]}");
  ASSERT_NE(after_g, nullptr);
  EXPECT_EQ(Ids(*after_g, "ab cd"), (V{256, 257}));
}

// Nested Sequences run in document order, like a flat one.
TEST(PreTokenizerTest, NestedSequencesFlatten) {
  auto t = PieceTokenizer(
      kDashPieces,
      R"({"type": "Sequence", "pretokenizers": [{"type": "Sequence", "pretokenizers": [)" +
          SplitOn(R"({"String": "-"})", "Contiguous") + "]}, " + kByteLevel + "]}");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "ab--cd"), (V{256, 258, 257}));
}

}  // namespace
}  // namespace kvstash
