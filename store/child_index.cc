#include "store/child_index.h"

#include <algorithm>

namespace kvstash {

size_t CommonPrefixLength(TokenSpan a, TokenSpan b) {
  const size_t n = std::min(a.size, b.size);
  size_t i = 0;
  while (i < n && a.data[i] == b.data[i]) ++i;
  return i;
}

std::optional<ChildMatch> LongestCommonPrefix(SortedChildren& children, TokenSpan query) {
  std::optional<ChildMatch> best;
  ChildLink c;
  auto consider = [&] {
    const size_t m = CommonPrefixLength(c.tokens, query);
    if (m > 0 && (!best || m > best->common)) best = ChildMatch{c.hash, m, c.tokens.size()};
  };
  if (query.size == 0) return best;
  if (children.Floor(query, &c)) consider();
  if (children.Ceil(query, &c)) consider();
  return best;
}

std::vector<ChildLink> StrictPrefixes(SortedChildren& children, TokenSpan tokens) {
  // Invariant: every strict prefix not yet found is <= key, and key is itself
  // a prefix of `tokens`; each step shortens key, so the walk ends.
  std::vector<ChildLink> out;
  TokenSpan key = tokens;
  ChildLink c;
  while (key.size > 0 && children.Floor(key, &c)) {
    const size_t m = CommonPrefixLength(c.tokens, tokens);
    if (m == c.tokens.size() && m < tokens.size) {
      out.push_back(c);  // a strict prefix; the shorter ones are below it
      key = tokens.First(m - 1);
    } else if (m == c.tokens.size()) {
      key = tokens.First(m - 1);  // the block itself
    } else {
      // c diverges from `tokens` after m tokens: no prefix longer than m lies
      // between it and key, so the rest are <= tokens[0, m).
      key = tokens.First(m);
    }
  }
  return out;
}

bool ChildIndex::TokensLess::operator()(const std::vector<int32_t>& a,
                                        const std::vector<int32_t>& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
}
bool ChildIndex::TokensLess::operator()(const std::vector<int32_t>& a, TokenSpan b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.data, b.data + b.size);
}
bool ChildIndex::TokensLess::operator()(TokenSpan a, const std::vector<int32_t>& b) const {
  return std::lexicographical_compare(a.data, a.data + a.size, b.begin(), b.end());
}

class ChildIndex::View : public SortedChildren {
 public:
  explicit View(const Siblings* siblings) : siblings_(siblings) {}
  bool Floor(TokenSpan key, ChildLink* out) override {
    if (!siblings_) return false;
    auto it = siblings_->upper_bound(key);
    if (it == siblings_->begin()) return false;
    --it;
    Set(*it, out);
    return true;
  }
  bool Ceil(TokenSpan key, ChildLink* out) override {
    if (!siblings_) return false;
    auto it = siblings_->lower_bound(key);
    if (it == siblings_->end()) return false;
    Set(*it, out);
    return true;
  }

 private:
  static void Set(const Siblings::value_type& entry, ChildLink* out) {
    out->hash = entry.second;
    out->tokens = entry.first;
  }
  const Siblings* siblings_;
};

void ChildIndex::Add(const ModelId& model, const BlockHash& parent, TokenSpan tokens,
                     const BlockHash& hash) {
  Siblings& siblings = by_parent_[ParentKey{model, parent}];
  auto [it, added] =
      siblings.try_emplace(std::vector<int32_t>(tokens.data, tokens.data + tokens.size), hash);
  if (added) {
    ++size_;
  } else {
    it->second = hash;
  }
}

void ChildIndex::Remove(const ModelId& model, const BlockHash& parent, TokenSpan tokens,
                        const BlockHash& hash) {
  auto siblings = by_parent_.find(ParentKey{model, parent});
  if (siblings == by_parent_.end()) return;
  auto it = siblings->second.find(tokens);
  if (it == siblings->second.end() || it->second != hash) return;
  siblings->second.erase(it);
  --size_;
  if (siblings->second.empty()) by_parent_.erase(siblings);
}

const ChildIndex::Siblings* ChildIndex::Find(const ModelId& model, const BlockHash& parent) const {
  auto it = by_parent_.find(ParentKey{model, parent});
  return it == by_parent_.end() ? nullptr : &it->second;
}

std::optional<ChildMatch> ChildIndex::Longest(const ModelId& model, const BlockHash& parent,
                                              TokenSpan query) const {
  View view(Find(model, parent));
  return LongestCommonPrefix(view, query);
}

std::vector<ChildLink> ChildIndex::ShorterPrefixes(const ModelId& model, const BlockHash& parent,
                                                   TokenSpan tokens) const {
  View view(Find(model, parent));
  return StrictPrefixes(view, tokens);
}

std::vector<ChildLink> ChildIndex::Children(const ModelId& model, const BlockHash& parent) const {
  std::vector<ChildLink> out;
  if (const Siblings* siblings = Find(model, parent)) {
    for (const auto& [tokens, hash] : *siblings) out.push_back({hash, tokens});
  }
  return out;
}

void ChildIndex::ForEach(
    const std::function<bool(const ModelId&, const BlockHash&, const ChildLink&)>& fn) const {
  for (const auto& [key, siblings] : by_parent_) {
    for (const auto& [tokens, hash] : siblings) {
      if (!fn(key.model, key.parent, ChildLink{hash, tokens})) return;
    }
  }
}

void ChildIndex::Clear() {
  by_parent_.clear();
  size_ = 0;
}

}  // namespace kvstash
