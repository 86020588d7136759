#include "gc/block_stats.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "serde/le_coding.h"

namespace kvstash {

namespace {

float FloatFromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// Loads element `i` of a little-endian array of `dtype` as a float.
float LoadElement(const char* data, DType dtype, size_t i) {
  switch (dtype) {
    case DType::kF32:
      return FloatFromBits(DecodeFixed32(data + 4 * i));
    case DType::kF16:
      return HalfToFloat(DecodeFixed16(data + 2 * i));
    case DType::kBF16:
      return Bf16ToFloat(DecodeFixed16(data + 2 * i));
  }
  return 0;
}

TensorStats StatsOf(const char* data, DType dtype, size_t n) {
  TensorStats st;
  st.elements = n;
  double sum = 0;
  uint64_t finite = 0;
  for (size_t i = 0; i < n; ++i) {
    const float x = LoadElement(data, dtype, i);
    if (!std::isfinite(x)) {
      ++st.nonfinite;
      continue;
    }
    if (finite == 0) {
      st.min = st.max = x;
    } else {
      st.min = std::min<double>(st.min, x);
      st.max = std::max<double>(st.max, x);
    }
    st.abs_max = std::max<double>(st.abs_max, std::fabs(x));
    sum += x;
    ++finite;
  }
  if (finite) st.mean = sum / static_cast<double>(finite);
  return st;
}

std::string TokensDiff(const std::vector<int32_t>& blob, const std::vector<int32_t>& meta) {
  if (blob.size() != meta.size()) {
    return "blob holds " + std::to_string(blob.size()) + " tokens, meta " +
           std::to_string(meta.size());
  }
  size_t i = 0;
  while (blob[i] == meta[i]) ++i;
  return "token " + std::to_string(i) + " differs between blob and meta (" +
         std::to_string(blob[i]) + " != " + std::to_string(meta[i]) + ")";
}

// The header against the key and the meta: each disagreement is one problem.
void CheckAgreement(const BlockHeader& h, BlockInspection* out) {
  auto& problems = out->problems;
  if (h.model != out->model) {
    problems.push_back("blob header names model " + h.model.ToHex() + ", key " +
                       out->model.ToHex());
  }
  if (h.hash != out->hash) problems.push_back("blob header names block " + h.hash.ToHex());
  if (!out->meta) return;
  const BlockMeta& m = *out->meta;
  if (h.parent != m.parent) {
    problems.push_back("blob header names parent " + h.parent.ToHex() + ", meta " +
                       m.parent.ToHex());
  }
  if (h.tokens != m.tokens) problems.push_back(TokensDiff(h.tokens, m.tokens));
  if (h.raw_bytes != m.raw_bytes) {
    problems.push_back("raw size " + std::to_string(h.raw_bytes) + " in blob, " +
                       std::to_string(m.raw_bytes) + " in meta");
  }
  if (h.codec != m.codec || h.shape.dtype != m.dtype) {
    problems.push_back(std::string("codec/dtype ") + CodecName(h.codec) + "/" +
                       DTypeName(h.shape.dtype) + " in blob, " + CodecName(m.codec) + "/" +
                       DTypeName(m.dtype) + " in meta");
  }
  if (out->blob_bytes != m.stored_bytes) {
    problems.push_back("blob is " + std::to_string(out->blob_bytes) + " bytes, meta says " +
                       std::to_string(m.stored_bytes));
  }
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(uint8_t(c)) != 0; });
}

}  // namespace

