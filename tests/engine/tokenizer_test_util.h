// Builders for hand-made tokenizer.json files, shared by the tokenizer tests.
#ifndef KVSTASH_TESTS_ENGINE_TOKENIZER_TEST_UTIL_H_
#define KVSTASH_TESTS_ENGINE_TOKENIZER_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tokenizer.h"

namespace kvstash::testing {

// GPT-2's bytes_to_unicode, written out independently of the library: bytes
// '!'..'~', 0xA1..0xAC, 0xAE..0xFF stand for themselves, the other 68 bytes in
// increasing order for U+0100, U+0101, ...
inline std::string Spell(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    unsigned cp = b;
    if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
      unsigned n = 0;
      for (unsigned x = 0; x < b; ++x) {
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) ++n;
      }
      cp = 256 + n;
    }
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

// The sections of a tokenizer.json, as JSON text. Build() assembles the file.
struct TokJson {
  std::string vocab = "{}";   // model.vocab
  std::string merges = "[]";  // model.merges
  std::string pre_tokenizer = R"({"type": "ByteLevel", "add_prefix_space": false,
                                  "trim_offsets": false, "use_regex": false})";
  std::string normalizer = "null";
  std::string added_tokens = "[]";
  std::string decoder = R"({"type": "ByteLevel", "add_prefix_space": false,
                            "trim_offsets": false, "use_regex": false})";
  // Model members besides type, vocab and merges: "key": value pairs, each
  // followed by a comma.
  std::string model_options = R"("dropout": null, "unk_token": null,)";

  std::string Build() const {
    return R"({"version": "1.0", "truncation": null, "padding": null, "added_tokens": )" +
           added_tokens + R"(, "normalizer": )" + normalizer + R"(, "pre_tokenizer": )" +
           pre_tokenizer + R"(, "post_processor": null, "decoder": )" + decoder +
           R"(, "model": {"type": "BPE", )" + model_options + R"( "vocab": )" + vocab +
           R"(, "merges": )" + merges + "}}";
  }
};

// A vocab of the 256 byte tokens (id b spells byte b) followed by `pieces`
// (raw bytes, spelled here) at ids 256, 257, ... With "ignore_merges": true
// and no merges, a pre-token that is one of `pieces` encodes to its id and
// any other pre-token to its bytes, so encodings show the pre-tokenization.
inline std::string PieceVocab(const std::vector<std::string>& pieces) {
  std::string out = "{";
  auto add = [&out](const std::string& token, int id) {
    if (out.size() > 1) out += ", ";
    out += "\"";
    for (char c : token) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\": " + std::to_string(id);
  };
  for (int b = 0; b < 256; ++b) add(Spell(std::string(1, static_cast<char>(b))), b);
  for (size_t i = 0; i < pieces.size(); ++i) add(Spell(pieces[i]), 256 + static_cast<int>(i));
  return out + "}";
}

inline std::unique_ptr<Tokenizer> MustLoad(const std::string& json) {
  auto t = Tokenizer::FromJson(json);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

// Encode, or an empty vector and a test failure.
inline std::vector<int32_t> Ids(const Tokenizer& t, std::string_view text) {
  auto ids = t.Encode(text);
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? std::move(ids).value() : std::vector<int32_t>{};
}

using V = std::vector<int32_t>;

}  // namespace kvstash::testing

#endif  // KVSTASH_TESTS_ENGINE_TOKENIZER_TEST_UTIL_H_
