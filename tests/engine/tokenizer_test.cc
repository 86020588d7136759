// Tokenizer: loading tokenizer.json, BPE merges, added tokens, normalizers,
// Decode, and the errors a user sees for bad or unsupported files. The
// pre-tokenizer steps have their own file (tokenizer_pre_tokenizer_test.cc).
#include "engine/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "serde/hash128.h"
#include "tests/engine/tokenizer_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::Ids;
using testing::MustLoad;
using testing::TokJson;
using testing::V;

// Loads `json`, expecting failure with `code`; returns the message.
std::string LoadError(const std::string& json, Status::Code code) {
  auto t = Tokenizer::FromJson(json);
  EXPECT_FALSE(t.ok());
  if (t.ok()) return "";
  EXPECT_EQ(t.status().code(), code) << t.status().ToString();
  return t.status().message();
}

// --- merges ----------------------------------------------------------------

// vocab a=0 b=1 c=2 ab=3 bc=4. "abc" starts as [a b c] with candidate pairs
// (a,b) and (b,c); the pair with the lower rank merges first, wherever it is.
TEST(TokenizerTest, LowerRankMergeWinsEvenIfLaterInTheText) {
  TokJson j;
  j.vocab = R"({"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4})";
  j.merges = R"(["b c", "a b"])";  // (b,c) rank 0: [a bc], and (a,bc) is no merge
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "abc"), (V{0, 4}));
  EXPECT_EQ(t->Decode({0, 4}), "abc");

  j.merges = R"(["a b", "b c"])";  // (a,b) rank 0: [ab c], and (ab,c) is no merge
  t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "abc"), (V{3, 2}));
}

TEST(TokenizerTest, PairMergesReadLikeStringMerges) {
  TokJson j;
  j.vocab = R"({"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4})";
  j.merges = R"([["b", "c"], ["a", "b"]])";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "abc"), (V{0, 4}));
  j.merges = R"([["a", "b"], ["b", "c"]])";
  t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "abc"), (V{3, 2}));
}

// h=0 e=1 l=2 o=3 he=4 ll=5 hell=6 hello=7 Ġ=8 (Ġ is the byte-level space).
// GPT-2's regex cuts "hello hello" into "hello" and "Ġhello". In each, by rank:
// (h,e)->he, (l,l)->ll, (he,ll)->hell, (hell,o)->hello; (Ġ,hello) is no merge.
TEST(TokenizerTest, ChainedMergesWithinEachPreToken) {
  TokJson j;
  j.vocab = R"({"h": 0, "e": 1, "l": 2, "o": 3, "he": 4, "ll": 5, "hell": 6, "hello": 7,
                "Ġ": 8})";
  j.merges = R"(["h e", "l l", "he ll", "hell o"])";
  j.pre_tokenizer = R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "hello hello"), (V{7, 8, 7}));
  EXPECT_EQ(t->Decode({7, 8, 7}), "hello hello");
  // "hel": (h,e) then (he,l) is no merge.
  EXPECT_EQ(Ids(*t, "hel"), (V{4, 2}));
  EXPECT_EQ(Ids(*t, ""), V{});
}

// Equal ranks tie-break leftmost: "aaa" is [aa a], not [a aa].
TEST(TokenizerTest, SamePairMergesLeftmostFirst) {
  TokJson j;
  j.vocab = R"({"a": 0, "aa": 1, "aaa": 2})";
  j.merges = R"(["a a"])";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "aaa"), (V{1, 0}));
  EXPECT_EQ(Ids(*t, "aaaa"), (V{1, 1}));
}

