#include <utility>

#include "engine/tokenizer_pipeline_internal.h"

namespace kvstash::tokenizer_internal {
namespace {

const Json& MemberOrNull(const Json& root, const char* key) {
  static const Json kNull;
  auto it = root.find(key);
  return it == root.end() ? kNull : *it;
}

}  // namespace

Result<std::unique_ptr<TextPipeline>> TextPipeline::FromJson(const Json& root) {
  std::unique_ptr<TextPipeline> p(new TextPipeline());
  KVSTASH_ASSIGN_OR_RETURN(p->normalizer_,
                           Normalizer::FromJson(MemberOrNull(root, "normalizer"), "normalizer"));
  const Json& pre = MemberOrNull(root, "pre_tokenizer");
  KVSTASH_ASSIGN_OR_RETURN(p->pre_tokenizer_, PreTokenizer::FromJson(pre, "pre_tokenizer"));
  if (!p->pre_tokenizer_->has_byte_level()) {
    // Without it the model would see raw characters, which a byte-level vocab
    // does not spell (a space is 'Ġ' there).
    return Status::NotSupported("pre_tokenizer has no 'ByteLevel' step (byte-level BPE only)" +
                                std::string(pre.is_null() ? "; it is null" : ""));
  }
  KVSTASH_ASSIGN_OR_RETURN(
      p->added_, AddedTokens::FromJson(MemberOrNull(root, "added_tokens"), "added_tokens"));
  KVSTASH_RETURN_IF_ERROR(p->added_.Prepare(p->normalizer_));
  return p;
}

Status TextPipeline::Run(std::string_view text, std::vector<TextSegment>* out) const {
  std::vector<TextSegment> raw;
  added_.Split(text, /*normalized=*/false, &raw);
  std::string normalized;
  std::vector<TextSegment> stretches;
  std::vector<std::string> pieces;
  for (TextSegment& segment : raw) {
    if (segment.id >= 0) {
      out->push_back(std::move(segment));
      continue;
    }
    KVSTASH_RETURN_IF_ERROR(normalizer_.Apply(segment.text, &normalized));
    stretches.clear();
    added_.Split(normalized, /*normalized=*/true, &stretches);
    for (TextSegment& stretch : stretches) {
      if (stretch.id >= 0) {
        out->push_back(std::move(stretch));
        continue;
      }
      pieces.clear();
      pieces.push_back(std::move(stretch.text));
      KVSTASH_RETURN_IF_ERROR(pre_tokenizer_->Apply(&pieces));
      for (std::string& piece : pieces) out->push_back({-1, std::move(piece)});
    }
  }
  return Status::OK();
}

}  // namespace kvstash::tokenizer_internal
