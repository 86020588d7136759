// BlockGraph: every block of a store (or of one model) as garbage collection
// sees it, built from the disk tier's metadata without reading payloads.
//
// Blocks form a forest per model: a block's parent is the block before it in
// its sequence (kRootBlockHash for a first block). A block can only ever be
// matched through its parent, so a block whose parent is missing (an orphan)
// is unreachable, and so is every descendant of it. GC therefore deletes
// children before parents and never leaves a kept block without its parent.
//
// Thread-safety: a loaded graph is a value; const methods may be called
// concurrently. It is a snapshot: the store may change after Load().
#ifndef KVSTASH_GC_BLOCK_GRAPH_H_
#define KVSTASH_GC_BLOCK_GRAPH_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "serde/block_hash.h"
#include "serde/model_id.h"
#include "serde/status.h"
#include "store/disk_tier.h"

namespace kvstash {

// One block of one model.
struct BlockRef {
  ModelId model;
  BlockHash hash;
  friend bool operator==(const BlockRef& a, const BlockRef& b) {
    return a.model == b.model && a.hash == b.hash;
  }
  friend bool operator!=(const BlockRef& a, const BlockRef& b) { return !(a == b); }
  // Key order: model, then hash, as the disk tier's keys sort.
  friend bool operator<(const BlockRef& a, const BlockRef& b) {
    return a.model != b.model ? a.model < b.model : a.hash < b.hash;
  }
};
struct BlockRefHasher {
  size_t operator()(const BlockRef& r) const {
    return Hash128Hasher()(r.hash) ^ (Hash128Hasher()(r.model) * 0x9e3779b97f4a7c15ull);
  }
};
using BlockSet = std::unordered_set<BlockRef, BlockRefHasher>;

struct BlockNode {
  BlockHash parent;  // kRootBlockHash for a first block
  uint64_t stored_bytes = 0;
  uint64_t last_access_ms = 0;
  uint64_t created_ms = 0;
  // False if the meta does not decode. Load() then takes parent and size from
  // the blob's header if that parses (parent_known), else parent is unknown.
  bool readable = true;
  bool parent_known = true;
  std::string meta_error;  // why the meta does not decode

  // Set by Finish():
  std::vector<BlockHash> children;  // present children, in key order
  bool orphan = false;              // parent neither root nor present, or a parent cycle
  uint32_t depth = 0;               // 0 for a root or an orphan; parent's depth + 1
};

struct ModelBlocks {
  bool registered = false;  // has a registry entry
  std::unordered_map<BlockHash, BlockNode, Hash128Hasher> blocks;
};

class BlockGraph {
 public:
  // Reads the registry and every meta of `model` (or of all models). A meta
  // that does not decode becomes an unreadable node (see BlockNode). Errors
  // of the scan itself are returned.
  static Result<BlockGraph> Load(DiskTier* disk,
                                 const std::optional<ModelId>& model = std::nullopt);

  // Building by hand (tests; Load uses the same calls): add, then Finish().
  void AddModel(const ModelId& model);  // a registry entry
  // `node.children`, `orphan` and `depth` are ignored. Replaces an existing node.
  void AddBlock(const ModelId& model, const BlockHash& hash, BlockNode node);
  // Links children, marks orphans and computes depths. Call once after the
  // last Add*; the graph is read-only afterwards.
  void Finish();

  const std::map<ModelId, ModelBlocks>& models() const { return models_; }
  // nullptr if absent.
  const BlockNode* Find(const BlockRef& ref) const;
  bool Contains(const ModelId& model) const { return models_.count(model) != 0; }

  uint64_t block_count() const { return block_count_; }
  uint64_t stored_bytes() const { return stored_bytes_; }

  // Blocks whose parent is missing (or that sit on a parent cycle, which only
  // corrupt metas can make), in key order.
  std::vector<BlockRef> Orphans() const;
  // Adds `ref` and every block below it to `*out`.
  void AddSubtree(const BlockRef& ref, BlockSet* out) const;
  // Orders `blocks` so that every block comes after all of its descendants
  // in the set (deepest first), ties in key order: deleting in this order
  // never leaves a kept block without its parent. Unknown refs are dropped.
  std::vector<BlockRef> LeafFirst(const BlockSet& blocks) const;

 private:
  std::map<ModelId, ModelBlocks> models_;
  uint64_t block_count_ = 0;
  uint64_t stored_bytes_ = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_GC_BLOCK_GRAPH_H_
