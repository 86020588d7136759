#include <algorithm>

#include "engine/tokenizer_added_tokens_internal.h"
#include "engine/tokenizer_unicode_internal.h"

namespace kvstash::tokenizer_internal {
namespace {

bool EndsWithWordChar(std::string_view text, size_t end) {
  if (end == 0) return false;
  size_t start = 0;
  const Utf8Unit unit = DecodeUtf8Before(text, end, &start);
  return unit.valid && IsWordChar(unit.code_point);
}

bool StartsWithWordChar(std::string_view text, size_t pos) {
  if (pos >= text.size()) return false;
  const Utf8Unit unit = DecodeUtf8(text, pos);
  return unit.valid && IsWordChar(unit.code_point);
}

// Start of the whitespace run that ends at `end`.
size_t WhitespaceStartBefore(std::string_view text, size_t end) {
  while (end > 0) {
    size_t start = 0;
    const Utf8Unit unit = DecodeUtf8Before(text, end, &start);
    if (!unit.valid || !IsWhitespace(unit.code_point)) break;
    end = start;
  }
  return end;
}

// End of the whitespace run that starts at `pos`.
size_t WhitespaceEndAfter(std::string_view text, size_t pos) {
  while (pos < text.size()) {
    const Utf8Unit unit = DecodeUtf8(text, pos);
    if (!unit.valid || !IsWhitespace(unit.code_point)) break;
    pos += unit.size;
  }
  return pos;
}

}  // namespace

Result<AddedTokens> AddedTokens::FromJson(const Json& value, const std::string& where) {
  AddedTokens added;
  if (value.is_null()) return added;
  if (!value.is_array()) {
    return Status::InvalidArgument(where + ": expected an array, got " + value.type_name());
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const Json& entry = value[i];
    const std::string entry_where = Element(where, i);
    if (!entry.is_object()) {
      return Status::InvalidArgument(entry_where + ": expected an object, got " +
                                     entry.type_name());
    }
    AddedToken token;
    auto id = entry.find("id");
    if (id == entry.end()) return Status::InvalidArgument(entry_where + ": missing 'id'");
    KVSTASH_ASSIGN_OR_RETURN(token.id, TokenId(*id, Member(entry_where, "id")));
    KVSTASH_ASSIGN_OR_RETURN(token.content, StringMember(entry, "content", entry_where));
    if (token.content.empty()) {
      return Status::InvalidArgument(Member(entry_where, "content") + ": empty");
    }
    KVSTASH_ASSIGN_OR_RETURN(token.special, BoolMember(entry, "special", false, entry_where));
    KVSTASH_ASSIGN_OR_RETURN(token.single_word,
                             BoolMember(entry, "single_word", false, entry_where));
    KVSTASH_ASSIGN_OR_RETURN(token.lstrip, BoolMember(entry, "lstrip", false, entry_where));
    KVSTASH_ASSIGN_OR_RETURN(token.rstrip, BoolMember(entry, "rstrip", false, entry_where));
    KVSTASH_ASSIGN_OR_RETURN(token.normalized,
                             BoolMember(entry, "normalized", !token.special, entry_where));
    added.tokens_.push_back(std::move(token));
  }
  return added;
}

Status AddedTokens::Prepare(const Normalizer& normalizer) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& token = tokens_[i];
    if (!token.normalized) {
      raw_.patterns.emplace_back(token.content, i);
      continue;
    }
    std::string spelling;
    KVSTASH_RETURN_IF_ERROR(normalizer.Apply(token.content, &spelling));
    // A normalizer could erase a token entirely; an empty pattern matches nothing.
    if (!spelling.empty()) normalized_.patterns.emplace_back(std::move(spelling), i);
  }
  Build(&raw_);
  Build(&normalized_);
  return Status::OK();
}

void AddedTokens::Build(Matcher* m) {
  for (uint32_t i = 0; i < m->patterns.size(); ++i) {
    m->by_first_byte[static_cast<uint8_t>(m->patterns[i].first[0])].push_back(i);
  }
  for (auto& list : m->by_first_byte) {
    std::stable_sort(list.begin(), list.end(), [m](uint32_t a, uint32_t b) {
      return m->patterns[a].first.size() > m->patterns[b].first.size();
    });
  }
}

void AddedTokens::Split(std::string_view text, bool normalized,
                        std::vector<TextSegment>* out) const {
  const Matcher& m = normalized ? normalized_ : raw_;
  auto emit_text = [&](size_t start, size_t end) {
    if (end > start) out->push_back({-1, std::string(text.substr(start, end - start))});
  };
  if (m.empty()) {
    emit_text(0, text.size());
    return;
  }
  size_t emitted = 0;  // text before this is already in `out`
  size_t pos = 0;
  while (pos < text.size()) {
    const std::vector<uint32_t>& candidates = m.by_first_byte[static_cast<uint8_t>(text[pos])];
    const std::pair<std::string, size_t>* match = nullptr;
    for (uint32_t c : candidates) {
      const std::string& spelling = m.patterns[c].first;
      if (text.compare(pos, spelling.size(), spelling) == 0) {
        match = &m.patterns[c];
        break;  // longest first
      }
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[match->second];
    size_t start = pos;
    size_t stop = pos + match->first.size();
    // Like aho-corasick's iterator, the scan resumes after the match even when
    // the match is then discarded.
    pos = stop;
    if (start < emitted) continue;  // inside whitespace a previous rstrip took
    if (token.single_word && (EndsWithWordChar(text, start) || StartsWithWordChar(text, stop))) {
      continue;
    }
    if (token.lstrip) start = std::max(WhitespaceStartBefore(text, start), emitted);
    if (token.rstrip) stop = WhitespaceEndAfter(text, stop);
    emit_text(emitted, start);
    out->push_back({token.id, std::string(text.substr(start, stop - start))});
    emitted = stop;
  }
  emit_text(emitted, text.size());
}

}  // namespace kvstash::tokenizer_internal
