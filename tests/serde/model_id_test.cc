#include "serde/model_id.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "serde/hash128.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

// A realistic description (Qwen2-0.5B-like) with every field set.
ModelDescription Qwen() {
  ModelDescription d;
  d.architecture = "Qwen2ForCausalLM";
  d.num_layers = 24;
  d.hidden_size = 896;
  d.num_heads = 14;
  d.num_kv_heads = 2;
  d.head_dim = 64;
  d.vocab_size = 151936;
  d.rope_theta = 1000000.0;
  d.rope_scaling = "";
  d.kv_dtype = DType::kBF16;
  d.block_tokens = 64;
  d.tokenizer_digest = "9c5ae00e602b8860cbd784ba82a8aa14";
  d.weights_digest = "0123456789abcdef0123456789abcdef";
  d.tag = "prod-eu";
  d.extra = {{"attn_impl", "sdpa"}, {"sliding_window", "32768"}};
  return d;
}

ModelId MustFingerprint(const ModelDescription& d) {
  Result<ModelId> id = d.Fingerprint();
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ok() ? *id : ModelId{};
}

void ExpectSameFields(const ModelDescription& a, const ModelDescription& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  // Bit-exact: %.17g must round-trip every double.
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling, b.rope_scaling);
  EXPECT_EQ(a.kv_dtype, b.kv_dtype);
  EXPECT_EQ(a.kv_layout, b.kv_layout);
  EXPECT_EQ(a.block_tokens, b.block_tokens);
  EXPECT_EQ(a.tokenizer_digest, b.tokenizer_digest);
  EXPECT_EQ(a.weights_digest, b.weights_digest);
  EXPECT_EQ(a.tag, b.tag);
  EXPECT_EQ(a.extra, b.extra);
}

void ExpectRoundTrip(const ModelDescription& d) {
  Result<std::string> text = d.ToCanonicalText();
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  Result<ModelDescription> back = ModelDescription::FromCanonicalText(*text);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << *text;
  ExpectSameFields(d, *back);
  Result<std::string> text2 = back->ToCanonicalText();
  ASSERT_TRUE(text2.ok());
  EXPECT_EQ(*text, *text2);
  EXPECT_EQ(MustFingerprint(d), MustFingerprint(*back));
}

TEST(ModelDescriptionTest, CanonicalTextRoundTrip) { ExpectRoundTrip(Qwen()); }

TEST(ModelDescriptionTest, RoundTripAwkwardValues) {
  for (double theta :
       {1000000.0, 500000.123456789, 10000.0, 0.1, 1e-300, 0.0, 123456789.987654321}) {
    SCOPED_TRACE(theta);
    ModelDescription d = Qwen();
    d.rope_theta = theta;
    ExpectRoundTrip(d);
  }
  ModelDescription d = Qwen();
  d.rope_scaling = R"({"type":"yarn","factor":4.0,"original_max_position_embeddings":32768})";
  d.tag = "a=b=c";  // '=' is fine in a value
  d.tokenizer_digest = "";
  d.num_layers = 0xffffffffu;
  d.extra = {{"k", ""}, {"x.y-z", "v = w"}};
  ExpectRoundTrip(d);
  ModelDescription empty;  // all defaults
  ExpectRoundTrip(empty);
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    ModelDescription e = Qwen();
    e.kv_dtype = t;
    ExpectRoundTrip(e);
  }
}

TEST(ModelDescriptionTest, CanonicalTextIsSortedKeyValueLinesUnderHeader) {
  ModelDescription d = Qwen();
  d.rope_theta = 500000.123456789;
  Result<std::string> text = d.ToCanonicalText();
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->rfind("kvstash-model-description v1\n", 0), 0u) << *text;
  EXPECT_NE(text->find("\nrope_theta=500000.12345678901\n"), std::string::npos) << *text;
  EXPECT_NE(text->find("\nkv_dtype=bf16\n"), std::string::npos);
  EXPECT_NE(text->find("\nattn_impl=sdpa\n"), std::string::npos);
  ASSERT_EQ(text->back(), '\n');
  // Lines after the header are "key=value", sorted by key.
  std::vector<std::string> keys;
  size_t pos = text->find('\n') + 1;
  while (pos < text->size()) {
    size_t eol = text->find('\n', pos);
    std::string line = text->substr(pos, eol - pos);
    size_t eq = line.find('=');
    ASSERT_NE(eq, std::string::npos) << line;
    keys.push_back(line.substr(0, eq));
    pos = eol + 1;
  }
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(keys.size(), 15u + d.extra.size());
}

