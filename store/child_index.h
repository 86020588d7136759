// Finding a block's children by their tokens, at a cost that does not grow
// with how many children there are.
//
// A parent's children (the blocks that continue its prefix) are kept sorted
// by their token sequences, lexicographically. Two questions are asked of
// them, on every request for a prompt that the store does not hold whole:
//   - Longest: the child that shares the longest prefix with a query (the
//     partial-block match: a prompt that diverges inside a block still reuses
//     the tokens up to the divergence). In a sorted set the element with the
//     longest common prefix with q is the last element <= q or the first one
//     >= q, so two seeks answer it, however many siblings there are.
//   - StrictPrefixes: the children whose tokens are a strict prefix of a new
//     block's tokens (partial blocks it supersedes). Each is <= the new
//     tokens; walking down from there, each seek either finds one or skips
//     past every sibling that shares fewer tokens, so the walk takes at most
//     one seek per prefix found plus one per distinct shorter shared length
//     (in practice one or two).
// Both run over anything that can seek in the sorted order (SortedChildren):
// the device tier's and the writer queue's in-memory ChildIndex, and the
// disk tier's RocksDB family of child links (docs/format.md, section 5).
#ifndef KVSTASH_STORE_CHILD_INDEX_H_
#define KVSTASH_STORE_CHILD_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "serde/block_hash.h"
#include "serde/model_id.h"

namespace kvstash {

struct TokenSpan {
  const int32_t* data = nullptr;
  size_t size = 0;
  TokenSpan() = default;
  TokenSpan(const int32_t* d, size_t n) : data(d), size(n) {}
  TokenSpan(const std::vector<int32_t>& v) : data(v.data()), size(v.size()) {}  // NOLINT
  TokenSpan First(size_t n) const { return TokenSpan(data, n < size ? n : size); }
};

// Tokens both sequences start with.
size_t CommonPrefixLength(TokenSpan a, TokenSpan b);

struct ChildLink {
  BlockHash hash;
  std::vector<int32_t> tokens;
};

struct ChildMatch {
  BlockHash hash;
  size_t common = 0;        // leading tokens shared with the query (>= 1)
  size_t block_tokens = 0;  // tokens the child holds (>= common)
};

// One parent's children in token order, as something that can seek.
class SortedChildren {
 public:
  virtual ~SortedChildren() = default;
  // The last child whose tokens are <= `key` (Floor) or the first one >=
  // `key` (Ceil), into `*out`. False when there is none.
  virtual bool Floor(TokenSpan key, ChildLink* out) = 0;
  virtual bool Ceil(TokenSpan key, ChildLink* out) = 0;
};

// The child sharing the most leading tokens with `query` (ties: any of
// them); nullopt when none shares even the first token.
std::optional<ChildMatch> LongestCommonPrefix(SortedChildren& children, TokenSpan query);

// The children whose tokens are a strict prefix of `tokens`, longest first.
std::vector<ChildLink> StrictPrefixes(SortedChildren& children, TokenSpan tokens);

// Children of every (model, parent), in memory. Not thread-safe: its owner
// locks around it.
class ChildIndex {
 public:
  // Adds (or replaces) the child of `parent` with these tokens.
  void Add(const ModelId& model, const BlockHash& parent, TokenSpan tokens, const BlockHash& hash);
  // Removes the child of `parent` with exactly these tokens, if it is `hash`.
  void Remove(const ModelId& model, const BlockHash& parent, TokenSpan tokens,
              const BlockHash& hash);
  std::optional<ChildMatch> Longest(const ModelId& model, const BlockHash& parent,
                                    TokenSpan query) const;
  std::vector<ChildLink> ShorterPrefixes(const ModelId& model, const BlockHash& parent,
                                         TokenSpan tokens) const;
  // Every child of `parent`, in token order.
  std::vector<ChildLink> Children(const ModelId& model, const BlockHash& parent) const;
  // Calls `fn(model, parent, link)` for every child of every parent (in no
  // particular order of parents); stops when `fn` returns false.
  void ForEach(
      const std::function<bool(const ModelId&, const BlockHash&, const ChildLink&)>& fn) const;
  size_t size() const { return size_; }
  void Clear();

 private:
  struct TokensLess {
    using is_transparent = void;
    bool operator()(const std::vector<int32_t>& a, const std::vector<int32_t>& b) const;
    bool operator()(const std::vector<int32_t>& a, TokenSpan b) const;
    bool operator()(TokenSpan a, const std::vector<int32_t>& b) const;
  };
  using Siblings = std::map<std::vector<int32_t>, BlockHash, TokensLess>;
  struct ParentKey {
    ModelId model;
    BlockHash parent;
    friend bool operator==(const ParentKey& a, const ParentKey& b) {
      return a.model == b.model && a.parent == b.parent;
    }
  };
  struct ParentKeyHasher {
    size_t operator()(const ParentKey& k) const {
      return Hash128Hasher()(k.parent) ^ (Hash128Hasher()(k.model) << 1);
    }
  };
  class View;

  const Siblings* Find(const ModelId& model, const BlockHash& parent) const;

  std::unordered_map<ParentKey, Siblings, ParentKeyHasher> by_parent_;
  size_t size_ = 0;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_CHILD_INDEX_H_
