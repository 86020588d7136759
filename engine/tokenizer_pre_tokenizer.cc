#include <algorithm>
#include <string_view>
#include <utility>

#include "engine/tokenizer_byte_level_internal.h"
#include "engine/tokenizer_pre_tokenizer_internal.h"
#include "engine/tokenizer_regex_internal.h"
#include "engine/tokenizer_unicode_internal.h"

namespace kvstash::tokenizer_internal {
namespace {

// GPT-2's pre-tokenization regex, used by ByteLevel when use_regex is true.
constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// One stretch of a piece and whether the pattern matched it. A piece's
// segments cover it without gaps, like Hugging Face's Pattern::find_matches.
struct Segment {
  size_t start;
  size_t end;
  bool is_match;
};

Result<Behavior> ParseBehavior(const std::string& name, const std::string& where) {
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  return Status::InvalidArgument(where + ": behavior " + Quote(name) +
                                 " is not one of Removed, Isolated, MergedWithPrevious, "
                                 "MergedWithNext, Contiguous");
}

void RangesToSegments(size_t size, const std::vector<ByteRange>& ranges,
                      std::vector<Segment>* segments) {
  size_t prev = 0;
  for (const auto& [start, end] : ranges) {
    if (prev != start) segments->push_back({prev, start, false});
    segments->push_back({start, end, true});
    prev = end;
  }
  if (prev != size) segments->push_back({prev, size, false});
}

void LiteralRanges(std::string_view text, std::string_view literal, std::vector<ByteRange>* out) {
  if (literal.empty()) return;  // Hugging Face: an empty String pattern matches nothing
  for (size_t pos = text.find(literal); pos != std::string_view::npos;
       pos = text.find(literal, pos + literal.size())) {
    out->emplace_back(pos, pos + literal.size());
  }
}

// Every numeric character is a match of its own (Digits then merges runs
// with Contiguous when individual_digits is false).
void DigitSegments(std::string_view text, std::vector<Segment>* segments) {
  size_t last = 0;
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Unit unit = DecodeUtf8(text, pos);
    if (unit.valid && IsNumeric(unit.code_point)) {
      if (last < pos) segments->push_back({last, pos, false});
      segments->push_back({pos, pos + unit.size, true});
      last = pos + unit.size;
    }
    pos += unit.size;
  }
  if (last < text.size()) segments->push_back({last, text.size(), false});
}

// Hugging Face's NormalizedString::split: turns segments into the kept
// [start, end) pieces.
std::vector<ByteRange> ApplyBehavior(const std::vector<Segment>& segments, Behavior behavior) {
  std::vector<ByteRange> kept;
  kept.reserve(segments.size());
  bool previous_match = false;
  switch (behavior) {
    case Behavior::kIsolated:
      for (const Segment& s : segments) kept.emplace_back(s.start, s.end);
      break;
    case Behavior::kRemoved:
      for (const Segment& s : segments) {
        if (!s.is_match) kept.emplace_back(s.start, s.end);
      }
      break;
    case Behavior::kContiguous:
      for (const Segment& s : segments) {
        if (s.is_match == previous_match && !kept.empty()) {
          kept.back().second = s.end;
        } else {
          kept.emplace_back(s.start, s.end);
        }
        previous_match = s.is_match;
      }
      break;
    case Behavior::kMergedWithPrevious:
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !kept.empty()) {
          kept.back().second = s.end;
        } else {
          kept.emplace_back(s.start, s.end);
        }
        previous_match = s.is_match;
      }
      break;
    case Behavior::kMergedWithNext:
      // The mirror image: walk backwards, glue a match onto the piece after it.
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) {
          kept.back().first = it->start;
        } else {
          kept.emplace_back(it->start, it->end);
        }
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
  }
  return kept;
}

void AppendPieces(std::string_view text, const std::vector<ByteRange>& ranges,
                  std::vector<std::string>* out) {
  for (const auto& [start, end] : ranges) {
    if (end > start) out->emplace_back(text.substr(start, end - start));
  }
}

}  // namespace

struct PreTokenizer::Step {
  enum class Kind { kSplit, kDigits, kByteLevel };
  Kind kind = Kind::kSplit;
  std::unique_ptr<Regex> regex;  // Split with a Regex pattern; ByteLevel with use_regex
  std::string literal;           // Split with a String pattern
  Behavior behavior = Behavior::kIsolated;
  bool invert = false;
  bool individual_digits = false;
  bool add_prefix_space = false;
};