TEST(ModelDescriptionTest, FingerprintIsDeterministicAndIsXxh3OfText) {
  ModelDescription d = Qwen();
  EXPECT_EQ(MustFingerprint(d), MustFingerprint(Qwen()));
  Result<std::string> text = d.ToCanonicalText();
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(MustFingerprint(d), Xxh3Hash128(*text));
  // Insertion order of extra keys is irrelevant.
  ModelDescription e = Qwen();
  e.extra.clear();
  e.extra["sliding_window"] = "32768";
  e.extra["attn_impl"] = "sdpa";
  EXPECT_EQ(MustFingerprint(d), MustFingerprint(e));
}

// Pinned value. The ModelId keys every stored block: if this test fails, the
// canonical text form (or the hash) changed, which silently invalidates EVERY
// existing store (all lookups miss). Only update it together with a format
// version bump and a migration note in docs/format.md.
// The hex values were computed independently with libxxhash's XXH3_128bits over
// the literal texts below.
TEST(ModelDescriptionTest, PinnedCanonicalTextAndFingerprint) {
  ModelDescription d = Qwen();
  EXPECT_EQ(*d.ToCanonicalText(),
            "kvstash-model-description v1\n"
            "architecture=Qwen2ForCausalLM\n"
            "attn_impl=sdpa\n"
            "block_tokens=64\n"
            "head_dim=64\n"
            "hidden_size=896\n"
            "kv_dtype=bf16\n"
            "kv_layout=layers,kv,kv_heads,tokens,head_dim\n"
            "num_heads=14\n"
            "num_kv_heads=2\n"
            "num_layers=24\n"
            "rope_scaling=\n"
            "rope_theta=1000000\n"
            "sliding_window=32768\n"
            "tag=prod-eu\n"
            "tokenizer_digest=9c5ae00e602b8860cbd784ba82a8aa14\n"
            "vocab_size=151936\n"
            "weights_digest=0123456789abcdef0123456789abcdef\n");
  EXPECT_EQ(MustFingerprint(d).ToHex(), "30292c121c3a3c655ed8d66e857c114f");

  ModelDescription empty;  // all defaults
  EXPECT_EQ(*empty.ToCanonicalText(),
            "kvstash-model-description v1\n"
            "architecture=\n"
            "block_tokens=64\n"
            "head_dim=0\n"
            "hidden_size=0\n"
            "kv_dtype=f32\n"
            "kv_layout=layers,kv,kv_heads,tokens,head_dim\n"
            "num_heads=0\n"
            "num_kv_heads=0\n"
            "num_layers=0\n"
            "rope_scaling=\n"
            "rope_theta=0\n"
            "tag=\n"
            "tokenizer_digest=\n"
            "vocab_size=0\n"
            "weights_digest=\n");
  EXPECT_EQ(MustFingerprint(empty).ToHex(), "0743af140abd53c8091e955ec1c3f733");
}

