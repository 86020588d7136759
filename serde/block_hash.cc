#include "serde/block_hash.h"

#include <string>

#include "serde/le_coding.h"

namespace kvstash {

BlockHash ComputeBlockHash(const ModelId& model, const BlockHash& parent, const int32_t* tokens,
                           size_t num_tokens) {
  std::string input;
  input.resize(2 * Hash128::kEncodedSize + 4 * num_tokens);
  char* p = input.data();
  model.EncodeTo(p);
  parent.EncodeTo(p + Hash128::kEncodedSize);
  p += 2 * Hash128::kEncodedSize;
  for (size_t i = 0; i < num_tokens; ++i)
    EncodeFixed32(p + 4 * i, static_cast<uint32_t>(tokens[i]));
  return Xxh3Hash128(input);
}

std::vector<BlockHash> ComputeChainHashes(const ModelId& model, const int32_t* tokens,
                                          size_t num_tokens, size_t block_tokens) {
  std::vector<BlockHash> hashes;
  hashes.reserve((num_tokens + block_tokens - 1) / block_tokens);
  BlockHash parent = kRootBlockHash;
  for (size_t start = 0; start < num_tokens; start += block_tokens) {
    size_t n = std::min(block_tokens, num_tokens - start);
    parent = ComputeBlockHash(model, parent, tokens + start, n);
    hashes.push_back(parent);
  }
  return hashes;
}

}  // namespace kvstash
