// Classic byte-pair-encoding training, for MakeByteLevelBpeJson: start from
// the 256 single-byte tokens and repeatedly merge the most frequent adjacent
// pair of tokens within words.
#ifndef KVSTASH_ENGINE_BPE_TRAINER_INTERNAL_H_
#define KVSTASH_ENGINE_BPE_TRAINER_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kvstash::tokenizer_internal {

struct LearnedMerge {
  int32_t left;
  int32_t right;
  int32_t result;  // a new id, or an existing one when its bytes already had a token
};

struct TrainedBpe {
  // id -> the token's bytes; ids 0..255 are the single bytes 0..255.
  std::vector<std::string> tokens;
  std::vector<LearnedMerge> merges;  // in rank order
};

// Learns up to `num_merges` merges from `words` (word bytes, occurrence
// count). Each step merges the pair with the highest total count (a pair
// occurring k times in a word counts k times its count); ties go to the
// smallest (left id, right id). Stops early when no pair is left. The result
// depends only on the multiset of words, never on hash-map order.
TrainedBpe TrainBytePairs(const std::vector<std::pair<std::string, int64_t>>& words,
                          size_t num_merges);

}  // namespace kvstash::tokenizer_internal

#endif  // KVSTASH_ENGINE_BPE_TRAINER_INTERNAL_H_