TEST(ModelDescriptionTest, EveryFieldChangesFingerprint) {
  using Mutation = std::pair<const char*, std::function<void(ModelDescription*)>>;
  std::vector<Mutation> mutations = {
      {"architecture", [](ModelDescription* d) { d->architecture = "LlamaForCausalLM"; }},
      {"num_layers", [](ModelDescription* d) { d->num_layers = 25; }},
      {"hidden_size", [](ModelDescription* d) { d->hidden_size = 897; }},
      {"num_heads", [](ModelDescription* d) { d->num_heads = 16; }},
      {"num_kv_heads", [](ModelDescription* d) { d->num_kv_heads = 4; }},
      {"head_dim", [](ModelDescription* d) { d->head_dim = 128; }},
      {"vocab_size", [](ModelDescription* d) { d->vocab_size = 151937; }},
      {"kv_dtype f16", [](ModelDescription* d) { d->kv_dtype = DType::kF16; }},
      {"kv_dtype f32", [](ModelDescription* d) { d->kv_dtype = DType::kF32; }},
      {"block_tokens", [](ModelDescription* d) { d->block_tokens = 32; }},
      {"rope_theta", [](ModelDescription* d) { d->rope_theta = 1000000.0000000001; }},
      {"rope_theta 1 ulp", [](ModelDescription* d) { d->rope_theta = 1000000.0000000002; }},
      {"rope_scaling", [](ModelDescription* d) { d->rope_scaling = R"({"factor":2.0})"; }},
      {"kv_layout",
       [](ModelDescription* d) { d->kv_layout = "layers,kv,tokens,kv_heads,head_dim"; }},
      {"tokenizer_digest", [](ModelDescription* d) { d->tokenizer_digest += "0"; }},
      {"weights_digest", [](ModelDescription* d) { d->weights_digest[0] = '1'; }},
      {"tag", [](ModelDescription* d) { d->tag = "prod-us"; }},
      {"tag cleared", [](ModelDescription* d) { d->tag.clear(); }},
      {"extra value", [](ModelDescription* d) { d->extra["attn_impl"] = "eager"; }},
      {"extra added", [](ModelDescription* d) { d->extra["quant"] = "none"; }},
      {"extra removed", [](ModelDescription* d) { d->extra.erase("attn_impl"); }},
      {"extra empty value added", [](ModelDescription* d) { d->extra["z"] = ""; }},
  };
  const ModelId base = MustFingerprint(Qwen());
  std::set<std::string> seen = {base.ToHex()};
  for (const auto& [name, mutate] : mutations) {
    SCOPED_TRACE(name);
    ModelDescription d = Qwen();
    mutate(&d);
    ModelId id = MustFingerprint(d);
    EXPECT_NE(id, base);
    EXPECT_TRUE(seen.insert(id.ToHex()).second) << "two different mutations collide";
  }
}

TEST(ModelDescriptionTest, NoAmbiguityBetweenFieldBoundaries) {
  // Moving characters between a key and its value, or between fields, must not collide.
  ModelDescription a = Qwen();
  a.extra = {{"ab", "c"}};
  ModelDescription b = Qwen();
  b.extra = {{"a", "bc"}};
  EXPECT_NE(MustFingerprint(a), MustFingerprint(b));
  ModelDescription c = Qwen();
  c.tag = "x";
  c.tokenizer_digest = "";
  ModelDescription e = Qwen();
  e.tag = "";
  e.tokenizer_digest = "x";
  EXPECT_NE(MustFingerprint(c), MustFingerprint(e));
}

TEST(ModelDescriptionTest, NewlineInValueIsInvalidArgument) {
  std::vector<std::function<void(ModelDescription*)>> bad = {
      [](ModelDescription* d) { d->architecture = "Qwen\n"; },
      [](ModelDescription* d) { d->rope_scaling = "{\n}"; },
      [](ModelDescription* d) { d->kv_layout = "a\nb"; },
      [](ModelDescription* d) { d->tokenizer_digest = "\n"; },
      [](ModelDescription* d) { d->weights_digest = "ab\ncd"; },
      [](ModelDescription* d) { d->tag = "x\nnum_layers=1"; },
      [](ModelDescription* d) { d->extra["k"] = "v\n"; },
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    SCOPED_TRACE(i);
    ModelDescription d = Qwen();
    bad[i](&d);
    Result<std::string> text = d.ToCanonicalText();
    EXPECT_TRUE(text.status().IsInvalidArgument()) << text.status().ToString();
    EXPECT_NE(text.status().message().find("newline"), std::string::npos);
    EXPECT_TRUE(d.Fingerprint().status().IsInvalidArgument());
  }
}

