// Feeds Tokenizer::FromJson a tokenizer.json (as shipped next to a model, or
// given to `kvstash tokenize --tokenizer`), then encodes and decodes a text
// with it.
//
// Input: tokenizer.json [ NUL text ]. JSON cannot hold a raw NUL byte, so the
// first one ends the file; without one a fixed text (ASCII, digits, accented
// letters, a CJK character, invalid UTF-8) is used.
//
// Properties: nothing crashes, leaks or hits UB; a file that fails to load is
// InvalidArgument or NotSupported; Encode fails only with InvalidArgument or
// ResourceExhausted (as documented); every id Encode returns is below
// vocab_size(); Decode accepts any ids; the digest is the xxh3-128 of the
// file; and where the file declares a lossless pipeline (no normalizer, no
// unk token, no "Removed" split, no prefix space, no stripping added tokens,
// no added token that is a vocab entry outside printable ASCII, no added
// token whose id is another vocab entry's)
// Decode(Encode(text)) == text, as the header promises.
#include <nlohmann/json.hpp>
#include <vector>

#include "engine/tokenizer.h"
#include "fuzz/fuzz_util.h"

namespace kvstash::fuzz {
namespace {

using nlohmann::json;

bool PrintableAscii(const std::string& s) {
  for (unsigned char c : s) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

// Whether the header's round-trip promise applies to this file.
bool Lossless(std::string_view text) try {
  json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!root.is_object()) return false;
  if (root.contains("normalizer") && !root["normalizer"].is_null()) return false;
  const json& model = root["model"];
  if (!model.is_object()) return false;
  if (model.contains("unk_token") && !model["unk_token"].is_null()) return false;
  if (root.contains("pre_tokenizer")) {
    const std::string pre = root["pre_tokenizer"].dump();
    if (pre.find("\"Removed\"") != std::string::npos) return false;
    if (pre.find("\"add_prefix_space\":true") != std::string::npos) return false;
  }
  if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
    const json& vocab = model.contains("vocab") ? model["vocab"] : json::object();
    for (const json& t : root["added_tokens"]) {
      if (!t.is_object()) return false;
      if (t.value("lstrip", false) || t.value("rstrip", false)) return false;
      const std::string content = t.value("content", "");
      if (vocab.is_object() && vocab.contains(content) && !PrintableAscii(content)) return false;
    }
  }
  return true;
} catch (const json::exception&) {
  return false;
}

}  // namespace
}  // namespace kvstash::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvstash;
  using namespace kvstash::fuzz;
  const std::string_view input = AsView(data, size);
  const size_t nul = input.find('\0');
  const std::string_view file = input.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos
                                    ? std::string_view(
                                          "Hello, world! 12345 caf\xc3\xa9 \xe4\xb8\xad "
                                          "\xff\xfe<|endoftext|>  \n\tend")
                                    : input.substr(nul + 1);

  Result<std::unique_ptr<Tokenizer>> loaded = Tokenizer::FromJson(file);
  if (!loaded.ok()) {
    FUZZ_CHECK_ERROR(loaded.status(), Code::kInvalidArgument, Code::kNotSupported);
    return 0;
  }
  const Tokenizer& tokenizer = **loaded;
  FUZZ_CHECK(tokenizer.digest() == Xxh3Hash128(file));

  Result<std::vector<int32_t>> ids = tokenizer.Encode(text);
  if (!ids.ok()) {
    FUZZ_CHECK_ERROR(ids.status(), Code::kInvalidArgument, Code::kResourceExhausted);
  } else {
    for (int32_t id : *ids) {
      FUZZ_CHECK_MSG(id >= 0 && static_cast<size_t>(id) < tokenizer.vocab_size(),
                     "id " + std::to_string(id) + " of " + std::to_string(tokenizer.vocab_size()));
    }
    const std::string decoded = tokenizer.Decode(*ids);
    if (Lossless(file)) {
      FUZZ_CHECK_MSG(decoded == text, "Decode(Encode(text)) is '" + decoded + "'");
    }
  }

  // Any ids decode, even ones that name no token.
  std::vector<int32_t> any;
  for (size_t i = 0; i + 4 <= text.size() && any.size() < 64; i += 4) {
    any.push_back(static_cast<int32_t>(DecodeFixed32(text.data() + i)));
  }
  any.push_back(-1);
  any.push_back(static_cast<int32_t>(tokenizer.vocab_size()));
  (void)tokenizer.Decode(any);
  (void)tokenizer.TokenToId(text);
  return 0;
}
