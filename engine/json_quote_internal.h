// Quoting a JSON value from an untrusted file in an error message.
//
// nlohmann::json::dump() recurses once per level of nesting, so dumping a
// value nested a million levels deep (a few MB of '[') overflows the stack
// (a fuzz finding, docs/fuzzing.md), and it throws on strings that are not
// UTF-8. QuoteJson prints a scalar, or an array or object of scalars, as
// JSON (invalid UTF-8 replaced, at most kMaxQuotedJson characters), and
// anything nested deeper by its kind and size alone.
#ifndef KVSTASH_ENGINE_JSON_QUOTE_INTERNAL_H_
#define KVSTASH_ENGINE_JSON_QUOTE_INTERNAL_H_

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace kvstash::json_internal {

inline constexpr size_t kMaxQuotedJson = 80;

inline std::string QuoteJson(const nlohmann::json& value) {
  bool flat = value.is_primitive();
  if (value.is_structured()) {
    flat = true;
    for (const auto& element : value) flat = flat && element.is_primitive();
  }
  if (!flat) {
    return std::string(value.is_array() ? "an array" : "an object") + " of " +
           std::to_string(value.size()) + (value.size() == 1 ? " element" : " elements") +
           " holding arrays or objects";
  }
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kMaxQuotedJson) text = text.substr(0, kMaxQuotedJson - 3) + "...";
  return text;
}

}  // namespace kvstash::json_internal

#endif  // KVSTASH_ENGINE_JSON_QUOTE_INTERNAL_H_
