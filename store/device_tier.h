// DeviceTier: an LRU of decoded blocks held as tensors on one device (GPU
// when available, host memory otherwise), bounded by bytes.
//
// Thread-safety: all methods may be called concurrently. Blocks are shared
// (std::shared_ptr), so a block evicted while another thread copies from it
// stays alive until that copy finishes.
#ifndef KVSTASH_STORE_DEVICE_TIER_H_
#define KVSTASH_STORE_DEVICE_TIER_H_

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "serde/block_codec.h"
#include "serde/block_hash.h"
#include "serde/model_id.h"
#include "serde/mutex.h"
#include "store/child_index.h"

namespace kvstash {

struct CachedBlock {
  ModelId model;
  BlockHash hash;
  BlockHash parent;
  std::vector<int32_t> tokens;
  BlockShape shape;
  at::Tensor kv;  // [layers, 2, kv_heads, tokens, head_dim], contiguous
  uint64_t bytes = 0;
  // True once the block is on disk or queued for the disk writer, so
  // eviction does not spill it twice.
  std::atomic<bool> persisted{false};
};
using CachedBlockPtr = std::shared_ptr<CachedBlock>;

class DeviceTier {
 public:
  explicit DeviceTier(uint64_t budget_bytes) : budget_bytes_(budget_bytes) {}

  // The block, marked most recently used; nullptr if absent.
  CachedBlockPtr Lookup(const ModelId& model, const BlockHash& hash);
  // Among the blocks whose parent is `parent` (no LRU update): the one
  // sharing the most leading tokens with `query`, and those whose tokens are
  // a strict prefix of `tokens` (child_index.h). O(log n) in the blocks held.
  std::optional<ChildMatch> LongestChild(const ModelId& model, const BlockHash& parent,
                                         TokenSpan query) const;
  std::vector<ChildLink> ShorterChildren(const ModelId& model, const BlockHash& parent,
                                         TokenSpan tokens) const;

  // Called by Insert() for each block it evicts while the tier still holds
  // it, under the tier's lock (so it must not call back into the tier).
  using EvictHook = std::function<void(const CachedBlockPtr&)>;

  // Adds `block` as most recently used, unless a block with its key is
  // present (then nothing changes). Returns the blocks evicted to stay within
  // the budget; `block` itself if it alone exceeds the budget. A caller that
  // moves evicted blocks elsewhere does it in `on_evict`: a reader that looks
  // here first and there next then never misses a block on its way.
  std::vector<CachedBlockPtr> Insert(CachedBlockPtr block, const EvictHook& on_evict = nullptr);

  // Removes the block if present.
  void Erase(const ModelId& model, const BlockHash& hash);
  // Every block, most recently used first.
  std::vector<CachedBlockPtr> All();

  uint64_t bytes() const;
  size_t size() const;
  uint64_t budget_bytes() const { return budget_bytes_; }

 private:
  struct Key {
    ModelId model;
    BlockHash hash;
    friend bool operator==(const Key& a, const Key& b) {
      return a.model == b.model && a.hash == b.hash;
    }
  };
  struct KeyHasher {
    size_t operator()(const Key& k) const {
      return Hash128Hasher()(k.hash) ^ (Hash128Hasher()(k.model) << 1);
    }
  };
  using LruList = std::list<CachedBlockPtr>;

  void EraseLocked(LruList::iterator it) KVSTASH_REQUIRES(mu_);

  const uint64_t budget_bytes_;
  mutable Mutex mu_;
  LruList lru_ KVSTASH_GUARDED_BY(mu_);  // front: most recently used
  std::unordered_map<Key, LruList::iterator, KeyHasher> index_ KVSTASH_GUARDED_BY(mu_);
  ChildIndex children_ KVSTASH_GUARDED_BY(mu_);
  uint64_t bytes_ KVSTASH_GUARDED_BY(mu_) = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_DEVICE_TIER_H_