// Llama-3 sets ignore_merges: a pre-token that is a vocab entry is emitted
// whole even if no merge path leads to it. "hello": merges give [he l l o].
TEST(TokenizerTest, IgnoreMergesTakesWholeWordsFromTheVocab) {
  TokJson j;
  j.vocab = R"({"h": 0, "e": 1, "l": 2, "o": 3, "he": 4, "hello": 5})";
  j.merges = R"(["h e"])";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "hello"), (V{4, 2, 2, 3}));
  j.model_options = R"("ignore_merges": true,)";
  t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "hello"), (V{5}));
  EXPECT_EQ(Ids(*t, "hell"), (V{4, 2, 2}));
}

// A 20,000-character pre-token must not take quadratic time.
TEST(TokenizerTest, LongPreTokenMergesQuickly) {
  TokJson j;
  j.vocab = R"({"a": 0, "aa": 1, "aaaa": 2})";
  j.merges = R"(["a a", "aa aa"])";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  const std::string text(20001, 'a');
  const V ids = Ids(*t, text);
  ASSERT_EQ(ids.size(), 5001u);  // 5000 x "aaaa" and one "a"
  EXPECT_EQ(ids.front(), 2);
  EXPECT_EQ(ids.back(), 0);
  EXPECT_EQ(t->Decode(ids), text);
}

TEST(TokenizerTest, UnknownCharacterNeedsUnkToken) {
  TokJson j;
  j.vocab = R"({"a": 0, "<unk>": 1})";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  auto ids = t->Encode("azz");
  ASSERT_FALSE(ids.ok());
  EXPECT_TRUE(ids.status().IsInvalidArgument());
  EXPECT_EQ(ids.status().message(), "Encode: no token for U+007A and the model has no unk_token");

  j.model_options = R"("unk_token": "<unk>",)";
  t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "azz"), (V{0, 1, 1}));
  j.model_options = R"("unk_token": "<unk>", "fuse_unk": true,)";
  t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "azza"), (V{0, 1, 0}));
}

// --- added tokens ------------------------------------------------------------

// Vocab: a=0 b=1 c=2 <=3 >=4 a>=5, merge (a,>). Added, with the ids that
// follow the vocab: "<a>"=6, "<a><b>"=7, "<b>"=8 (special), "cab"=9 (not).
std::string AddedTokensJson() {
  TokJson j;
  j.vocab = R"({"a": 0, "b": 1, "c": 2, "<": 3, ">": 4, "a>": 5})";
  j.merges = R"(["a >"])";
  j.added_tokens = R"([
    {"id": 6, "content": "<a>", "single_word": false, "lstrip": false, "rstrip": false,
     "normalized": false, "special": true},
    {"id": 7, "content": "<a><b>", "special": true},
    {"id": 8, "content": "<b>", "special": true},
    {"id": 9, "content": "cab", "special": false}])";
  return j.Build();
}

TEST(TokenizerTest, AddedTokensAreCutOutBeforeBpe) {
  auto t = MustLoad(AddedTokensJson());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "a<a>b"), (V{0, 6, 1}));  // in the middle of text
  EXPECT_EQ(Ids(*t, "<a><a>"), (V{6, 6}));    // adjacent
  EXPECT_EQ(Ids(*t, "a>"), (V{5}));           // the merge works on plain text...
  EXPECT_EQ(Ids(*t, "<a>>"), (V{6, 4}));      // ...but never reaches into a token
  EXPECT_EQ(Ids(*t, "acabc"), (V{0, 9, 2}));  // non-special tokens are cut out too
  EXPECT_EQ(Ids(*t, "<a"), (V{3, 0}));        // a prefix of a token is plain text
}

TEST(TokenizerTest, OverlappingAddedTokensMatchLongestFirst) {
  auto t = MustLoad(AddedTokensJson());
  ASSERT_NE(t, nullptr);
  // At 0 both "<a>" and "<a><b>" match: the longer wins, then "<b>".
  EXPECT_EQ(Ids(*t, "<a><b><b>"), (V{7, 8}));
  // Leftmost first: "<b>" at 0 wins over "<a><b>" which would start later.
  EXPECT_EQ(Ids(*t, "<b><a><b>"), (V{8, 7}));
  EXPECT_EQ(t->Decode({7, 8}), "<a><b><b>");
}

