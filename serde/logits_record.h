// The logits record: the next-token logits after a whole prompt, stored next
// to the prompt's KV blocks so that a warm start of exactly that prompt needs
// no forward pass at all (with only the KV, the last prompt token must run
// through the model again for its logits: on a 0.5B model that single-token
// forward is most of a warm start's time to first token).
//
// A record is keyed by the model, the hash of the block before the prompt's
// last block (its "parent": the store keeps records only for prompts longer
// than one block, so it is never the root) and the hash of that last,
// possibly partial, block (the "tail"): the tail hash chains over every
// prompt token. Format (grammar in docs/format.md):
//
//   magic "KVSL" | version u16 | model | parent | tail | vocab u32 | dtype u8 (f32)
//   | vocab f32 little-endian | xxh3-64 of everything before it
//
// Decoding validates every field and the checksum and checks the identity
// against the key it was read under; bad bytes give Corruption, a newer
// version NotSupported.
#ifndef KVSTASH_SERDE_LOGITS_RECORD_H_
#define KVSTASH_SERDE_LOGITS_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "serde/block_hash.h"
#include "serde/model_id.h"
#include "serde/status.h"

namespace kvstash {

inline constexpr char kLogitsMagic[4] = {'K', 'V', 'S', 'L'};
inline constexpr uint16_t kLogitsFormatVersion = 1;
// Bounds the vocabulary a record may claim (and so what a reader allocates).
inline constexpr uint32_t kMaxLogitsVocab = 1u << 22;

struct LogitsKey {
  ModelId model;
  BlockHash parent;
  BlockHash tail;
};

// Appends the record of `vocab` logits to `*out` (replaced).
void EncodeLogitsRecord(const LogitsKey& key, const float* logits, uint32_t vocab,
                        std::string* out);

// Validates `record` against `key` (every field, the size and the checksum)
// and returns the vocabulary size it holds.
Result<uint32_t> VerifyLogitsRecord(std::string_view record, const LogitsKey& key);

// Validates `record` against `key` and `vocab` and copies its logits to `dst`
// (`vocab` floats). On error `dst` is unspecified.
Status DecodeLogitsRecord(std::string_view record, const LogitsKey& key, uint32_t vocab,
                          float* dst);

}  // namespace kvstash

#endif  // KVSTASH_SERDE_LOGITS_RECORD_H_
