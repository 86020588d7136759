#include "engine/tokenizer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "engine/bpe_model_internal.h"
#include "engine/tokenizer_byte_level_internal.h"
#include "engine/tokenizer_json_internal.h"
#include "engine/tokenizer_pipeline_internal.h"

namespace kvstash {

using tokenizer_internal::BpeModel;
using tokenizer_internal::Json;
using tokenizer_internal::TextPipeline;
using tokenizer_internal::TextSegment;

namespace {

// Counts the ByteLevel steps of the decoder; anything else is NotSupported,
// since Decode implements exactly one byte-level inverse mapping.
Status CountByteLevelDecoders(const Json& value, const std::string& where, int* count) {
  if (value.is_null()) return Status::OK();
  KVSTASH_ASSIGN_OR_RETURN(const std::string type, tokenizer_internal::ComponentType(value, where));
  if (type == "ByteLevel") {
    ++*count;
    return Status::OK();
  }
  if (type == "Sequence") {
    KVSTASH_ASSIGN_OR_RETURN(const Json* list,
                             tokenizer_internal::ArrayMember(value, "decoders", where));
    for (size_t i = 0; i < list->size(); ++i) {
      KVSTASH_RETURN_IF_ERROR(CountByteLevelDecoders(
          (*list)[i], tokenizer_internal::Element(tokenizer_internal::Member(where, "decoders"), i),
          count));
    }
    return Status::OK();
  }
  return tokenizer_internal::UnsupportedType("decoder", type, where);
}

// Hugging Face does not take the ids written in added_tokens: it derives them
// again (a token already in the vocab keeps its vocab id; the others take the
// ids after the vocab's size, in file order) and only logs a warning when they
// differ. Such a file has two answers for the same text; refuse it.
Status CheckAddedTokenIds(const BpeModel& model,
                          const std::vector<tokenizer_internal::AddedToken>& added) {
  const auto vocab_len = static_cast<int64_t>(model.vocab().size());
  std::unordered_map<int64_t, std::string_view> vocab_by_id;
  for (const auto& [content, id] : model.vocab()) vocab_by_id.emplace(id, content);
  std::unordered_map<std::string, int64_t> assigned;
  int64_t max_assigned = -1;
  for (size_t i = 0; i < added.size(); ++i) {
    const auto& token = added[i];
    int64_t expected = 0;
    if (auto it = assigned.find(token.content); it != assigned.end()) {
      expected = it->second;
    } else if (auto id = model.TokenToId(token.content)) {
      expected = *id;
    } else if (max_assigned < 0) {
      expected = vocab_len;
    } else {
      expected = (max_assigned >= vocab_len || vocab_len == 0) ? max_assigned + 1 : vocab_len;
    }
    assigned.emplace(token.content, expected);
    max_assigned = std::max(max_assigned, expected);
    if (expected != token.id) {
      return Status::InvalidArgument(
          tokenizer_internal::Element("added_tokens", i) + " " +
          tokenizer_internal::Quote(token.content) + ": id " + std::to_string(token.id) +
          " differs from the id Hugging Face assigns, " + std::to_string(expected) +
          " (a token in the vocab keeps its vocab id; the others take the ids after the "
          "vocab, in file order)");
    }
    // A vocab whose ids have holes puts ids "after the vocab" on its own
    // entries: one id would then name two tokens.
    if (auto owner = vocab_by_id.find(token.id);
        owner != vocab_by_id.end() && owner->second != token.content) {
      return Status::InvalidArgument(tokenizer_internal::Element("added_tokens", i) + " " +
                                     tokenizer_internal::Quote(token.content) + ": id " +
                                     std::to_string(token.id) + " is also the vocab's id of " +
                                     tokenizer_internal::Quote(owner->second));
    }
  }
  return Status::OK();
}

Status CheckDecoder(const Json& root) {
  auto it = root.find("decoder");
  int count = 0;
  if (it != root.end()) KVSTASH_RETURN_IF_ERROR(CountByteLevelDecoders(*it, "decoder", &count));
  if (count == 0) {
    return Status::NotSupported("decoder has no 'ByteLevel' step (byte-level BPE only)");
  }
  return Status::OK();
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status::IOError(path + ": cannot open: " + std::strerror(errno));
  std::string bytes;
  char buf[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) bytes.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  const int read_errno = errno;
  std::fclose(f);
  if (failed) return Status::IOError(path + ": read failed: " + std::strerror(read_errno));
  return Parse(bytes, path);
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view json) {
  return Parse(json, "tokenizer.json");
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::Parse(std::string_view json,
                                                    const std::string& source) {
  Json root;
  try {
    root = Json::parse(json.begin(), json.end());
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(source + ": malformed JSON: " + e.what());
  }
  // The readers below check types before every access; this only guards
  // against a missed case turning into an exception across the API.
  try {
    if (!root.is_object()) {
      return Status::InvalidArgument(source + ": expected a JSON object, got " + root.type_name());
    }
    auto model = root.find("model");
    if (model == root.end()) return Status::InvalidArgument(source + ": missing 'model'");
    // The model's kind first: for a Unigram or WordPiece file that is the
    // useful message, not whichever of its other sections fails first.
    if (model->is_object() && model->contains("type") && (*model)["type"].is_string() &&
        (*model)["type"].get_ref<const std::string&>() != "BPE") {
      return tokenizer_internal::UnsupportedType("model", (*model)["type"].get<std::string>(),
                                                 "model")
          .WithContext(source);
    }

    std::unique_ptr<Tokenizer> t(new Tokenizer());
    auto pipeline = TextPipeline::FromJson(root);
    if (!pipeline.ok()) return pipeline.status().WithContext(source);
    t->pipeline_ = std::move(pipeline).value();
    auto bpe = BpeModel::FromJson(*model, "model");
    if (!bpe.ok()) return bpe.status().WithContext(source);
    t->model_ = std::move(bpe).value();
    KVSTASH_RETURN_IF_ERROR(CheckDecoder(root).WithContext(source));
    const auto& added_tokens = t->pipeline_->added_tokens().tokens();
    KVSTASH_RETURN_IF_ERROR(CheckAddedTokenIds(*t->model_, added_tokens).WithContext(source));

    int64_t max_id = -1;
    for (const auto& [token, id] : t->model_->vocab()) max_id = std::max<int64_t>(max_id, id);
    for (const auto& added : added_tokens) max_id = std::max<int64_t>(max_id, added.id);
    t->vocab_size_ = static_cast<size_t>(max_id + 1);
    t->decoded_.resize(t->vocab_size_);
    for (const auto& [token, id] : t->model_->vocab()) {
      // Hugging Face's ByteLevel decoder, per token: a token with a character
      // outside the byte alphabet is kept as its UTF-8 spelling.
      std::string& bytes = t->decoded_[id];
      if (!tokenizer_internal::AppendBytesOfByteLevel(token, &bytes)) bytes = token;
    }
    for (const auto& added : added_tokens) {
      // One that is also a vocab entry has that entry's id (checked above) and
      // decodes like it, so that a byte token such as "é" (byte 0xE9) stays a
      // byte. The others decode to their content; Hugging Face would instead
      // run it through the byte-level decoder and garble non-ASCII content.
      if (!t->model_->TokenToId(added.content)) t->decoded_[added.id] = added.content;
      t->added_ids_.emplace(added.content, added.id);  // first entry wins, as for matching
    }
    t->digest_ = Xxh3Hash128(json);
    return t;
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(source + ": " + e.what());
  }
}

Result<std::vector<int32_t>> Tokenizer::Encode(std::string_view text) const {
  std::vector<TextSegment> segments;
  KVSTASH_RETURN_IF_ERROR(pipeline_->Run(text, &segments).WithContext("Encode"));
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + segments.size());
  for (const TextSegment& segment : segments) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
    } else {
      KVSTASH_RETURN_IF_ERROR(model_->Tokenize(segment.text, &ids).WithContext("Encode"));
    }
  }
  return ids;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id >= 0 && static_cast<size_t>(id) < decoded_.size()) out += decoded_[id];
  }
  return out;
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  if (auto it = added_ids_.find(std::string(token)); it != added_ids_.end()) return it->second;
  return model_->TokenToId(token);
}

}  // namespace kvstash
