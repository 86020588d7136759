// Checked access to tokenizer.json values. Every accessor returns a Status
// naming the field ("model.merges[3]: expected a string or a [left, right]
// pair") instead of letting nlohmann throw; `where` is the dotted path of the
// value being read, without the file name (the caller adds that once).
#ifndef KVSTASH_ENGINE_TOKENIZER_JSON_INTERNAL_H_
#define KVSTASH_ENGINE_TOKENIZER_JSON_INTERNAL_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "serde/status.h"

namespace kvstash::tokenizer_internal {

using Json = nlohmann::json;

// `s` in single quotes for a message, with control bytes escaped and long
// strings cut to 64 bytes.
std::string Quote(std::string_view s);

// "<where>.<key>".
std::string Member(const std::string& where, std::string_view key);
// "<where>[<index>]".
std::string Element(const std::string& where, size_t index);

// The "type" of a component object. InvalidArgument if `value` is not an
// object or has no string "type".
Result<std::string> ComponentType(const Json& value, const std::string& where);

// A string member. InvalidArgument if it is missing or not a string.
Result<std::string> StringMember(const Json& object, const char* key, const std::string& where);

// A bool member; `default_value` when it is missing or null. InvalidArgument
// for any other type.
Result<bool> BoolMember(const Json& object, const char* key, bool default_value,
                        const std::string& where);

// An array member. InvalidArgument if it is missing or not an array.
Result<const Json*> ArrayMember(const Json& object, const char* key, const std::string& where);

// Token ids must lie in [0, kMaxTokenId]; the bound keeps id-indexed tables
// small (the largest real vocabularies are ~260k).
constexpr int32_t kMaxTokenId = (1 << 24) - 1;

// A token id: an integer in [0, kMaxTokenId], else InvalidArgument.
Result<int32_t> TokenId(const Json& value, const std::string& where);

// NotSupported: "<section> type '<type>' is not supported (byte-level BPE
// only)", followed by " (at <where>)" when the component is nested.
Status UnsupportedType(std::string_view section, std::string_view type, const std::string& where);

}  // namespace kvstash::tokenizer_internal

#endif  // KVSTASH_ENGINE_TOKENIZER_JSON_INTERNAL_H_