TEST(TokenizerTest, AddedTokensInLookupsAndVocabSize) {
  auto t = MustLoad(AddedTokensJson());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->vocab_size(), 10u);
  EXPECT_EQ(t->TokenToId("<a><b>"), 7);
  EXPECT_EQ(t->TokenToId("cab"), 9);
  EXPECT_EQ(t->TokenToId("a>"), 5);
  EXPECT_EQ(t->TokenToId("zz"), std::nullopt);
}

// lstrip / rstrip swallow the whitespace next to a token; single_word skips
// a match inside a word. Vocab: a=0 b=1 c=2 Ġ=3.
TEST(TokenizerTest, AddedTokenStripAndSingleWordFlags) {
  TokJson j;
  j.vocab = R"({"a": 0, "b": 1, "c": 2, "Ġ": 3})";
  j.added_tokens = R"([{"id": 4, "content": "<m>", "lstrip": true, "rstrip": true,
                        "special": true}])";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "a  <m>  b"), (V{0, 4, 1}));
  EXPECT_EQ(t->Decode({0, 4, 1}), "a<m>b");  // the token decodes to its content only

  j.added_tokens = R"([{"id": 4, "content": "<m>", "lstrip": true, "special": true}])";
  t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "a  <m>  b"), (V{0, 4, 3, 3, 1}));

  // "ab cab ab": the "ab" inside "cab" follows a word character.
  j.added_tokens = R"([{"id": 4, "content": "ab", "single_word": true, "special": false}])";
  t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "ab cab ab"), (V{4, 3, 2, 0, 1, 3, 4}));
}

// GPT-2 lists "<|endoftext|>" both in the vocab and as an added token: it is
// one token, with the vocab's id.
TEST(TokenizerTest, AddedTokenThatIsAVocabEntryKeepsItsId) {
  TokJson j;
  j.vocab = R"({"a": 0, "<|endoftext|>": 1, "é": 2})";  // "é" is byte 0xE9's spelling
  j.added_tokens = R"([{"id": 1, "content": "<|endoftext|>", "special": true},
                       {"id": 3, "content": "<x>", "special": true},
                       {"id": 2, "content": "é", "special": false}])";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "a<|endoftext|><x>"), (V{0, 1, 3}));
  EXPECT_EQ(t->Decode({0, 1, 3}), "a<|endoftext|><x>");
  EXPECT_EQ(t->Decode({2}), "\xE9");  // a vocab entry decodes as one, even if added
  EXPECT_EQ(t->vocab_size(), 4u);
}

// Hugging Face ignores written ids and assigns its own; a file where they
// differ is refused rather than encoded two ways.
TEST(TokenizerTest, AddedTokenIdsMustBeTheOnesHuggingFaceAssigns) {
  TokJson j;
  j.vocab = R"({"a": 0, "b": 1})";
  j.added_tokens = R"([{"id": 2, "content": "<s>", "special": true},
                       {"id": 10, "content": "</s>", "special": true}])";
  EXPECT_EQ(LoadError(j.Build(), Status::Code::kInvalidArgument),
            "tokenizer.json: added_tokens[1] '</s>': id 10 differs from the id Hugging Face "
            "assigns, 3 (a token in the vocab keeps its vocab id; the others take the ids after "
            "the vocab, in file order)");
  j.added_tokens = R"([{"id": 5, "content": "a", "special": true}])";
  EXPECT_EQ(LoadError(j.Build(), Status::Code::kInvalidArgument),
            "tokenizer.json: added_tokens[0] 'a': id 5 differs from the id Hugging Face assigns, 0 "
            "(a token in the vocab keeps its vocab id; the others take the ids after the vocab, "
            "in file order)");
}

