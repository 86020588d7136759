// GPT-2's reversible mapping between the 256 byte values and 256 printable
// characters (`bytes_to_unicode`). Byte-level BPE vocabularies spell every
// token in these characters: byte 0x20 (space) is 'Ġ' (U+0120), 0x0A is 'Ċ'
// (U+010A), printable ASCII and most of Latin-1 stand for themselves.
#ifndef KVSTASH_ENGINE_TOKENIZER_BYTE_LEVEL_INTERNAL_H_
#define KVSTASH_ENGINE_TOKENIZER_BYTE_LEVEL_INTERNAL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace kvstash::tokenizer_internal {

// The UTF-8 of the character that stands for byte `b`.
std::string_view ByteToUnicode(uint8_t b);

// The byte that `code_point` stands for, or -1 if it is not one of the 256.
int UnicodeToByte(char32_t code_point);

// Appends the byte-level spelling of every byte of `bytes` (any bytes at all).
void AppendByteLevel(std::string_view bytes, std::string* out);

// The inverse of AppendByteLevel for one token: if every character of `token`
// stands for a byte, appends those bytes and returns true; otherwise appends
// nothing and returns false.
bool AppendBytesOfByteLevel(std::string_view token, std::string* out);

}  // namespace kvstash::tokenizer_internal

#endif  // KVSTASH_ENGINE_TOKENIZER_BYTE_LEVEL_INTERNAL_H_