namespace {

using Step = PreTokenizer::Step;

Result<Step> ParseSplit(const Json& value, const std::string& where) {
  Step step;
  step.kind = Step::Kind::kSplit;
  auto pattern = value.find("pattern");
  if (pattern == value.end() || !pattern->is_object()) {
    return Status::InvalidArgument(where + ": missing 'pattern' object");
  }
  const std::string pattern_where = Member(where, "pattern");
  if (pattern->contains("Regex")) {
    KVSTASH_ASSIGN_OR_RETURN(const std::string regex,
                             StringMember(*pattern, "Regex", pattern_where));
    auto compiled = Regex::Compile(regex);
    if (!compiled.ok()) return compiled.status().WithContext(Member(pattern_where, "Regex"));
    step.regex = std::move(compiled).value();
  } else if (pattern->contains("String")) {
    KVSTASH_ASSIGN_OR_RETURN(step.literal, StringMember(*pattern, "String", pattern_where));
  } else {
    return Status::InvalidArgument(pattern_where + ": expected a 'Regex' or 'String' member");
  }
  KVSTASH_ASSIGN_OR_RETURN(const std::string behavior, StringMember(value, "behavior", where));
  KVSTASH_ASSIGN_OR_RETURN(step.behavior, ParseBehavior(behavior, Member(where, "behavior")));
  KVSTASH_ASSIGN_OR_RETURN(step.invert, BoolMember(value, "invert", false, where));
  return step;
}

Status Collect(const Json& value, const std::string& where, std::vector<Step>* steps) {
  if (value.is_null()) return Status::OK();
  KVSTASH_ASSIGN_OR_RETURN(const std::string type, ComponentType(value, where));
  if (type == "Sequence") {
    KVSTASH_ASSIGN_OR_RETURN(const Json* list, ArrayMember(value, "pretokenizers", where));
    for (size_t i = 0; i < list->size(); ++i) {
      KVSTASH_RETURN_IF_ERROR(
          Collect((*list)[i], Element(Member(where, "pretokenizers"), i), steps));
    }
    return Status::OK();
  }
  if (type == "Split") {
    KVSTASH_ASSIGN_OR_RETURN(Step step, ParseSplit(value, where));
    steps->push_back(std::move(step));
    return Status::OK();
  }
  if (type == "Digits") {
    Step step;
    step.kind = Step::Kind::kDigits;
    KVSTASH_ASSIGN_OR_RETURN(step.individual_digits,
                             BoolMember(value, "individual_digits", false, where));
    steps->push_back(std::move(step));
    return Status::OK();
  }
  if (type == "ByteLevel") {
    Step step;
    step.kind = Step::Kind::kByteLevel;
    // Hugging Face requires add_prefix_space and defaults use_regex to true;
    // trim_offsets only affects offsets, which kvstash does not report.
    if (!value.contains("add_prefix_space")) {
      return Status::InvalidArgument(where + ": missing 'add_prefix_space'");
    }
    KVSTASH_ASSIGN_OR_RETURN(step.add_prefix_space,
                             BoolMember(value, "add_prefix_space", false, where));
    KVSTASH_ASSIGN_OR_RETURN(const bool use_regex, BoolMember(value, "use_regex", true, where));
    if (use_regex) {
      KVSTASH_ASSIGN_OR_RETURN(step.regex, Regex::Compile(kGpt2Regex));
    }
    steps->push_back(std::move(step));
    return Status::OK();
  }
  return UnsupportedType("pre_tokenizer", type, where);
}

// Appends the pieces `step` cuts `piece` into.
Status ApplyStep(const Step& step, std::string_view piece, std::vector<std::string>* out) {
  std::vector<Segment> segments;
  std::vector<ByteRange> ranges;
  switch (step.kind) {
    case Step::Kind::kSplit: {
      if (step.regex != nullptr) {
        KVSTASH_RETURN_IF_ERROR(step.regex->FindAll(piece, &ranges));
      } else {
        LiteralRanges(piece, step.literal, &ranges);
      }
      RangesToSegments(piece.size(), ranges, &segments);
      if (step.invert) {
        for (Segment& s : segments) s.is_match = !s.is_match;
      }
      AppendPieces(piece, ApplyBehavior(segments, step.behavior), out);
      return Status::OK();
    }
    case Step::Kind::kDigits:
      DigitSegments(piece, &segments);
      AppendPieces(piece,
                   ApplyBehavior(segments, step.individual_digits ? Behavior::kIsolated
                                                                  : Behavior::kContiguous),
                   out);
      return Status::OK();
    case Step::Kind::kByteLevel: {
      std::string prefixed;
      if (step.add_prefix_space && piece.front() != ' ') {
        prefixed.reserve(piece.size() + 1);
        prefixed += ' ';
        prefixed += piece;
        piece = prefixed;
      }
      if (step.regex != nullptr) {
        KVSTASH_RETURN_IF_ERROR(step.regex->FindAll(piece, &ranges));
        RangesToSegments(piece.size(), ranges, &segments);
      } else {
        segments.push_back({0, piece.size(), false});
      }
      for (const Segment& s : segments) {
        if (s.end == s.start) continue;
        std::string mapped;
        AppendByteLevel(piece.substr(s.start, s.end - s.start), &mapped);
        out->push_back(std::move(mapped));
      }
      return Status::OK();
    }
  }
  return Status::OK();
}

}  // namespace

PreTokenizer::PreTokenizer() = default;
PreTokenizer::~PreTokenizer() = default;

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::FromJson(const Json& value,
                                                             const std::string& where) {
  std::unique_ptr<PreTokenizer> p(new PreTokenizer());
  KVSTASH_RETURN_IF_ERROR(Collect(value, where, &p->steps_));
  return p;
}

bool PreTokenizer::has_byte_level() const {
  for (const Step& step : steps_) {
    if (step.kind == Step::Kind::kByteLevel) return true;
  }
  return false;
}

Status PreTokenizer::Apply(std::vector<std::string>* pieces) const {
  std::vector<std::string> next;
  for (const Step& step : steps_) {
    next.clear();
    next.reserve(pieces->size());
    for (const std::string& piece : *pieces) {
      if (piece.empty()) continue;
      KVSTASH_RETURN_IF_ERROR(ApplyStep(step, piece, &next));
    }
    pieces->swap(next);
  }
  return Status::OK();
}

}  // namespace kvstash::tokenizer_internal
