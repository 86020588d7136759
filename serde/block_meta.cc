#include "serde/block_meta.h"

#include "serde/le_coding.h"

namespace kvstash {

std::string BlockMeta::Encode() const {
  std::string out;
  out.reserve(1 + 16 + 2 + 8 * 5 + 4 + 4 * tokens.size());
  PutFixed8(&out, kBlockMetaVersion);
  parent.AppendTo(&out);
  PutFixed8(&out, static_cast<uint8_t>(codec));
  PutFixed8(&out, static_cast<uint8_t>(dtype));
  PutFixed64(&out, raw_bytes);
  PutFixed64(&out, stored_bytes);
  PutFixed64(&out, created_ms);
  PutFixed64(&out, last_access_ms);
  PutFixed64(&out, hits);
  PutFixed32(&out, static_cast<uint32_t>(tokens.size()));
  for (int32_t t : tokens) PutFixed32(&out, static_cast<uint32_t>(t));
  return out;
}

Result<BlockMeta> BlockMeta::Decode(std::string_view bytes) {
  LeReader r(bytes);
  uint8_t version = 0, codec = 0, dtype = 0;
  if (!r.Read8(&version)) return Status::Corruption("block meta: empty record");
  if (version > kBlockMetaVersion) {
    return Status::NotSupported("block meta version " + std::to_string(version) +
                                " is newer than this kvstash reads (" +
                                std::to_string(kBlockMetaVersion) + ")");
  }
  if (version == 0) return Status::Corruption("block meta: version 0");
  BlockMeta m;
  std::string_view parent;
  uint32_t count = 0;
  if (!r.ReadBytes(Hash128::kEncodedSize, &parent) || !r.Read8(&codec) || !r.Read8(&dtype) ||
      !r.Read64(&m.raw_bytes) || !r.Read64(&m.stored_bytes) || !r.Read64(&m.created_ms) ||
      !r.Read64(&m.last_access_ms) || !r.Read64(&m.hits) || !r.Read32(&count)) {
    return Status::Corruption("block meta: truncated fixed fields");
  }
  if (codec > static_cast<uint8_t>(Codec::kZstdBytePlanes)) {
    return Status::Corruption("block meta: unknown codec " + std::to_string(codec));
  }
  if (!IsKnownDType(dtype)) return Status::Corruption("block meta: unknown dtype");
  if (count == 0 || count > kMaxBlockTokens || r.remaining() != 4ull * count) {
    return Status::Corruption("block meta: token count " + std::to_string(count) +
                              " does not match the " + std::to_string(r.remaining()) +
                              " bytes that follow");
  }
  m.parent = Hash128::DecodeFrom(parent.data());
  m.codec = static_cast<Codec>(codec);
  m.dtype = static_cast<DType>(dtype);
  m.tokens.resize(count);
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t t = 0;
    r.Read32(&t);
    m.tokens[i] = static_cast<int32_t>(t);
  }
  return m;
}

}  // namespace kvstash