// A vocab with a hole (ids 0, 1, 3 for three tokens): Hugging Face gives the
// first added token id 3, the vocab's size, so one id would name two tokens
// (fuzz finding 5: the file loaded and id 3 decoded as the added token).
// Refused.
TEST(TokenizerTest, AddedTokenIdThatIsAnotherVocabEntrysIsRefused) {
  TokJson j;
  j.vocab = R"({"a": 0, "b": 1, "ab": 3})";
  j.added_tokens = R"([{"id": 3, "content": "<s>", "special": true}])";
  EXPECT_EQ(LoadError(j.Build(), Status::Code::kInvalidArgument),
            "tokenizer.json: added_tokens[0] '<s>': id 3 is also the vocab's id of 'ab'");
}

// A nested value quoted in an error is described, not printed: printing
// recursed once per level and overflowed the stack (fuzz finding 3).
TEST(TokenizerTest, DeeplyNestedValueIsAShortError) {
  const size_t depth = 1'000'000;
  const std::string json = R"({"model":{"type":"BPE","dropout":)" + std::string(depth, '[') +
                           std::string(depth, ']') +
                           R"(,"vocab":{"a":0},"merges":[]},
      "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false},"decoder":{"type":"ByteLevel"}})";
  const std::string message = LoadError(json, Status::Code::kNotSupported);
  EXPECT_NE(message.find("dropout = an array of 1 element holding arrays or objects"),
            std::string::npos)
      << message.substr(0, 300);
  EXPECT_LT(message.size(), 300u);
}

// An added token that is not in the vocab decodes to its content, whatever
// its characters (Hugging Face would turn this "é" into the byte 0xE9).
TEST(TokenizerTest, AddedTokenOutsideTheVocabDecodesToItsContent) {
  TokJson j;
  j.vocab = R"({"a": 0})";
  j.added_tokens = R"([{"id": 1, "content": "é", "special": false}])";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, "aéa"), (V{0, 1, 0}));
  EXPECT_EQ(t->Decode({0, 1, 0}), "aéa");
}

// --- normalizer --------------------------------------------------------------

// "é" is C3 A9, spelled "Ã©" in the byte-level alphabet; "e" + U+0301 is
// 65 CC 81, spelled "eÌģ". Vocab: Ã=0 ©=1 Ã©=2 e=3 Ì=4 ģ=5, merge (Ã,©).
TokJson AccentJson() {
  TokJson j;
  j.vocab = R"({"Ã": 0, "©": 1, "Ã©": 2, "e": 3, "Ì": 4, "ģ": 5})";
  j.merges = R"(["Ã ©"])";
  return j;
}
const char kPrecomposed[] = "\xC3\xA9";  // U+00E9
const char kDecomposed[] = "e\xCC\x81";  // U+0065 U+0301

TEST(TokenizerTest, NfcMakesDecomposedTextEncodeLikePrecomposed) {
  TokJson j = AccentJson();
  auto plain = MustLoad(j.Build());
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(Ids(*plain, kPrecomposed), (V{2}));
  EXPECT_EQ(Ids(*plain, kDecomposed), (V{3, 4, 5}));

  j.normalizer = R"({"type": "NFC"})";
  auto nfc = MustLoad(j.Build());
  ASSERT_NE(nfc, nullptr);
  EXPECT_EQ(Ids(*nfc, kPrecomposed), (V{2}));
  EXPECT_EQ(Ids(*nfc, kDecomposed), (V{2}));

  j.normalizer = R"({"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "NFC"}]})";
  auto seq = MustLoad(j.Build());
  ASSERT_NE(seq, nullptr);
  EXPECT_EQ(Ids(*seq, kDecomposed), (V{2}));

  j.normalizer = R"({"type": "NFD"})";
  auto nfd = MustLoad(j.Build());
  ASSERT_NE(nfd, nullptr);
  EXPECT_EQ(Ids(*nfd, kPrecomposed), (V{3, 4, 5}));
}

