// BlockHash: the content address of one KV block.
//
//   hash(block) = xxh3_128( model_id[16] || parent_hash[16] || tokens as int32 LE )
//
// where parent_hash is the hash of the previous block of the same sequence,
// or all-zero for the first block. Chaining makes a block's hash name its
// whole prefix, so equal hashes mean (barring collisions, which the store
// guards against by comparing tokens) equal KV. Deterministic across
// processes and machines: no seeds, explicit byte order.
#ifndef KVSTASH_SERDE_BLOCK_HASH_H_
#define KVSTASH_SERDE_BLOCK_HASH_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "serde/hash128.h"
#include "serde/model_id.h"

namespace kvstash {

using BlockHash = Hash128;

// The parent of a sequence's first block.
inline constexpr BlockHash kRootBlockHash{};

BlockHash ComputeBlockHash(const ModelId& model, const BlockHash& parent, const int32_t* tokens,
                           size_t num_tokens);

// Hashes of the consecutive blocks of `tokens` ([i*block_tokens, (i+1)*block_tokens)),
// the last one possibly shorter. REQUIRES: block_tokens > 0.
std::vector<BlockHash> ComputeChainHashes(const ModelId& model, const int32_t* tokens,
                                          size_t num_tokens, size_t block_tokens);

}  // namespace kvstash

#endif  // KVSTASH_SERDE_BLOCK_HASH_H_
