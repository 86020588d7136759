#include "store/device_tier.h"

#include <algorithm>

namespace kvstash {

CachedBlockPtr DeviceTier::Lookup(const ModelId& model, const BlockHash& hash) {
  MutexLock lock(&mu_);
  auto it = index_.find(Key{model, hash});
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return *it->second;
}

std::optional<ChildMatch> DeviceTier::LongestChild(const ModelId& model, const BlockHash& parent,
                                                   TokenSpan query) const {
  MutexLock lock(&mu_);
  return children_.Longest(model, parent, query);
}

std::vector<ChildLink> DeviceTier::ShorterChildren(const ModelId& model, const BlockHash& parent,
                                                   TokenSpan tokens) const {
  MutexLock lock(&mu_);
  return children_.ShorterPrefixes(model, parent, tokens);
}

std::vector<CachedBlockPtr> DeviceTier::Insert(CachedBlockPtr block, const EvictHook& on_evict) {
  std::vector<CachedBlockPtr> evicted;
  if (block->bytes > budget_bytes_) {
    if (on_evict) on_evict(block);
    evicted.push_back(std::move(block));
    return evicted;
  }
  MutexLock lock(&mu_);
  Key key{block->model, block->hash};
  if (index_.count(key)) return evicted;
  while (bytes_ + block->bytes > budget_bytes_ && !lru_.empty()) {
    auto victim = std::prev(lru_.end());
    if (on_evict) on_evict(*victim);
    evicted.push_back(*victim);
    EraseLocked(victim);
  }
  bytes_ += block->bytes;
  children_.Add(block->model, block->parent, block->tokens, block->hash);
  lru_.push_front(std::move(block));
  index_[key] = lru_.begin();
  return evicted;
}

void DeviceTier::Erase(const ModelId& model, const BlockHash& hash) {
  MutexLock lock(&mu_);
  auto it = index_.find(Key{model, hash});
  if (it != index_.end()) EraseLocked(it->second);
}

void DeviceTier::EraseLocked(LruList::iterator it) {
  const CachedBlock& b = **it;
  children_.Remove(b.model, b.parent, b.tokens, b.hash);
  bytes_ -= b.bytes;
  index_.erase(Key{b.model, b.hash});
  lru_.erase(it);
}

std::vector<CachedBlockPtr> DeviceTier::All() {
  MutexLock lock(&mu_);
  return std::vector<CachedBlockPtr>(lru_.begin(), lru_.end());
}

uint64_t DeviceTier::bytes() const {
  MutexLock lock(&mu_);
  return bytes_;
}

size_t DeviceTier::size() const {
  MutexLock lock(&mu_);
  return lru_.size();
}

}  // namespace kvstash
