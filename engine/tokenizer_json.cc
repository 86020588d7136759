#include <cstdio>

#include "engine/json_quote_internal.h"
#include "engine/tokenizer_json_internal.h"

namespace kvstash::tokenizer_internal {

std::string Quote(std::string_view s) {
  constexpr size_t kMaxBytes = 64;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMaxBytes; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (s.size() > kMaxBytes) out += "...";
  out += "'";
  return out;
}

std::string Member(const std::string& where, std::string_view key) {
  std::string out = where;
  out += '.';
  out += key;
  return out;
}

std::string Element(const std::string& where, size_t index) {
  return where + "[" + std::to_string(index) + "]";
}

Result<std::string> ComponentType(const Json& value, const std::string& where) {
  if (!value.is_object()) {
    return Status::InvalidArgument(where + ": expected an object, got " + value.type_name());
  }
  return StringMember(value, "type", where);
}

Result<std::string> StringMember(const Json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) return Status::InvalidArgument(where + ": missing '" + key + "'");
  if (!it->is_string()) {
    return Status::InvalidArgument(Member(where, key) + ": expected a string, got " +
                                   it->type_name());
  }
  return it->get<std::string>();
}

Result<bool> BoolMember(const Json& object, const char* key, bool default_value,
                        const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return default_value;
  if (!it->is_boolean()) {
    return Status::InvalidArgument(Member(where, key) + ": expected a bool, got " +
                                   it->type_name());
  }
  return it->get<bool>();
}

Result<const Json*> ArrayMember(const Json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) return Status::InvalidArgument(where + ": missing '" + key + "'");
  if (!it->is_array()) {
    return Status::InvalidArgument(Member(where, key) + ": expected an array, got " +
                                   it->type_name());
  }
  return &*it;
}

Result<int32_t> TokenId(const Json& value, const std::string& where) {
  if (value.is_number_unsigned() || value.is_number_integer()) {
    // get<int64_t> of an unsigned above INT64_MAX wraps negative: still rejected.
    const int64_t id = value.get<int64_t>();
    if (id >= 0 && id <= kMaxTokenId) return static_cast<int32_t>(id);
    return Status::InvalidArgument(where + ": id " + json_internal::QuoteJson(value) +
                                   " is not in [0, " + std::to_string(kMaxTokenId) + "]");
  }
  return Status::InvalidArgument(where + ": expected an integer id, got " +
                                 std::string(value.type_name()));
}

Status UnsupportedType(std::string_view section, std::string_view type, const std::string& where) {
  std::string msg(section);
  msg += " type ";
  msg += Quote(type);
  msg += " is not supported (byte-level BPE only)";
  if (where != section) msg += " (at " + where + ")";
  return Status::NotSupported(msg);
}

}  // namespace kvstash::tokenizer_internal