// Invalid bytes next to a decomposed character: the valid run is normalized,
// the invalid byte passes through. 0xFF is spelled "ÿ".
TEST(TokenizerTest, NfcLeavesInvalidBytesAlone) {
  TokJson j = AccentJson();
  j.vocab = R"({"Ã": 0, "©": 1, "Ã©": 2, "e": 3, "Ì": 4, "ģ": 5, "ÿ": 6})";
  j.normalizer = R"({"type": "NFC"})";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, std::string("\xFF") + kDecomposed + "\xFF"), (V{6, 2, 6}));
}

// Special tokens default to normalized: false (matched in the raw text),
// others to normalized: true (matched in the normalized text, in their
// normalized spelling).
TEST(TokenizerTest, AddedTokensHonorNormalizedFlag) {
  TokJson j = AccentJson();
  j.normalizer = R"({"type": "NFC"})";
  j.added_tokens = std::string(R"([{"id": 6, "content": ")") + kPrecomposed +
                   R"(", "special": false}, {"id": 7, "content": ")" + kDecomposed +
                   R"(", "special": true}])";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, kDecomposed), (V{7}));   // raw match before NFC
  EXPECT_EQ(Ids(*t, kPrecomposed), (V{6}));  // normalized match
  // With only the decomposed spelling as a normalized token, it is matched
  // as NFC spells it.
  j.added_tokens =
      std::string(R"([{"id": 6, "content": ")") + kDecomposed + R"(", "special": false}])";
  t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(Ids(*t, kPrecomposed), (V{6}));
}

// --- decode --------------------------------------------------------------------

TEST(TokenizerTest, DecodeSkipsUnknownIdsAndKeepsPartialCharacters) {
  auto t = MustLoad(AccentJson().Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Decode({2, 999, -5, 6, 3}),
            "\xC3\xA9"
            "e");
  EXPECT_EQ(t->Decode({0}), "\xC3");  // half a character, returned as is
  EXPECT_EQ(t->Decode({}), "");
}

TEST(TokenizerTest, TokenOutsideTheByteAlphabetDecodesAsItsSpelling) {
  TokJson j;
  j.vocab = R"({"a": 0, "☃": 1})";  // U+2603 is not a byte-level character
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->Decode({0, 1, 0}),
            "a\xE2\x98\x83"
            "a");
}

// --- identity and files ----------------------------------------------------------

TEST(TokenizerTest, DigestIsXxh3OfTheFileBytes) {
  const std::string json = AddedTokensJson();
  auto t = MustLoad(json);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->digest(), Xxh3Hash128(json));
  auto spaced = MustLoad(json + " ");
  ASSERT_NE(spaced, nullptr);
  EXPECT_NE(spaced->digest(), t->digest());
}

TEST(TokenizerTest, FromFileReadsAndNamesThePath) {
  testing::TempDir dir;
  const std::string path = dir.Sub("tokenizer.json");
  const std::string json = AddedTokensJson();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(json.data(), 1, json.size(), f), json.size());
  ASSERT_EQ(std::fclose(f), 0);
  auto t = Tokenizer::FromFile(path);
  ASSERT_OK(t.status());
  EXPECT_EQ((*t)->digest(), Xxh3Hash128(json));
  EXPECT_EQ(Ids(**t, "a<a>b"), (V{0, 6, 1}));

  auto missing = Tokenizer::FromFile(dir.Sub("nope.json"));
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsIOError());
  EXPECT_EQ(missing.status().message(),
            dir.Sub("nope.json") + ": cannot open: No such file or directory");

  f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_GE(std::fputs("{\"model\": 1", f), 0);
  ASSERT_EQ(std::fclose(f), 0);
  auto bad = Tokenizer::FromFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind(path + ": malformed JSON: ", 0), 0u)
      << bad.status().message();
}

