#include "serde/model_id.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace kvstash {

namespace {

constexpr std::string_view kCanonicalHeader = "kvstash-model-description v1";

std::string FormatDouble(double v) {
  // %.17g round-trips every double, so parsing and re-fingerprinting a stored
  // description gives the same ModelId.
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

Status ParseU32(std::string_view key, const std::string& value, uint32_t* out) {
  errno = 0;
  char* end = nullptr;
  unsigned long v = std::strtoul(value.c_str(), &end, 10);
  // Canonical numbers only: digits, no sign or spaces strtoul would accept.
  if (value.empty() || value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 ||
      v > 0xffffffffUL) {
    return Status::Corruption("model description: bad number for " + std::string(key) + ": '" +
                              value + "'");
  }
  *out = static_cast<uint32_t>(v);
  return Status::OK();
}

}  // namespace

Result<std::string> ModelDescription::ToCanonicalText() const {
  std::map<std::string, std::string> fields = extra;
  auto set = [&](const char* key, std::string value) -> Status {
    if (extra.count(key)) {
      return Status::InvalidArgument(std::string("model description: extra key '") + key +
                                     "' clashes with a built-in field");
    }
    fields[key] = std::move(value);
    return Status::OK();
  };
  KVSTASH_RETURN_IF_ERROR(set("architecture", architecture));
  KVSTASH_RETURN_IF_ERROR(set("num_layers", std::to_string(num_layers)));
  KVSTASH_RETURN_IF_ERROR(set("hidden_size", std::to_string(hidden_size)));
  KVSTASH_RETURN_IF_ERROR(set("num_heads", std::to_string(num_heads)));
  KVSTASH_RETURN_IF_ERROR(set("num_kv_heads", std::to_string(num_kv_heads)));
  KVSTASH_RETURN_IF_ERROR(set("head_dim", std::to_string(head_dim)));
  KVSTASH_RETURN_IF_ERROR(set("vocab_size", std::to_string(vocab_size)));
  KVSTASH_RETURN_IF_ERROR(set("rope_theta", FormatDouble(rope_theta)));
  KVSTASH_RETURN_IF_ERROR(set("rope_scaling", rope_scaling));
  KVSTASH_RETURN_IF_ERROR(set("kv_dtype", DTypeName(kv_dtype)));
  KVSTASH_RETURN_IF_ERROR(set("kv_layout", kv_layout));
  KVSTASH_RETURN_IF_ERROR(set("block_tokens", std::to_string(block_tokens)));
  KVSTASH_RETURN_IF_ERROR(set("tokenizer_digest", tokenizer_digest));
  KVSTASH_RETURN_IF_ERROR(set("weights_digest", weights_digest));
  KVSTASH_RETURN_IF_ERROR(set("tag", tag));

  std::string text(kCanonicalHeader);
  text += '\n';
  for (const auto& [key, value] : fields) {  // std::map: sorted by key
    if (key.empty() || key.find_first_of("=\n") != std::string::npos) {
      return Status::InvalidArgument("model description: bad key '" + key + "'");
    }
    if (value.find('\n') != std::string::npos) {
      return Status::InvalidArgument("model description: value of '" + key +
                                     "' contains a newline");
    }
    text += key;
    text += '=';
    text += value;
    text += '\n';
  }
  return text;
}

Result<ModelDescription> ModelDescription::FromCanonicalText(std::string_view text) {
  size_t eol = text.find('\n');
  if (eol == std::string_view::npos || text.substr(0, eol) != kCanonicalHeader) {
    return Status::Corruption("model description: missing '" + std::string(kCanonicalHeader) +
                              "' header line");
  }
  std::map<std::string, std::string> fields;
  size_t pos = eol + 1;
  while (pos < text.size()) {
    eol = text.find('\n', pos);
    if (eol == std::string_view::npos) {
      return Status::Corruption("model description: last line has no newline");
    }
    std::string_view line = text.substr(pos, eol - pos);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Status::Corruption("model description: malformed line '" + std::string(line) + "'");
    }
    fields[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    pos = eol + 1;
  }

  ModelDescription d;
  auto take = [&](const char* key) -> Result<std::string> {
    auto it = fields.find(key);
    if (it == fields.end()) {
      return Status::Corruption(std::string("model description: missing field '") + key + "'");
    }
    std::string v = std::move(it->second);
    fields.erase(it);
    return v;
  };
  auto take_u32 = [&](const char* key, uint32_t* out) -> Status {
    KVSTASH_ASSIGN_OR_RETURN(std::string v, take(key));
    return ParseU32(key, v, out);
  };
  KVSTASH_ASSIGN_OR_RETURN(d.architecture, take("architecture"));
  KVSTASH_RETURN_IF_ERROR(take_u32("num_layers", &d.num_layers));
  KVSTASH_RETURN_IF_ERROR(take_u32("hidden_size", &d.hidden_size));
  KVSTASH_RETURN_IF_ERROR(take_u32("num_heads", &d.num_heads));
  KVSTASH_RETURN_IF_ERROR(take_u32("num_kv_heads", &d.num_kv_heads));
  KVSTASH_RETURN_IF_ERROR(take_u32("head_dim", &d.head_dim));
  KVSTASH_RETURN_IF_ERROR(take_u32("vocab_size", &d.vocab_size));
  KVSTASH_RETURN_IF_ERROR(take_u32("block_tokens", &d.block_tokens));
  KVSTASH_ASSIGN_OR_RETURN(std::string theta, take("rope_theta"));
  char* end = nullptr;
  d.rope_theta = std::strtod(theta.c_str(), &end);
  if (theta.empty() || *end != '\0') {
    return Status::Corruption("model description: bad rope_theta '" + theta + "'");
  }
  KVSTASH_ASSIGN_OR_RETURN(d.rope_scaling, take("rope_scaling"));
  KVSTASH_ASSIGN_OR_RETURN(std::string dtype, take("kv_dtype"));
  auto parsed = ParseDType(dtype);
  if (!parsed.ok()) return Status::Corruption("model description: " + parsed.status().message());
  d.kv_dtype = *parsed;
  KVSTASH_ASSIGN_OR_RETURN(d.kv_layout, take("kv_layout"));
  KVSTASH_ASSIGN_OR_RETURN(d.tokenizer_digest, take("tokenizer_digest"));
  KVSTASH_ASSIGN_OR_RETURN(d.weights_digest, take("weights_digest"));
  KVSTASH_ASSIGN_OR_RETURN(d.tag, take("tag"));
  d.extra = std::move(fields);
  return d;
}

Result<ModelId> ModelDescription::Fingerprint() const {
  KVSTASH_ASSIGN_OR_RETURN(std::string text, ToCanonicalText());
  return Xxh3Hash128(text);
}

std::string ModelDescription::Summary() const {
  std::string s = architecture.empty() ? "model" : architecture;
  s += " " + std::to_string(num_layers) + "L";
  s += " kv " + std::to_string(num_kv_heads) + "x" + std::to_string(head_dim);
  s += " " + std::string(DTypeName(kv_dtype));
  s += " block " + std::to_string(block_tokens);
  if (!tag.empty()) s += " tag " + tag;
  return s;
}

}  // namespace kvstash