TEST(ModelDescriptionTest, BadExtraKeysAreInvalidArgument) {
  for (const char* key : {"num_layers", "tag", "rope_theta", "kv_dtype", "architecture",
                          "weights_digest", "block_tokens", "kv_layout"}) {
    SCOPED_TRACE(key);
    ModelDescription d = Qwen();
    d.extra[key] = "1";
    Result<std::string> text = d.ToCanonicalText();
    EXPECT_TRUE(text.status().IsInvalidArgument()) << text.status().ToString();
    EXPECT_NE(text.status().message().find("clashes"), std::string::npos);
    EXPECT_TRUE(d.Fingerprint().status().IsInvalidArgument());
  }
  for (const char* key : {"", "a=b", "a\nb", "=", "\n"}) {
    SCOPED_TRACE(key);
    ModelDescription d = Qwen();
    d.extra[key] = "1";
    EXPECT_TRUE(d.ToCanonicalText().status().IsInvalidArgument());
  }
}

std::string QwenText() {
  Result<std::string> text = Qwen().ToCanonicalText();
  EXPECT_TRUE(text.ok());
  return text.ok() ? *text : "";
}

void ExpectCorruption(std::string_view text, const char* needle) {
  Result<ModelDescription> d = ModelDescription::FromCanonicalText(text);
  EXPECT_TRUE(d.status().IsCorruption()) << d.status().ToString() << "\nfor:\n" << text;
  EXPECT_NE(d.status().message().find(needle), std::string::npos) << d.status().ToString();
}

std::string ReplaceLine(std::string text, const std::string& key, const std::string& line) {
  size_t start = text.find("\n" + key + "=");
  EXPECT_NE(start, std::string::npos) << key;
  size_t end = text.find('\n', start + 1);
  return text.replace(start + 1, end - start - 1, line);
}

std::string RemoveLine(std::string text, const std::string& key) {
  size_t start = text.find("\n" + key + "=");
  EXPECT_NE(start, std::string::npos) << key;
  size_t end = text.find('\n', start + 1);
  return text.erase(start + 1, end - start);
}

TEST(ModelDescriptionTest, MissingOrWrongHeaderIsCorruption) {
  std::string text = QwenText();
  std::string body = text.substr(text.find('\n') + 1);
  ExpectCorruption(body, "header");
  ExpectCorruption("", "header");
  ExpectCorruption("kvstash-model-description v1", "header");  // no newline
  ExpectCorruption("kvstash-model-description v2\n" + body, "header");
  ExpectCorruption("kvstash-model-description v1 \n" + body, "header");
  ExpectCorruption("\n" + text, "header");
}

TEST(ModelDescriptionTest, MissingFieldIsCorruption) {
  const std::string text = QwenText();
  for (const char* key :
       {"architecture", "num_layers", "hidden_size", "num_heads", "num_kv_heads", "head_dim",
        "vocab_size", "rope_theta", "rope_scaling", "kv_dtype", "kv_layout", "block_tokens",
        "tokenizer_digest", "weights_digest", "tag"}) {
    SCOPED_TRACE(key);
    ExpectCorruption(RemoveLine(text, key), key);
  }
}

TEST(ModelDescriptionTest, BadNumbersAreCorruption) {
  const std::string text = QwenText();
  for (const char* value : {"", "x", "24x", "-1", "24 ", "4294967296", "1e3", "0x18", "2.5"}) {
    SCOPED_TRACE(value);
    ExpectCorruption(ReplaceLine(text, "num_layers", std::string("num_layers=") + value),
                     "num_layers");
  }
  ExpectCorruption(ReplaceLine(text, "block_tokens", "block_tokens=sixty-four"), "block_tokens");
  ExpectCorruption(ReplaceLine(text, "head_dim", "head_dim=99999999999999999999"), "head_dim");
  for (const char* value : {"", "abc", "1e6x", "1.0.0"}) {
    SCOPED_TRACE(value);
    ExpectCorruption(ReplaceLine(text, "rope_theta", std::string("rope_theta=") + value),
                     "rope_theta");
  }
  ExpectCorruption(ReplaceLine(text, "kv_dtype", "kv_dtype=int8"), "int8");
}