TEST(TokenizerTest, ConcurrentEncodeAndDecodeAgree) {
  TokJson j;
  j.vocab = R"({"h": 0, "e": 1, "l": 2, "o": 3, "he": 4, "ll": 5, "hell": 6, "hello": 7,
                "Ġ": 8})";
  j.merges = R"(["h e", "l l", "he ll", "hell o"])";
  j.pre_tokenizer = R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})";
  auto t = MustLoad(j.Build());
  ASSERT_NE(t, nullptr);
  std::string text;
  for (int i = 0; i < 200; ++i) text += i % 3 ? "hello " : "hell ";
  const V expected = Ids(*t, text);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 20; ++i) {
        auto ids = t->Encode(text);
        if (!ids.ok() || *ids != expected || t->Decode(*ids) != text) ++mismatches[k];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, (std::vector<int>{0, 0, 0, 0}));
}

// --- errors ---------------------------------------------------------------------

TEST(TokenizerTest, MalformedFilesAreInvalidArgument) {
  using Code = Status::Code;
  EXPECT_EQ(LoadError("{", Code::kInvalidArgument).rfind("tokenizer.json: malformed JSON: ", 0),
            0u);
  EXPECT_EQ(LoadError("[1]", Code::kInvalidArgument),
            "tokenizer.json: expected a JSON object, got array");
  EXPECT_EQ(LoadError(R"({"decoder": null})", Code::kInvalidArgument),
            "tokenizer.json: missing 'model'");

  TokJson j;
  j.vocab = R"({"a": 0, "b": 1, "ab": 2})";
  j.merges = R"(["a b", "a z"])";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: model.merges[1] ('a', 'z'): 'z' is not in the vocab");
  j.merges = R"([["b", "a"]])";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: model.merges[0] ('b', 'a'): merged token 'ba' is not in the vocab");
  j.merges = R"(["a b c"])";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: model.merges[0] 'a b c': expected two tokens separated by one space");
  j.merges = R"([["a"]])";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: model.merges[0]: expected \"left right\" or [\"left\", \"right\"], "
            "got [\"a\"]");
  j.merges = "{}";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: model.merges: expected an array, got object");

  j.merges = "[]";
  j.vocab = R"({"a": "0"})";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: model.vocab['a']: expected an integer id, got string");
  j.vocab = R"({"a": -1})";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: model.vocab['a']: id -1 is not in [0, 16777215]");
  j.vocab = R"({"a": 0, "b": 0})";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: model.vocab: id 0 is given to both 'a' and 'b'");

  j.vocab = R"({"a": 0})";
  j.added_tokens = R"([{"id": 5, "special": true}])";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: added_tokens[0]: missing 'content'");
  j.added_tokens = R"([{"id": 5, "content": ""}])";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: added_tokens[0].content: empty");
}