float Bf16ToFloat(uint16_t bits) { return FloatFromBits(uint32_t{bits} << 16); }

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = uint32_t{bits & 0x8000u} << 16;
  const uint32_t exponent = (bits >> 10) & 0x1f;
  const uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in binary32.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) return FloatFromBits(sign | 0x7f800000u | (mantissa << 13));
  return FloatFromBits(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

Result<std::vector<LayerStats>> ComputeLayerStats(const BlockShape& shape, uint64_t tokens,
                                                  std::string_view raw) {
  const size_t element = DTypeSize(shape.dtype);
  if (element == 0) return Status::InvalidArgument("block stats: unknown dtype");
  if (raw.size() != shape.RawBytes(tokens)) {
    return Status::InvalidArgument("block stats: " + std::to_string(raw.size()) +
                                   " raw bytes for a shape of " +
                                   std::to_string(shape.RawBytes(tokens)));
  }
  // One (layer, K|V) is kv_heads * tokens * head_dim contiguous elements.
  const size_t per_tensor = size_t{shape.kv_heads} * tokens * shape.head_dim;
  std::vector<LayerStats> layers(shape.layers);
  for (uint32_t l = 0; l < shape.layers; ++l) {
    const char* k = raw.data() + (2 * size_t{l}) * per_tensor * element;
    layers[l].k = StatsOf(k, shape.dtype, per_tensor);
    layers[l].v = StatsOf(k + per_tensor * element, shape.dtype, per_tensor);
  }
  return layers;
}

Result<BlockInspection> InspectBlock(DiskTier* disk, const ModelId& model, const BlockHash& hash) {
  BlockInspection out;
  out.model = model;
  out.hash = hash;
  auto meta = disk->GetMeta(model, hash);
  if (meta.ok()) {
    out.meta = std::move(meta).value();
  } else if (meta.status().IsCorruption() || meta.status().IsNotSupported()) {
    out.problems.push_back("meta: " + meta.status().ToString());
  } else if (!meta.status().IsNotFound()) {
    return meta.status();
  }
  KVSTASH_ASSIGN_OR_RETURN(std::vector<ChildLink> children, disk->Children(model, hash));
  for (const ChildLink& c : children) out.children.push_back(c.hash);

  std::string blob;
  Status read = disk->GetBlob(model, hash, &blob);
  if (read.IsNotFound()) {
    if (!out.meta && out.problems.empty()) {
      return Status::NotFound("no block " + hash.ToHex() + " in model " + model.ToHex());
    }
    out.problems.push_back("blob missing (meta present)");
    return out;
  }
  if (read.IsCorruption()) {
    out.problems.push_back("blob unreadable: " + read.ToString());
    return out;
  }
  KVSTASH_RETURN_IF_ERROR(read);
  out.blob_present = true;
  out.blob_bytes = blob.size();
  if (!out.meta && out.problems.empty()) out.problems.push_back("meta missing (blob present)");

  if (blob.size() >= kBlockChecksumSize) {
    const size_t body = blob.size() - kBlockChecksumSize;
    out.checksum_ok = Xxh3Hash64(blob.data(), body) == DecodeFixed64(blob.data() + body);
  }
  auto verified = ParseBlockHeader(blob, /*verify_checksum=*/true);
  if (verified.ok()) {
    out.header = *verified;
  } else {
    out.problems.push_back(verified.status().ToString());
    auto unverified = ParseBlockHeader(blob, /*verify_checksum=*/false);
    if (unverified.ok()) {
      out.header = std::move(unverified).value();
    } else {
      out.header_error = unverified.status().ToString();
    }
  }
  if (out.header) CheckAgreement(*out.header, &out);
  if (!verified.ok()) return out;

  // The blob verifies: decode the whole block for its statistics.
  std::string raw(verified->raw_bytes, '\0');
  BlockCodec codec;
  auto decoded = codec.Decode(blob, {{0, raw.data(), raw.size()}});
  if (!decoded.ok()) {
    out.problems.push_back(decoded.status().ToString());
    return out;
  }
  auto layers = ComputeLayerStats(verified->shape, verified->tokens.size(), raw);
  if (!layers.ok()) {
    out.problems.push_back(layers.status().ToString());
    return out;
  }
  out.layers = std::move(layers).value();
  return out;
}

Result<std::vector<std::pair<ModelId, BlockHash>>> FindBlocks(DiskTier* disk,
                                                              const std::optional<ModelId>& model,
                                                              std::string_view hex_prefix) {
  if (hex_prefix.empty() || hex_prefix.size() > 2 * Hash128::kEncodedSize || !IsHex(hex_prefix)) {
    return Status::InvalidArgument("'" + std::string(hex_prefix) +
                                   "' is not a block hash (1 to 32 hex digits)");
  }
  std::string prefix(hex_prefix);
  for (char& c : prefix) c = static_cast<char>(std::tolower(uint8_t(c)));
  std::vector<std::pair<ModelId, BlockHash>> found;

  if (prefix.size() == 2 * Hash128::kEncodedSize) {
    KVSTASH_ASSIGN_OR_RETURN(BlockHash hash, Hash128::FromHex(prefix));
    std::vector<ModelId> models;
    if (model) {
      models.push_back(*model);
    } else {
      KVSTASH_ASSIGN_OR_RETURN(auto registered, disk->ListModels());
      for (const auto& entry : registered) models.push_back(entry.first);
    }
    for (const ModelId& m : models) {
      auto meta = disk->GetMeta(m, hash);
      if (meta.ok() || !meta.status().IsNotFound()) {
        found.emplace_back(m, hash);  // an unreadable meta is still a block to look at
        continue;
      }
      std::string blob;
      Status read = disk->GetBlob(m, hash, &blob);
      if (!read.IsNotFound()) found.emplace_back(m, hash);
    }
    // Not in a registered model: its model may have lost its registry entry.
    if (!found.empty() || model) return found;
  }
  KVSTASH_RETURN_IF_ERROR(
      disk->ForEachMeta(model, [&](const ModelId& m, const BlockHash& h, const Result<BlockMeta>&) {
        if (h.ToHex().compare(0, prefix.size(), prefix) == 0) found.emplace_back(m, h);
        return true;
      }));
  return found;
}

}  // namespace kvstash