TEST(ModelDescriptionTest, MalformedLinesAreCorruption) {
  const std::string text = QwenText();
  ExpectCorruption(text.substr(0, text.size() - 1), "newline");  // last line unterminated
  ExpectCorruption(text + "no_equals_sign\n", "malformed");
  ExpectCorruption(text + "=value\n", "malformed");
  ExpectCorruption(text + "\n", "malformed");  // empty line
}

TEST(ModelDescriptionTest, UnknownKeysComeBackAsExtra) {
  // Text written by a newer engine with an extra setting parses, keeping it.
  Result<ModelDescription> d = ModelDescription::FromCanonicalText(QwenText() + "zz_new=1\n");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->extra.at("zz_new"), "1");
  EXPECT_EQ(d->extra.at("attn_impl"), "sdpa");
}

TEST(ModelDescriptionTest, Summary) {
  ModelDescription d = Qwen();
  EXPECT_EQ(d.Summary(), "Qwen2ForCausalLM 24L kv 2x64 bf16 block 64 tag prod-eu");
  d.tag.clear();
  d.architecture.clear();
  EXPECT_EQ(d.Summary(), "model 24L kv 2x64 bf16 block 64");
}

TEST(Hash128Test, HexRoundTripAndByteOrder) {
  Hash128 h{0x0123456789abcdefull, 0xfedcba9876543210ull};
  // Bytes of the encoding: lo little-endian, then hi little-endian.
  EXPECT_EQ(h.ToHex(), "efcdab89674523011032547698badcfe");
  Result<Hash128> back = Hash128::FromHex(h.ToHex());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, h);
  Result<Hash128> upper = Hash128::FromHex("EFCDAB89674523011032547698BADCFE");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(*upper, h);
  EXPECT_EQ(Hash128{}.ToHex(), std::string(32, '0'));
  EXPECT_TRUE(Hash128{}.IsZero());
  EXPECT_FALSE(h.IsZero());
  Hash128 fp = MustFingerprint(Qwen());
  EXPECT_EQ(*Hash128::FromHex(fp.ToHex()), fp);

  std::string enc;
  h.AppendTo(&enc);
  ASSERT_EQ(enc.size(), Hash128::kEncodedSize);
  EXPECT_EQ(static_cast<unsigned char>(enc[0]), 0xef);
  EXPECT_EQ(static_cast<unsigned char>(enc[15]), 0xfe);
  EXPECT_EQ(Hash128::DecodeFrom(enc.data()), h);
}

TEST(Hash128Test, OrderingFollowsEncodedBytes) {
  // lo's low byte is the first encoded byte, so it dominates the order.
  Hash128 a{0x01, 0xff}, b{0x02, 0x00}, c{0x0100, 0x00};
  EXPECT_TRUE(a < b);
  EXPECT_FALSE(b < a);
  EXPECT_TRUE(c < a);  // encodes as 00 01 ..., below 01 ...
  EXPECT_FALSE(a < a);
  EXPECT_EQ(a < b, a.ToHex() < b.ToHex());
}

TEST(Hash128Test, FromHexErrors) {
  std::string good(32, 'a');
  for (const std::string& bad : {std::string(), std::string(31, 'a'), std::string(33, 'a'),
                                 std::string(64, 'a'), std::string("0x") + std::string(30, 'a')}) {
    SCOPED_TRACE(bad);
    Result<Hash128> r = Hash128::FromHex(bad);
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  }
  EXPECT_NE(Hash128::FromHex(std::string(31, 'a')).status().message().find("32 hex digits"),
            std::string::npos);
  // A non-hex character at every position (both nibbles of every byte).
  for (size_t i = 0; i < good.size(); ++i) {
    for (char c : {'g', 'G', ' ', '-', '\0', 'z', '/', ':', '@', '`'}) {
      std::string bad = good;
      bad[i] = c;
      Result<Hash128> r = Hash128::FromHex(bad);
      EXPECT_TRUE(r.status().IsInvalidArgument()) << "position " << i << " char " << int(c);
    }
  }
}

}  // namespace
}  // namespace kvstash