// Llama-2 and Mistral ship SentencePiece-style BPE; other models are Unigram
// or WordPiece. Each fails with a message naming what is not supported.
TEST(TokenizerTest, NonByteLevelFilesAreNotSupported) {
  using Code = Status::Code;
  TokJson j;
  j.vocab = R"({"a": 0})";
  j.pre_tokenizer = R"({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                        "split": false})";
  EXPECT_EQ(
      LoadError(j.Build(), Code::kNotSupported),
      "tokenizer.json: pre_tokenizer type 'Metaspace' is not supported (byte-level BPE only)");
  j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [
                        {"type": "ByteLevel", "add_prefix_space": false}, {"type": "Metaspace"}]})";
  EXPECT_EQ(LoadError(j.Build(), Code::kNotSupported),
            "tokenizer.json: pre_tokenizer type 'Metaspace' is not supported (byte-level BPE "
            "only) (at pre_tokenizer.pretokenizers[1])");

  j = TokJson();
  j.vocab = R"({"a": 0})";
  j.model_options = R"("byte_fallback": true,)";
  EXPECT_EQ(LoadError(j.Build(), Code::kNotSupported),
            "tokenizer.json: model.byte_fallback = true is not supported (SentencePiece-style "
            "byte fallback; byte-level BPE only)");

  j.model_options = R"("dropout": 0.1,)";
  EXPECT_EQ(LoadError(j.Build(), Code::kNotSupported),
            "tokenizer.json: model.dropout = 0.1 is not supported (BPE dropout makes encoding "
            "random)");

  j.model_options = "";
  j.normalizer = R"({"type": "Replace", "pattern": {"String": " "}, "content": "▁"})";
  EXPECT_EQ(LoadError(j.Build(), Code::kNotSupported),
            "tokenizer.json: normalizer type 'Replace' is not supported (byte-level BPE only)");

  j.normalizer = "null";
  j.decoder = R"({"type": "Metaspace", "replacement": "▁"})";
  EXPECT_EQ(LoadError(j.Build(), Code::kNotSupported),
            "tokenizer.json: decoder type 'Metaspace' is not supported (byte-level BPE only)");
  j.decoder = "null";
  EXPECT_EQ(LoadError(j.Build(), Code::kNotSupported),
            "tokenizer.json: decoder has no 'ByteLevel' step (byte-level BPE only)");

  j = TokJson();
  j.vocab = R"({"a": 0})";
  j.pre_tokenizer = "null";
  EXPECT_EQ(LoadError(j.Build(), Code::kNotSupported),
            "tokenizer.json: pre_tokenizer has no 'ByteLevel' step (byte-level BPE only); it is "
            "null");

  EXPECT_EQ(LoadError(R"({"normalizer": {"type": "Precompiled"}, "model": {"type": "Unigram",
                          "unk_id": 0, "vocab": [["<unk>", 0.0]]}})",
                      Code::kNotSupported),
            "tokenizer.json: model type 'Unigram' is not supported (byte-level BPE only)");
  EXPECT_EQ(
      LoadError(R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}})", Code::kNotSupported),
      "tokenizer.json: model type 'WordPiece' is not supported (byte-level BPE only)");
}

// The shape of Llama-2's tokenizer.json: every section is SentencePiece-style.
TEST(TokenizerTest, Llama2StyleFileNamesItsFirstUnsupportedPart) {
  const std::string json = R"({
    "added_tokens": [{"id": 0, "content": "<unk>", "special": true}],
    "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "▁"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": null,
    "decoder": {"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1,
       "stop": 0}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
              "vocab": {"<unk>": 0, "▁": 1}, "merges": []}})";
  EXPECT_EQ(LoadError(json, Status::Code::kNotSupported),
            "tokenizer.json: normalizer type 'Prepend' is not supported (byte-level BPE only) (at "
            "normalizer.normalizers[0])");
}

TEST(TokenizerTest, BadPreTokenizerConfigIsInvalidArgument) {
  using Code = Status::Code;
  TokJson j;
  j.vocab = R"({"a": 0})";
  j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"},
      {"type": "ByteLevel"}]})";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: pre_tokenizer.pretokenizers[0].pattern.Regex: regex does not compile "
            "at offset 2: missing closing parenthesis");
  j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"String": "a"}, "behavior": "Merged"},
      {"type": "ByteLevel"}]})";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: pre_tokenizer.pretokenizers[0].behavior: behavior 'Merged' is not "
            "one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
  j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": "a", "behavior": "Isolated"}, {"type": "ByteLevel"}]})";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: pre_tokenizer.pretokenizers[0]: missing 'pattern' object");
  // Hugging Face requires add_prefix_space: guessing it would change encodings.
  j.pre_tokenizer = R"({"type": "ByteLevel", "use_regex": true})";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: pre_tokenizer: missing 'add_prefix_space'");
  j.pre_tokenizer = R"({"type": "ByteLevel", "add_prefix_space": "yes"})";
  EXPECT_EQ(LoadError(j.Build(), Code::kInvalidArgument),
            "tokenizer.json: pre_tokenizer.add_prefix_space: expected a bool, got string");
}

}  // namespace
}  // namespace kvstash
