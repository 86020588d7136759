#include <cstdio>
#include <functional>
#include <queue>

#include "engine/bpe_model_internal.h"
#include "engine/json_quote_internal.h"
#include "engine/tokenizer_unicode_internal.h"

namespace kvstash::tokenizer_internal {
namespace {

// A symbol of the word being merged: a doubly linked list over a vector, so a
// merge is O(1) and positions (the heap's tie-breaker) never move.
struct Symbol {
  int32_t id;    // -1 once merged into its left neighbor
  int32_t prev;  // -1: none
  int32_t next;  // -1: none
};

// A merge that may apply at `pos`; stale once either symbol has changed.
struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t left;
  int32_t right;
  int32_t new_id;
  // Lowest rank first; among equal ranks the leftmost, as the reference
  // "merge the best pair, left to right" loop does.
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

std::string DescribeUnit(std::string_view word, size_t pos, const Utf8Unit& unit) {
  char buf[32];
  if (unit.valid) {
    std::snprintf(buf, sizeof(buf), "U+%04X", static_cast<unsigned>(unit.code_point));
  } else {
    std::snprintf(buf, sizeof(buf), "byte 0x%02x", static_cast<unsigned char>(word[pos]));
  }
  return buf;
}

}  // namespace

Result<std::unique_ptr<BpeModel>> BpeModel::FromJson(const Json& model, const std::string& where) {
  if (!model.is_object()) {
    return Status::InvalidArgument(where + ": expected an object, got " + model.type_name());
  }
  if (model.contains("type")) {
    KVSTASH_ASSIGN_OR_RETURN(const std::string type, StringMember(model, "type", where));
    if (type != "BPE") return UnsupportedType(where, type, where);
  }
  KVSTASH_ASSIGN_OR_RETURN(const bool byte_fallback,
                           BoolMember(model, "byte_fallback", false, where));
  if (byte_fallback) {
    return Status::NotSupported(Member(where, "byte_fallback") +
                                " = true is not supported (SentencePiece-style byte fallback; "
                                "byte-level BPE only)");
  }
  if (auto it = model.find("dropout"); it != model.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() != 0.0) {
      return Status::NotSupported(Member(where, "dropout") + " = " + json_internal::QuoteJson(*it) +
                                  " is not supported (BPE dropout makes encoding random)");
    }
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it == model.end() || it->is_null() ||
        (it->is_string() && it->get_ref<const std::string&>().empty())) {
      continue;
    }
    return Status::NotSupported(Member(where, key) + " = " + json_internal::QuoteJson(*it) +
                                " is not supported (byte-level BPE only)");
  }

  std::unique_ptr<BpeModel> m(new BpeModel());
  KVSTASH_ASSIGN_OR_RETURN(m->fuse_unk_, BoolMember(model, "fuse_unk", false, where));
  KVSTASH_ASSIGN_OR_RETURN(m->ignore_merges_, BoolMember(model, "ignore_merges", false, where));
  KVSTASH_RETURN_IF_ERROR(m->ParseVocab(model, where));
  KVSTASH_RETURN_IF_ERROR(m->ParseMerges(model, where));
  if (auto it = model.find("unk_token"); it != model.end() && !it->is_null()) {
    if (!it->is_string()) {
      return Status::InvalidArgument(Member(where, "unk_token") + ": expected a string, got " +
                                     it->type_name());
    }
    // Hugging Face loads a file whose unk_token is not in the vocab and only
    // fails if it is ever needed; do the same.
    if (auto id = m->TokenToId(it->get_ref<const std::string&>())) m->unk_id_ = *id;
  }
  return m;
}

Status BpeModel::ParseVocab(const Json& model, const std::string& where) {
  const std::string vocab_where = Member(where, "vocab");
  auto vocab = model.find("vocab");
  if (vocab == model.end()) return Status::InvalidArgument(where + ": missing 'vocab'");
  if (!vocab->is_object()) {
    return Status::InvalidArgument(vocab_where + ": expected an object (token -> id), got " +
                                   vocab->type_name());
  }
  vocab_.reserve(vocab->size());
  std::unordered_map<int32_t, const std::string*> owner;
  owner.reserve(vocab->size());
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    const Json& value = it.value();
    int32_t id = 0;
    // The path string is built only for an error: vocabs have ~150k entries.
    if (value.is_number_integer() && value.get<int64_t>() >= 0 &&
        value.get<int64_t>() <= kMaxTokenId) {
      id = static_cast<int32_t>(value.get<int64_t>());
    } else {
      KVSTASH_ASSIGN_OR_RETURN(id, TokenId(value, vocab_where + "[" + Quote(it.key()) + "]"));
    }
    auto [slot, inserted] = owner.emplace(id, &it.key());
    if (!inserted) {
      return Status::InvalidArgument(vocab_where + ": id " + std::to_string(id) +
                                     " is given to both " + Quote(*slot->second) + " and " +
                                     Quote(it.key()));
    }
    vocab_.emplace(it.key(), id);
    const Utf8Unit unit = it.key().empty() ? Utf8Unit{} : DecodeUtf8(it.key(), 0);
    if (unit.valid && unit.size == it.key().size()) char_ids_.emplace(unit.code_point, id);
  }
  return Status::OK();
}

