// The "model" section of a byte-level BPE tokenizer.json: the vocab (token ->
// id), the merges (pair -> rank, lower rank merges first) and the merge loop
// that turns one pre-token into ids.
//
// Accepted: type "BPE" (or no type, as very old files have), merges as "a b"
// strings or ["a", "b"] pairs, unk_token, fuse_unk, ignore_merges, dropout
// null/0, empty continuing_subword_prefix / end_of_word_suffix. NotSupported:
// other model types and byte_fallback (SentencePiece-style BPE).
//
// Thread-safe after construction: Tokenize is const and keeps no cache.
#ifndef KVSTASH_ENGINE_BPE_MODEL_INTERNAL_H_
#define KVSTASH_ENGINE_BPE_MODEL_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/tokenizer_json_internal.h"
#include "serde/status.h"

namespace kvstash::tokenizer_internal {

class BpeModel {
 public:
  // `model` is the "model" member; `where` its path for messages.
  // InvalidArgument for a malformed vocab (non-integer or out-of-range id, an
  // id given to two tokens) or a merge whose parts or result are not in the
  // vocab; the message names the entry.
  static Result<std::unique_ptr<BpeModel>> FromJson(const Json& model, const std::string& where);

  // Appends the ids of one pre-token `word` (in the byte-level alphabet):
  // its characters' ids, merged pair by pair, lowest rank first and leftmost
  // first among equal ranks. InvalidArgument if a character has no token and
  // there is no unk_token.
  Status Tokenize(std::string_view word, std::vector<int32_t>* ids) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;

  // token -> id, as in the file.
  const std::unordered_map<std::string, int32_t>& vocab() const { return vocab_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };

  BpeModel() = default;
  Status ParseVocab(const Json& model, const std::string& where);
  Status ParseMerges(const Json& model, const std::string& where);

  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  std::unordered_map<std::string, int32_t> vocab_;
  // Ids of the single-character tokens, for the first step of Tokenize.
  std::unordered_map<char32_t, int32_t> char_ids_;
  std::unordered_map<uint64_t, Merge> merges_;  // PairKey(left, right) -> merge
  int32_t unk_id_ = -1;                         // -1: no unk_token
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
};

}  // namespace kvstash::tokenizer_internal

#endif  // KVSTASH_ENGINE_BPE_MODEL_INTERNAL_H_
