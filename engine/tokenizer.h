// Tokenizer: a Hugging Face `tokenizer.json` for byte-level BPE models (the
// GPT-2 / Llama-3 / Qwen2 family), loaded and run without Python or libtorch.
//
// Supported, read from the file as it declares them:
//   model        "BPE" with vocab, merges ("a b" strings or ["a", "b"] pairs),
//                optional unk_token / fuse_unk / ignore_merges.
//   normalizer   null, "NFC", "NFD", "NFKC", "NFKD", or a "Sequence" of those.
//   pre_tokenizer "Sequence" (applied in its order), "Split" (Regex or String
//                pattern; Isolated / Removed / MergedWithPrevious /
//                MergedWithNext / Contiguous; invert), "Digits", "ByteLevel".
//                A ByteLevel step is required somewhere: it is what makes the
//                model byte-level.
//   decoder      "ByteLevel" (alone or as the only kind in a "Sequence").
//   added_tokens special and non-special, with single_word / lstrip / rstrip /
//                normalized honored as Hugging Face does. Their ids must be
//                the ones Hugging Face assigns on load (it ignores the written
//                ids): a token already in the vocab has its vocab id, the
//                others the ids after the vocab, in file order. Every file
//                Hugging Face writes satisfies this; others are rejected.
// Anything else (SentencePiece-style files with "Metaspace", "Replace" or
// "byte_fallback": true as Llama-2 and Mistral ship; "Unigram" or "WordPiece"
// models) fails to load with NotSupported naming what is not supported, e.g.
// "tokenizer.json: pre_tokenizer type 'Metaspace' is not supported (byte-level
// BPE only)". post_processor, truncation and padding are ignored: Encode never
// adds BOS/EOS and never truncates.
//
// Unlike Hugging Face, the input is bytes, not a Unicode string: invalid UTF-8
// is encoded through the byte-level alphabet like any other bytes (it matches
// no regex class and is never normalized), so Decode(Encode(x)) == x for any x
// whose valid parts are stable under the declared normalizer.
//
// Thread-safety: a Tokenizer is immutable after construction; Encode, Decode
// and the accessors may be called concurrently from any number of threads.
#ifndef KVSTASH_ENGINE_TOKENIZER_H_
#define KVSTASH_ENGINE_TOKENIZER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "serde/hash128.h"
#include "serde/status.h"

namespace kvstash {

namespace tokenizer_internal {
class BpeModel;
class TextPipeline;
}  // namespace tokenizer_internal

class Tokenizer {
 public:
  // Reads and parses the file at `path`. IOError if it cannot be read; else as
  // FromJson, with messages prefixed by `path` instead of "tokenizer.json".
  static Result<std::unique_ptr<Tokenizer>> FromFile(const std::string& path);

  // Parses the text of a tokenizer.json. Errors:
  //   InvalidArgument  malformed JSON, a missing or mistyped field, a merge
  //                    naming a token that is not in the vocab, a bad regex,
  //                    a token id outside [0, 2^24), an id given to two
  //                    vocab entries, an added token id Hugging Face would
  //                    not assign;
  //                    the message names the field ("model.merges[12] ...").
  //   NotSupported     a component other than those listed above.
  static Result<std::unique_ptr<Tokenizer>> FromJson(std::string_view json);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // The ids of `text`, with no BOS/EOS added. Added tokens in the text are
  // emitted as their ids and never split by BPE. Fails (InvalidArgument) only
  // if a character has no token and the model has no unk_token (Hugging Face
  // would silently drop it), or (ResourceExhausted) if a pre-tokenizer regex
  // exceeds PCRE2's match limits.
  Result<std::vector<int32_t>> Encode(std::string_view text) const;

  // The bytes of `ids`: vocab tokens through the inverse byte-level mapping,
  // added tokens (special or not) that are not vocab entries as their content
  // (Hugging Face garbles non-ASCII content there). The result need not be
  // valid UTF-8 (one token may hold part of a character); it is returned as is.
  // Ids that name no token decode to "" (they are skipped, not an error).
  std::string Decode(const std::vector<int32_t>& ids) const;

  // The id of `token` spelled as in tokenizer.json: an added token's content,
  // or a vocab entry in the byte-level alphabet ("Ġhello" for " hello").
  // Added tokens are looked up first, as Hugging Face does.
  std::optional<int32_t> TokenToId(std::string_view token) const;

  // Max id + 1 over the vocab and the added tokens (ids may have gaps).
  size_t vocab_size() const { return vocab_size_; }

  // xxh3-128 of the exact tokenizer.json bytes: part of the model's identity
  // (ModelDescription::tokenizer_digest), so any edit to the file changes it.
  const Hash128& digest() const { return digest_; }

 private:
  Tokenizer();
  static Result<std::unique_ptr<Tokenizer>> Parse(std::string_view json, const std::string& source);

  std::unique_ptr<tokenizer_internal::TextPipeline> pipeline_;
  std::unique_ptr<tokenizer_internal::BpeModel> model_;
  // id -> the bytes it decodes to; "" for ids that name no token.
  std::vector<std::string> decoded_;
  // Added tokens by content, consulted before the vocab by TokenToId.
  std::unordered_map<std::string, int32_t> added_ids_;
  size_t vocab_size_ = 0;
  Hash128 digest_;
};

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_TOKENIZER_H_
