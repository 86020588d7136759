// What a store holds, summarized per model from the disk tier's metadata
// (no block payload is read). Used by `kvstash ls` and `kvstash stat`.
#ifndef KVSTASH_GC_INVENTORY_H_
#define KVSTASH_GC_INVENTORY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "serde/model_id.h"
#include "serde/status.h"
#include "store/disk_tier.h"

namespace kvstash {

struct ModelInventory {
  ModelId model;
  // Parsed description; nullopt if the registry entry is missing or unreadable.
  std::optional<ModelDescription> description;
  uint64_t blocks = 0;
  uint64_t chains = 0;  // blocks no other block continues (ends of stored prefixes)
  uint64_t tokens = 0;  // tokens over all blocks
  uint64_t raw_bytes = 0;
  uint64_t stored_bytes = 0;
  uint64_t hits = 0;
  uint64_t created_ms = 0;      // oldest block
  uint64_t last_access_ms = 0;  // most recent access of any block
  uint64_t unreadable_metas = 0;
};

// One entry per registered model and per model that has blocks, in key order.
Result<std::vector<ModelInventory>> InventoryByModel(DiskTier* disk);

// One stored prefix: the path from a chain end (a block nothing continues)
// back to the root.
struct ChainInventory {
  BlockHash leaf;
  uint64_t blocks = 0;
  uint64_t tokens = 0;
  uint64_t stored_bytes = 0;
  uint64_t last_access_ms = 0;        // most recent access along the chain
  std::vector<int32_t> first_tokens;  // up to 32 tokens of the chain's first block
  bool complete = true;               // false: a parent is missing (an orphaned chain)
};

// Every chain of `model`, most recently used first.
Result<std::vector<ChainInventory>> ChainsOfModel(DiskTier* disk, const ModelId& model);

}  // namespace kvstash

#endif  // KVSTASH_GC_INVENTORY_H_
