#include <algorithm>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "engine/bpe_trainer_internal.h"

namespace kvstash::tokenizer_internal {
namespace {

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// A pair's count at the time it was pushed; stale once the count changes.
struct HeapEntry {
  int64_t count;
  int32_t left;
  int32_t right;
  // "Less" for a max-heap: higher count first, then smaller (left, right).
  bool operator<(const HeapEntry& o) const {
    if (count != o.count) return count < o.count;
    if (left != o.left) return left > o.left;
    return right > o.right;
  }
};

struct Word {
  std::vector<int32_t> symbols;
  int64_t count;
};

class Trainer {
 public:
  explicit Trainer(const std::vector<std::pair<std::string, int64_t>>& words) {
    for (int b = 0; b < 256; ++b) {
      result_.tokens.emplace_back(1, static_cast<char>(b));
      ids_.emplace(result_.tokens.back(), b);
    }
    for (const auto& [bytes, count] : words) {
      if (bytes.size() < 2 || count <= 0) continue;  // no pair to learn from
      Word w;
      w.count = count;
      for (char c : bytes) w.symbols.push_back(static_cast<uint8_t>(c));
      words_.push_back(std::move(w));
    }
    for (int32_t w = 0; w < static_cast<int32_t>(words_.size()); ++w) AddPairs(w, +1);
    PushTouched();
  }

  TrainedBpe Run(size_t num_merges) {
    while (result_.merges.size() < num_merges) {
      const HeapEntry* best = nullptr;
      while (!heap_.empty()) {
        const HeapEntry& top = heap_.top();
        auto it = counts_.find(PairKey(top.left, top.right));
        if (top.count > 0 && it != counts_.end() && it->second == top.count) {
          best = &top;
          break;
        }
        heap_.pop();
      }
      if (best == nullptr) break;
      const HeapEntry entry = *best;
      heap_.pop();
      Merge(entry.left, entry.right);
    }
    return std::move(result_);
  }

 private:
  void AddPairs(int32_t w, int sign) {
    const Word& word = words_[w];
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
      const uint64_t key = PairKey(word.symbols[i], word.symbols[i + 1]);
      counts_[key] += sign * word.count;
      if (sign > 0) where_[key].insert(w);
      touched_.push_back(key);
    }
  }

  void PushTouched() {
    std::sort(touched_.begin(), touched_.end());
    touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
    for (uint64_t key : touched_) {
      const int64_t count = counts_[key];
      if (count > 0) {
        heap_.push(
            {count, static_cast<int32_t>(key >> 32), static_cast<int32_t>(key & 0xFFFFFFFF)});
      }
    }
    touched_.clear();
  }

  void Merge(int32_t left, int32_t right) {
    const std::string bytes = result_.tokens[left] + result_.tokens[right];
    auto [it, inserted] = ids_.emplace(bytes, static_cast<int32_t>(result_.tokens.size()));
    if (inserted) result_.tokens.push_back(bytes);
    const int32_t id = it->second;
    result_.merges.push_back({left, right, id});

    const auto found = where_.find(PairKey(left, right));
    if (found == where_.end()) return;
    const std::vector<int32_t> affected(found->second.begin(), found->second.end());
    for (int32_t w : affected) {
      std::vector<int32_t>& s = words_[w].symbols;
      bool has_pair = false;
      for (size_t i = 0; i + 1 < s.size() && !has_pair; ++i) {
        has_pair = s[i] == left && s[i + 1] == right;
      }
      if (!has_pair) continue;  // a stale entry: the word lost the pair earlier
      AddPairs(w, -1);
      size_t out = 0;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
          s[out++] = id;
          i += 2;
        } else {
          s[out++] = s[i++];
        }
      }
      s.resize(out);
      AddPairs(w, +1);
    }
    PushTouched();
  }

  TrainedBpe result_;
  std::unordered_map<std::string, int32_t> ids_;  // token bytes -> id
  std::vector<Word> words_;
  std::unordered_map<uint64_t, int64_t> counts_;                     // pair -> total count
  std::unordered_map<uint64_t, std::unordered_set<int32_t>> where_;  // pair -> words (maybe stale)
  std::priority_queue<HeapEntry> heap_;
  std::vector<uint64_t> touched_;  // pairs whose count changed since the last PushTouched
};

}  // namespace

TrainedBpe TrainBytePairs(const std::vector<std::pair<std::string, int64_t>>& words,
                          size_t num_merges) {
  return Trainer(words).Run(num_merges);
}

}  // namespace kvstash::tokenizer_internal
