// MakeByteLevelBpeJson: writes a small but real byte-level BPE tokenizer.json
// for test models (`kvstash mkmodel`), shaped like Qwen2's:
//   vocab          ids 0..255 are the 256 byte tokens, id b spelling byte b
//                  in GPT-2's byte-to-unicode alphabet (id 32 is "Ġ"); then
//                  one token per learned merge, in learning order.
//   merges         up to `num_merges`, learned by classic BPE training on
//                  `training_text`: repeatedly merge the most frequent
//                  adjacent pair within the pre-tokens (counted with their
//                  multiplicity); ties go to the smallest (left id, right id).
//                  Training stops early when no adjacent pair is left. A merge
//                  whose result already exists reuses that token's id.
//                  Written as "left right" strings, readable by every
//                  `tokenizers` version.
//   added_tokens   `special_tokens` after the vocab, in order, special: true,
//                  normalized: false; one spelled like a vocab entry (say
//                  "a") gets that entry's id, as Hugging Face would assign.
//                  Duplicates and empty strings are skipped.
//   normalizer     NFC.
//   pre_tokenizer  Sequence [Split (Qwen2/Llama-3 regex, Isolated),
//                  ByteLevel (add_prefix_space false, use_regex false)].
//   decoder        ByteLevel.
// Special tokens in the training text are cut out before training, exactly as
// Tokenizer::Encode cuts them out.
//
// The output is deterministic: the same inputs give the same bytes (and so
// the same Tokenizer::digest()). It loads with Tokenizer::FromJson, and with
// any byte-level training text Decode(Encode(x)) == x for NFC-stable x,
// including invalid UTF-8.
//
// REQUIRES: every special token is valid UTF-8 (JSON cannot carry anything
// else; invalid bytes would be written as U+FFFD).
#ifndef KVSTASH_ENGINE_TOKENIZER_MAKER_H_
#define KVSTASH_ENGINE_TOKENIZER_MAKER_H_

#include <cstddef>
#include <string>
#include <vector>

namespace kvstash {

std::string MakeByteLevelBpeJson(const std::string& training_text, size_t num_merges,
                                 const std::vector<std::string>& special_tokens);

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_TOKENIZER_MAKER_H_
