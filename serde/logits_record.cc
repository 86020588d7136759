#include "serde/logits_record.h"

#include <cstring>

#include "serde/hash128.h"
#include "serde/le_coding.h"

namespace kvstash {

namespace {
constexpr uint8_t kLogitsDTypeF32 = 0;
constexpr size_t kFixedSize = 4 + 2 + 3 * Hash128::kEncodedSize + 4 + 1;
constexpr size_t kChecksumSize = 8;
static_assert(sizeof(float) == 4, "logits are stored as IEEE-754 binary32");
}  // namespace

void EncodeLogitsRecord(const LogitsKey& key, const float* logits, uint32_t vocab,
                        std::string* out) {
  out->clear();
  out->reserve(kFixedSize + 4 * size_t{vocab} + kChecksumSize);
  out->append(kLogitsMagic, 4);
  PutFixed16(out, kLogitsFormatVersion);
  key.model.AppendTo(out);
  key.parent.AppendTo(out);
  key.tail.AppendTo(out);
  PutFixed32(out, vocab);
  PutFixed8(out, kLogitsDTypeF32);
  for (uint32_t i = 0; i < vocab; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &logits[i], 4);
    PutFixed32(out, bits);
  }
  PutFixed64(out, Xxh3Hash64(out->data(), out->size()));
}

Result<uint32_t> VerifyLogitsRecord(std::string_view record, const LogitsKey& key) {
  LeReader in(record);
  std::string_view magic;
  uint16_t version = 0;
  if (!in.ReadBytes(4, &magic) || std::memcmp(magic.data(), kLogitsMagic, 4) != 0) {
    return Status::Corruption("logits record: bad magic");
  }
  if (!in.Read16(&version)) return Status::Corruption("logits record: truncated version");
  if (version > kLogitsFormatVersion) {
    return Status::NotSupported("logits record: version " + std::to_string(version) +
                                " is newer than this build reads (" +
                                std::to_string(kLogitsFormatVersion) + ")");
  }
  if (version == 0) return Status::Corruption("logits record: version 0");
  std::string_view ids;
  uint32_t vocab = 0;
  uint8_t dtype = 0;
  if (!in.ReadBytes(3 * Hash128::kEncodedSize, &ids) || !in.Read32(&vocab) || !in.Read8(&dtype)) {
    return Status::Corruption("logits record: truncated header");
  }
  if (Hash128::DecodeFrom(ids.data()) != key.model ||
      Hash128::DecodeFrom(ids.data() + Hash128::kEncodedSize) != key.parent ||
      Hash128::DecodeFrom(ids.data() + 2 * Hash128::kEncodedSize) != key.tail) {
    return Status::Corruption("logits record: identity does not match its key");
  }
  if (dtype != kLogitsDTypeF32) {
    return Status::Corruption("logits record: unknown dtype " + std::to_string(dtype));
  }
  if (vocab == 0 || vocab > kMaxLogitsVocab) {
    return Status::Corruption("logits record: vocab " + std::to_string(vocab) + " out of range");
  }
  const size_t expected = kFixedSize + 4 * size_t{vocab} + kChecksumSize;
  if (record.size() != expected) {
    return Status::Corruption("logits record: " + std::to_string(record.size()) +
                              " bytes, expected " + std::to_string(expected));
  }
  LeReader sum_reader(record.substr(record.size() - kChecksumSize));
  uint64_t sum = 0;
  sum_reader.Read64(&sum);
  if (sum != Xxh3Hash64(record.data(), record.size() - kChecksumSize)) {
    return Status::Corruption("logits record: checksum mismatch");
  }
  return vocab;
}

Status DecodeLogitsRecord(std::string_view record, const LogitsKey& key, uint32_t vocab,
                          float* dst) {
  KVSTASH_ASSIGN_OR_RETURN(uint32_t stored_vocab, VerifyLogitsRecord(record, key));
  if (stored_vocab != vocab) {
    return Status::Corruption("logits record: vocab " + std::to_string(stored_vocab) +
                              ", the model has " + std::to_string(vocab));
  }
  const char* p = record.data() + kFixedSize;
  for (uint32_t i = 0; i < vocab; ++i, p += 4) {
    const uint32_t bits = static_cast<uint32_t>(static_cast<unsigned char>(p[0])) |
                          static_cast<uint32_t>(static_cast<unsigned char>(p[1])) << 8 |
                          static_cast<uint32_t>(static_cast<unsigned char>(p[2])) << 16 |
                          static_cast<uint32_t>(static_cast<unsigned char>(p[3])) << 24;
    std::memcpy(&dst[i], &bits, 4);
  }
  return Status::OK();
}

}  // namespace kvstash