Status BpeModel::ParseMerges(const Json& model, const std::string& where) {
  const std::string merges_where = Member(where, "merges");
  KVSTASH_ASSIGN_OR_RETURN(const Json* merges, ArrayMember(model, "merges", where));
  merges_.reserve(merges->size());
  std::string left;
  std::string right;
  for (size_t rank = 0; rank < merges->size(); ++rank) {
    const Json& entry = (*merges)[rank];
    // Built only for an error: files have ~150k merges.
    auto entry_where = [&] { return Element(merges_where, rank); };
    if (entry.is_string()) {
      // Hugging Face's legacy form: exactly one space between the two parts.
      const std::string& line = entry.get_ref<const std::string&>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        return Status::InvalidArgument(entry_where() + " " + Quote(line) +
                                       ": expected two tokens separated by one space");
      }
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      return Status::InvalidArgument(entry_where() +
                                     ": expected \"left right\" or [\"left\", \"right\"], got " +
                                     json_internal::QuoteJson(entry));
    }
    auto pair_where = [&] {
      return entry_where() + " (" + Quote(left) + ", " + Quote(right) + ")";
    };
    auto l = vocab_.find(left);
    if (l == vocab_.end()) {
      return Status::InvalidArgument(pair_where() + ": " + Quote(left) + " is not in the vocab");
    }
    auto r = vocab_.find(right);
    if (r == vocab_.end()) {
      return Status::InvalidArgument(pair_where() + ": " + Quote(right) + " is not in the vocab");
    }
    auto merged = vocab_.find(left + right);
    if (merged == vocab_.end()) {
      return Status::InvalidArgument(pair_where() + ": merged token " + Quote(left + right) +
                                     " is not in the vocab");
    }
    // A repeated pair keeps its last rank, as Hugging Face's HashMap collect does.
    merges_[PairKey(l->second, r->second)] = Merge{static_cast<int32_t>(rank), merged->second};
  }
  return Status::OK();
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

Status BpeModel::Tokenize(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return Status::OK();
  if (ignore_merges_) {
    // Llama-3: a pre-token that is itself a token is emitted whole.
    if (auto id = TokenToId(word)) {
      ids->push_back(*id);
      return Status::OK();
    }
  }
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t pos = 0; pos < word.size();) {
    const Utf8Unit unit = DecodeUtf8(word, pos);
    int32_t id = -1;
    if (unit.valid) {
      if (auto it = char_ids_.find(unit.code_point); it != char_ids_.end()) id = it->second;
    } else if (auto it = vocab_.find(std::string(1, word[pos])); it != vocab_.end()) {
      id = it->second;
    }
    if (id < 0) {
      if (unk_id_ < 0) {
        return Status::InvalidArgument("no token for " + DescribeUnit(word, pos, unit) +
                                       " and the model has no unk_token");
      }
      id = unk_id_;
      if (fuse_unk_ && !symbols.empty() && symbols.back().id == unk_id_) {
        pos += unit.size;
        continue;
      }
    }
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, -1});
    if (index > 0) symbols[index - 1].next = index;
    pos += unit.size;
  }

  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_candidate = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    auto it = merges_.find(PairKey(symbols[pos].id, symbols[next].id));
    if (it == merges_.end()) return;
    queue.push({it->second.rank, pos, symbols[pos].id, symbols[next].id, it->second.new_id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_candidate(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.id != top.left || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    if (right.id != top.right) continue;
    left.id = top.new_id;
    right.id = -1;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) push_candidate(left.prev);
    push_candidate(top.pos);
  }

  // Symbol 0 always survives: merges fold the right symbol into the left.
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids->push_back(symbols[i].id);
  return Status::OK();
}

}  // namespace kvstash::tokenizer_internal
