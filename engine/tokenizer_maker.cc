#include "engine/tokenizer_maker.h"

#include <map>
#include <set>
#include <utility>

#include "engine/bpe_trainer_internal.h"
#include "engine/tokenizer_byte_level_internal.h"
#include "engine/tokenizer_json_internal.h"
#include "engine/tokenizer_pipeline_internal.h"

namespace kvstash {
namespace {

using OrderedJson = nlohmann::ordered_json;
using tokenizer_internal::Json;

// Qwen2's pre-tokenization regex (Llama-3's, with single digits).
constexpr const char* kSplitRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

OrderedJson ByteLevelJson() {
  return OrderedJson{{"type", "ByteLevel"},
                     {"add_prefix_space", false},
                     {"trim_offsets", false},
                     {"use_regex", false}};
}

// `vocab` maps a token's spelling to its id; `next_id` is the vocab's size.
// Ids are the ones Hugging Face assigns on load: a special token spelled like
// a vocab entry (say "a") is that entry, the others follow the vocab.
OrderedJson AddedTokensJson(const std::vector<std::string>& specials,
                            const std::map<std::string, int32_t>& vocab, int32_t next_id) {
  OrderedJson list = OrderedJson::array();
  for (const std::string& special : specials) {
    auto in_vocab = vocab.find(special);
    const int32_t id = in_vocab != vocab.end() ? in_vocab->second : next_id++;
    list.push_back(OrderedJson{{"id", id},
                               {"content", special},
                               {"single_word", false},
                               {"lstrip", false},
                               {"rstrip", false},
                               {"normalized", false},
                               {"special", true}});
  }
  return list;
}

std::string Spell(const std::string& bytes) {
  std::string out;
  tokenizer_internal::AppendByteLevel(bytes, &out);
  return out;
}

}  // namespace

std::string MakeByteLevelBpeJson(const std::string& training_text, size_t num_merges,
                                 const std::vector<std::string>& special_tokens) {
  std::vector<std::string> specials;
  std::set<std::string> seen;
  for (const std::string& s : special_tokens) {
    if (!s.empty() && seen.insert(s).second) specials.push_back(s);
  }

  OrderedJson root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  root["added_tokens"] = AddedTokensJson(specials, {}, 0);  // final ids once the vocab is known
  root["normalizer"] = OrderedJson{{"type", "NFC"}};
  root["pre_tokenizer"] =
      OrderedJson{{"type", "Sequence"},
                  {"pretokenizers",
                   OrderedJson::array({OrderedJson{{"type", "Split"},
                                                   {"pattern", OrderedJson{{"Regex", kSplitRegex}}},
                                                   {"behavior", "Isolated"},
                                                   {"invert", false}},
                                       ByteLevelJson()})}};
  root["post_processor"] = nullptr;
  root["decoder"] = ByteLevelJson();

  // Train on the pieces Encode will produce, by running the very pipeline
  // this file declares. With this fixed, known-good configuration it cannot
  // fail; if it somehow did, the tokenizer is still valid, just merge-free.
  std::map<std::string, int64_t> word_counts;  // ordered: a deterministic word list
  const auto error_handler = nlohmann::json::error_handler_t::replace;
  Json spec;
  try {
    spec = Json::parse(root.dump(-1, ' ', false, error_handler));
  } catch (const Json::exception&) {
    // Unreachable: the dump replaces invalid UTF-8, so it always parses.
  }
  auto pipeline = tokenizer_internal::TextPipeline::FromJson(spec);
  std::vector<tokenizer_internal::TextSegment> segments;
  if (pipeline.ok() && (*pipeline)->Run(training_text, &segments).ok()) {
    std::string bytes;
    for (const auto& segment : segments) {
      if (segment.id >= 0) continue;
      bytes.clear();
      tokenizer_internal::AppendBytesOfByteLevel(segment.text, &bytes);
      ++word_counts[bytes];
    }
  }
  const tokenizer_internal::TrainedBpe bpe = tokenizer_internal::TrainBytePairs(
      std::vector<std::pair<std::string, int64_t>>(word_counts.begin(), word_counts.end()),
      num_merges);

  std::map<std::string, int32_t> spelled;
  OrderedJson vocab = OrderedJson::object();
  for (size_t id = 0; id < bpe.tokens.size(); ++id) {
    const std::string spelling = Spell(bpe.tokens[id]);
    vocab[spelling] = id;
    spelled.emplace(spelling, static_cast<int32_t>(id));
  }
  root["added_tokens"] =
      AddedTokensJson(specials, spelled, static_cast<int32_t>(bpe.tokens.size()));
  OrderedJson merges = OrderedJson::array();
  for (const auto& m : bpe.merges) {
    // Unambiguous: the byte-level alphabet has no space (0x20 is 'Ġ').
    merges.push_back(Spell(bpe.tokens[m.left]) + " " + Spell(bpe.tokens[m.right]));
  }
  root["model"] = OrderedJson{{"type", "BPE"},
                              {"dropout", nullptr},
                              {"unk_token", nullptr},
                              {"continuing_subword_prefix", nullptr},
                              {"end_of_word_suffix", nullptr},
                              {"fuse_unk", false},
                              {"byte_fallback", false},
                              {"ignore_merges", false},
                              {"vocab", std::move(vocab)},
                              {"merges", std::move(merges)}};
  return root.dump(2, ' ', false, error_handler) + "\n";
}

}  // namespace kvstash
