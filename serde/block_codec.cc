#include "serde/block_codec.h"

#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "serde/le_coding.h"

namespace kvstash {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "raw KV bytes are little-endian on disk; a big-endian port must byte-swap them");

namespace {

// Offsets of the v1 fixed header fields (docs/format.md).
constexpr size_t kOffVersion = 4;
constexpr size_t kOffFlags = 6;
constexpr size_t kOffHeaderBytes = 8;
constexpr size_t kOffModel = 12;
constexpr size_t kOffHash = 28;
constexpr size_t kOffParent = 44;
constexpr size_t kOffLayers = 60;
constexpr size_t kOffKvHeads = 64;
constexpr size_t kOffHeadDim = 68;
constexpr size_t kOffTokenCount = 72;
constexpr size_t kOffDType = 76;
constexpr size_t kOffCodec = 77;
constexpr size_t kOffLevel = 78;
constexpr size_t kOffReserved = 79;
constexpr size_t kOffPlaneChunk = 80;
constexpr size_t kOffRawBytes = 84;
constexpr size_t kOffPayloadBytes = 92;
static_assert(kOffPayloadBytes + 8 == kBlockFixedHeaderSize);

constexpr uint32_t kMaxPlaneChunkBytes = 16u << 20;
// Streaming decode granularity for plain zstd into a scattered target.
constexpr size_t kStreamScratchBytes = 128 * 1024;
// Hostile frames may declare huge windows; KV blocks never need more.
constexpr int kMaxWindowLog = 25;

std::string Hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

Status BlockCorruption(const std::string& what) { return Status::Corruption("block: " + what); }

// Copies raw bytes [offset, offset+n) to whatever ranges of `target` overlap
// them. Calls must come with increasing offsets; `cursor` remembers where the
// previous call stopped so the scan stays linear.
void ScatterCopy(const ScatterMap& target, size_t* cursor, uint64_t offset, const char* src,
                 uint64_t n) {
  const uint64_t end = offset + n;
  size_t i = *cursor;
  while (i < target.size() && target[i].raw_offset + target[i].size <= offset) ++i;
  *cursor = i;
  for (; i < target.size() && target[i].raw_offset < end; ++i) {
    const ScatterRange& r = target[i];
    uint64_t lo = std::max(offset, r.raw_offset);
    uint64_t hi = std::min(end, r.raw_offset + r.size);
    if (lo < hi) std::memcpy(r.dst + (lo - r.raw_offset), src + (lo - offset), hi - lo);
  }
}

// If [offset, offset+n) lies inside one range of `target`, returns where it
// goes, so a transform can write there directly instead of via scratch.
char* DirectDestination(const ScatterMap& target, size_t cursor, uint64_t offset, uint64_t n) {
  for (size_t i = cursor; i < target.size() && target[i].raw_offset <= offset; ++i) {
    const ScatterRange& r = target[i];
    if (offset >= r.raw_offset && offset + n <= r.raw_offset + r.size) {
      return r.dst + (offset - r.raw_offset);
    }
  }
  return nullptr;
}

// Groups byte j of every element together: out[j*count + i] = in[i*size + j].
void SplitBytePlanes(const char* in, size_t elem_size, size_t count, char* out) {
  if (elem_size == 2) {
    char* p0 = out;
    char* p1 = out + count;
    for (size_t i = 0; i < count; ++i) {
      p0[i] = in[2 * i];
      p1[i] = in[2 * i + 1];
    }
    return;
  }
  for (size_t j = 0; j < elem_size; ++j) {
    char* plane = out + j * count;
    for (size_t i = 0; i < count; ++i) plane[i] = in[i * elem_size + j];
  }
}

// Inverse of SplitBytePlanes.
void JoinBytePlanes(const char* in, size_t elem_size, size_t count, char* out) {
  if (elem_size == 2) {
    const char* p0 = in;
    const char* p1 = in + count;
    for (size_t i = 0; i < count; ++i) {
      out[2 * i] = p0[i];
      out[2 * i + 1] = p1[i];
    }
    return;
  }
  if (elem_size == 4) {
    const char* p0 = in;
    const char* p1 = in + count;
    const char* p2 = in + 2 * count;
    const char* p3 = in + 3 * count;
    for (size_t i = 0; i < count; ++i) {
      out[4 * i] = p0[i];
      out[4 * i + 1] = p1[i];
      out[4 * i + 2] = p2[i];
      out[4 * i + 3] = p3[i];
    }
    return;
  }
  for (size_t j = 0; j < elem_size; ++j) {
    const char* plane = in + j * count;
    for (size_t i = 0; i < count; ++i) out[i * elem_size + j] = plane[i];
  }
}

// Checks dimensions and the raw size implied by them without overflowing.
// Returns "" if fine, else what is wrong.
std::string ShapeProblem(const BlockShape& shape, uint64_t num_tokens) {
  if (DTypeSize(shape.dtype) == 0) return "unknown dtype";
  if (shape.layers == 0 || shape.kv_heads == 0 || shape.head_dim == 0 ||
      shape.layers > kMaxBlockDim || shape.kv_heads > kMaxBlockDim ||
      shape.head_dim > kMaxBlockDim) {
    return "implausible shape " + std::to_string(shape.layers) + "x2x" +
           std::to_string(shape.kv_heads) + "x" + std::to_string(num_tokens) + "x" +
           std::to_string(shape.head_dim) + " (each dimension in [1, " +
           std::to_string(kMaxBlockDim) + "])";
  }
  if (num_tokens == 0 || num_tokens > kMaxBlockTokens) {
    return "token count " + std::to_string(num_tokens) + " outside [1, " +
           std::to_string(kMaxBlockTokens) + "]";
  }
  // Each factor is <= 2^16, so the 128-bit product cannot overflow.
  unsigned __int128 raw = static_cast<unsigned __int128>(shape.layers) * 2 * shape.kv_heads *
                          num_tokens * shape.head_dim * DTypeSize(shape.dtype);
  if (raw > kMaxBlockRawBytes) {
    return "raw size of shape " + std::to_string(shape.layers) + "x2x" +
           std::to_string(shape.kv_heads) + "x" + std::to_string(num_tokens) + "x" +
           std::to_string(shape.head_dim) + " exceeds " + std::to_string(kMaxBlockRawBytes) +
           " bytes";
  }
  return "";
}

Status ValidateShape(const BlockShape& shape, size_t num_tokens) {
  std::string problem = ShapeProblem(shape, num_tokens);
  if (!problem.empty()) return Status::InvalidArgument("block: " + problem);
  return Status::OK();
}

// Our encoder writes exactly one frame that declares its content size; any
// other payload is rejected the same way whatever the decode target.
Status ValidateZstdFrame(std::string_view payload, uint64_t raw_bytes) {
  size_t frame = ZSTD_findFrameCompressedSize(payload.data(), payload.size());
  if (ZSTD_isError(frame)) {
    return BlockCorruption(std::string("zstd payload: ") + ZSTD_getErrorName(frame));
  }
  if (frame != payload.size()) return BlockCorruption("trailing bytes after the zstd frame");
  unsigned long long declared = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (declared == ZSTD_CONTENTSIZE_UNKNOWN || declared == ZSTD_CONTENTSIZE_ERROR) {
    return BlockCorruption("zstd frame does not declare its size");
  }
  if (declared != raw_bytes) {
    return BlockCorruption("zstd frame declares " + std::to_string(declared) +
                           " bytes, header says " + std::to_string(raw_bytes));
  }
  return Status::OK();
}

}  // namespace

const char* CodecName(Codec codec) {
  switch (codec) {
    case Codec::kNone:
      return "none";
    case Codec::kZstd:
      return "zstd";
    case Codec::kZstdBytePlanes:
      return "zstd-planes";
  }
  return "unknown";
}

Result<Codec> ParseCodec(std::string_view name) {
  if (name == "none") return Codec::kNone;
  if (name == "zstd") return Codec::kZstd;
  if (name == "zstd-planes") return Codec::kZstdBytePlanes;
  return Status::InvalidArgument("unknown codec '" + std::string(name) +
                                 "' (expected none, zstd or zstd-planes)");
}

Result<BlockHeader> ParseBlockHeader(std::string_view blob, bool verify_checksum) {
  if (blob.size() < 4 || std::memcmp(blob.data(), kBlockMagic, 4) != 0) {
    return BlockCorruption("bad magic (not a kvstash block)");
  }
  if (blob.size() < kBlockFixedHeaderSize + kBlockChecksumSize) {
    return BlockCorruption("truncated: " + std::to_string(blob.size()) +
                           " bytes is shorter than the fixed header and checksum (" +
                           std::to_string(kBlockFixedHeaderSize + kBlockChecksumSize) + ")");
  }
  const char* p = blob.data();
  BlockHeader h;
  h.version = DecodeFixed16(p + kOffVersion);
  if (h.version > kBlockFormatVersion) {
    return Status::NotSupported("block format version " + std::to_string(h.version) +
                                " is newer than this kvstash reads (" +
                                std::to_string(kBlockFormatMinReadable) + ".." +
                                std::to_string(kBlockFormatVersion) + ")");
  }
  if (h.version < kBlockFormatMinReadable) {
    return BlockCorruption("format version " + std::to_string(h.version) +
                           " is below the oldest readable version " +
                           std::to_string(kBlockFormatMinReadable));
  }
  uint16_t flags = DecodeFixed16(p + kOffFlags);
  if (flags != 0) {
    return Status::NotSupported("block has unknown flags 0x" + Hex64(flags));
  }
  uint32_t token_count = DecodeFixed32(p + kOffTokenCount);
  if (token_count == 0 || token_count > kMaxBlockTokens) {
    return BlockCorruption("token count " + std::to_string(token_count) + " outside [1, " +
                           std::to_string(kMaxBlockTokens) + "]");
  }
  uint32_t header_bytes = DecodeFixed32(p + kOffHeaderBytes);
  if (header_bytes != kBlockFixedHeaderSize + 4ull * token_count) {
    return BlockCorruption("header length " + std::to_string(header_bytes) +
                           " != " + std::to_string(kBlockFixedHeaderSize + 4ull * token_count) +
                           " for " + std::to_string(token_count) + " tokens");
  }
  h.payload_bytes = DecodeFixed64(p + kOffPayloadBytes);
  uint64_t expected_size = uint64_t{header_bytes} + kBlockChecksumSize;
  if (h.payload_bytes > blob.size() || expected_size + h.payload_bytes != blob.size()) {
    return BlockCorruption("length mismatch: header says " + std::to_string(header_bytes) +
                           " + payload " + std::to_string(h.payload_bytes) +
                           " + checksum 8, blob has " + std::to_string(blob.size()) +
                           " bytes (truncated or extended)");
  }
  if (verify_checksum) {
    size_t covered = blob.size() - kBlockChecksumSize;
    uint64_t stored = DecodeFixed64(p + covered);
    uint64_t computed = Xxh3Hash64(p, covered);
    if (stored != computed) {
      return BlockCorruption("checksum mismatch in block " +
                             Hash128::DecodeFrom(p + kOffHash).ToHex() + ": stored " +
                             Hex64(stored) + ", computed " + Hex64(computed));
    }
  }
  h.model = Hash128::DecodeFrom(p + kOffModel);
  h.hash = Hash128::DecodeFrom(p + kOffHash);
  h.parent = Hash128::DecodeFrom(p + kOffParent);
  h.shape.layers = DecodeFixed32(p + kOffLayers);
  h.shape.kv_heads = DecodeFixed32(p + kOffKvHeads);
  h.shape.head_dim = DecodeFixed32(p + kOffHeadDim);
  uint8_t dtype = static_cast<uint8_t>(p[kOffDType]);
  if (!IsKnownDType(dtype)) return BlockCorruption("unknown dtype " + std::to_string(dtype));
  h.shape.dtype = static_cast<DType>(dtype);
  uint8_t codec = static_cast<uint8_t>(p[kOffCodec]);
  if (codec > static_cast<uint8_t>(Codec::kZstdBytePlanes)) {
    return Status::NotSupported("block uses unknown codec " + std::to_string(codec));
  }
  h.codec = static_cast<Codec>(codec);
  h.level = static_cast<int8_t>(p[kOffLevel]);
  if (p[kOffReserved] != 0) return BlockCorruption("reserved byte is not zero");
  h.plane_chunk_bytes = DecodeFixed32(p + kOffPlaneChunk);
  h.raw_bytes = DecodeFixed64(p + kOffRawBytes);
  if (std::string problem = ShapeProblem(h.shape, token_count); !problem.empty()) {
    return BlockCorruption(problem);
  }
  uint64_t raw = h.shape.RawBytes(token_count);
  if (h.raw_bytes != raw) {
    return BlockCorruption("raw size " + std::to_string(h.raw_bytes) +
                           " != " + std::to_string(raw) + " implied by the shape");
  }
  const size_t elem = DTypeSize(h.shape.dtype);
  // Fields a codec does not use are 0, so a block has one encoding per codec
  // and level.
  if (h.codec != Codec::kZstdBytePlanes && h.plane_chunk_bytes != 0) {
    return BlockCorruption("byte-plane chunk size " + std::to_string(h.plane_chunk_bytes) +
                           " in a block of codec " + CodecName(h.codec) + " (must be 0)");
  }
  switch (h.codec) {
    case Codec::kNone:
      if (h.level != 0) {
        return BlockCorruption("codec none with zstd level " + std::to_string(h.level) +
                               " (must be 0)");
      }
      if (h.payload_bytes != h.raw_bytes) {
        return BlockCorruption("codec none: payload " + std::to_string(h.payload_bytes) +
                               " != raw " + std::to_string(h.raw_bytes) + " bytes");
      }
      break;
    case Codec::kZstd:
      break;
    case Codec::kZstdBytePlanes:
      if (h.plane_chunk_bytes < elem || h.plane_chunk_bytes % elem != 0 ||
          h.plane_chunk_bytes > kMaxPlaneChunkBytes) {
        return BlockCorruption("bad byte-plane chunk size " + std::to_string(h.plane_chunk_bytes));
      }
      break;
  }
  h.tokens.resize(token_count);
  const char* tp = p + kBlockFixedHeaderSize;
  for (uint32_t i = 0; i < token_count; ++i) {
    h.tokens[i] = static_cast<int32_t>(DecodeFixed32(tp + 4 * i));
  }
  return h;
}

Status CheckBlockKey(const BlockHeader& header, const ModelId& model, const BlockHash& hash) {
  if (header.model != model || header.hash != hash) {
    return Status::Corruption("block " + hash.ToHex() + ": its header names another key (" +
                              header.model.ToHex() + "/" + header.hash.ToHex() + ")");
  }
  if (ComputeBlockHash(model, header.parent, header.tokens.data(), header.tokens.size()) != hash) {
    return Status::Corruption("block " + hash.ToHex() +
                              ": hash does not match its parent and tokens");
  }
  return Status::OK();
}

struct BlockCodec::Impl {
  ZSTD_CCtx* cctx = nullptr;
  ZSTD_DCtx* dctx = nullptr;
  std::string planes;   // encode: the raw bytes regrouped as byte planes
  std::string scratch;  // decode: one chunk of streamed output
  std::string joined;   // decode: a rejoined chunk headed for a scattered target

  Impl() : cctx(ZSTD_createCCtx()), dctx(ZSTD_createDCtx()) {
    ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, kMaxWindowLog);
  }
  ~Impl() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }

  Status Compress(std::string_view src, int level, std::string* out) {
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    // Ultra levels pick windows beyond what readers accept (kMaxWindowLog);
    // cap them so every block we write can be read back, streamed or not.
    if (level >= 20) ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, kMaxWindowLog);
    size_t start = out->size();
    out->resize(start + ZSTD_compressBound(src.size()));
    size_t n =
        ZSTD_compress2(cctx, out->data() + start, out->size() - start, src.data(), src.size());
    if (ZSTD_isError(n)) {
      return Status::IOError(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
    }
    out->resize(start + n);
    return Status::OK();
  }

  // Streams the payload's zstd frame, handing `chunk_bytes`-sized pieces of
  // output (the last one shorter) to `sink(offset, data, size)`.
  template <typename Sink>
  Status StreamDecompress(std::string_view payload, uint64_t raw_bytes, size_t chunk_bytes,
                          Sink&& sink) {
    ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
    if (scratch.size() < chunk_bytes) scratch.resize(chunk_bytes);
    ZSTD_inBuffer in{payload.data(), payload.size(), 0};
    size_t ret = 1;
    for (uint64_t offset = 0; offset < raw_bytes;) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(chunk_bytes, raw_bytes - offset));
      ZSTD_outBuffer out{scratch.data(), want, 0};
      while (out.pos < want) {
        size_t in_before = in.pos, out_before = out.pos;
        ret = ZSTD_decompressStream(dctx, &out, &in);
        if (ZSTD_isError(ret)) {
          return BlockCorruption(std::string("zstd payload: ") + ZSTD_getErrorName(ret));
        }
        if (ret == 0 && out.pos < want) {
          return BlockCorruption("zstd payload ends after " + std::to_string(offset + out.pos) +
                                 " of " + std::to_string(raw_bytes) + " raw bytes");
        }
        if (in.pos == in_before && out.pos == out_before) {
          return BlockCorruption("zstd payload is truncated");
        }
      }
      sink(offset, scratch.data(), want);
      offset += want;
    }
    // All raw bytes are out; the frame must end here, with no trailing bytes.
    while (ret != 0) {
      char extra;
      ZSTD_outBuffer out{&extra, 1, 0};
      size_t in_before = in.pos;
      ret = ZSTD_decompressStream(dctx, &out, &in);
      if (ZSTD_isError(ret)) {
        return BlockCorruption(std::string("zstd payload: ") + ZSTD_getErrorName(ret));
      }
      if (out.pos != 0) return BlockCorruption("zstd payload holds more than the raw size");
      if (ret != 0 && in.pos == in_before) return BlockCorruption("zstd payload is truncated");
    }
    if (in.pos != in.size) return BlockCorruption("trailing bytes after the zstd frame");
    return Status::OK();
  }
};

BlockCodec::BlockCodec() : impl_(std::make_unique<Impl>()) {}
BlockCodec::~BlockCodec() = default;

Status BlockCodec::Encode(const BlockHeader& header, std::string_view raw,
                          const EncodeOptions& options, std::string* out) {
  KVSTASH_RETURN_IF_ERROR(ValidateShape(header.shape, header.tokens.size()));
  const uint64_t raw_bytes = header.shape.RawBytes(header.tokens.size());
  if (raw.size() != raw_bytes) {
    return Status::InvalidArgument("block: raw size " + std::to_string(raw.size()) +
                                   " != " + std::to_string(raw_bytes) + " implied by the shape");
  }
  const size_t elem = DTypeSize(header.shape.dtype);
  uint32_t chunk = 0;
  if (options.codec == Codec::kZstdBytePlanes) {
    const uint32_t wanted = options.plane_chunk_bytes == 0
                                ? static_cast<uint32_t>(elem) * kPlaneBytes
                                : options.plane_chunk_bytes;
    chunk = std::max<uint32_t>(static_cast<uint32_t>(elem), std::min(wanted, kMaxPlaneChunkBytes));
    chunk -= chunk % elem;
  }
  const int level = std::clamp(options.level, -127, 22);

  out->clear();
  const uint32_t token_count = static_cast<uint32_t>(header.tokens.size());
  out->reserve(kBlockFixedHeaderSize + 4 * token_count + ZSTD_compressBound(raw.size()) +
               kBlockChecksumSize);
  out->append(kBlockMagic, 4);
  PutFixed16(out, kBlockFormatVersion);
  PutFixed16(out, 0);  // flags
  PutFixed32(out, static_cast<uint32_t>(kBlockFixedHeaderSize + 4 * token_count));
  header.model.AppendTo(out);
  header.hash.AppendTo(out);
  header.parent.AppendTo(out);
  PutFixed32(out, header.shape.layers);
  PutFixed32(out, header.shape.kv_heads);
  PutFixed32(out, header.shape.head_dim);
  PutFixed32(out, token_count);
  PutFixed8(out, static_cast<uint8_t>(header.shape.dtype));
  PutFixed8(out, static_cast<uint8_t>(options.codec));
  PutFixed8(out, static_cast<uint8_t>(options.codec == Codec::kNone ? 0 : level));
  PutFixed8(out, 0);  // reserved
  PutFixed32(out, chunk);
  PutFixed64(out, raw_bytes);
  PutFixed64(out, 0);  // payload bytes, patched below
  for (int32_t t : header.tokens) PutFixed32(out, static_cast<uint32_t>(t));
  const size_t payload_start = out->size();

  switch (options.codec) {
    case Codec::kNone:
      out->append(raw.data(), raw.size());
      break;
    case Codec::kZstd:
      KVSTASH_RETURN_IF_ERROR(impl_->Compress(raw, level, out));
      break;
    case Codec::kZstdBytePlanes: {
      impl_->planes.resize(raw.size());
      for (size_t off = 0; off < raw.size(); off += chunk) {
        size_t n = std::min<size_t>(chunk, raw.size() - off);
        SplitBytePlanes(raw.data() + off, elem, n / elem, impl_->planes.data() + off);
      }
      KVSTASH_RETURN_IF_ERROR(impl_->Compress(impl_->planes, level, out));
      break;
    }
    default:
      return Status::InvalidArgument("block: unknown codec");
  }
  EncodeFixed64(out->data() + kOffPayloadBytes, out->size() - payload_start);
  PutFixed64(out, Xxh3Hash64(out->data(), out->size()));
  return Status::OK();
}

Result<BlockHeader> BlockCodec::Decode(std::string_view blob, const ScatterMap& target) {
  KVSTASH_ASSIGN_OR_RETURN(BlockHeader h, ParseBlockHeader(blob, /*verify_checksum=*/true));
  uint64_t prev_end = 0;
  for (const ScatterRange& r : target) {
    if (r.raw_offset < prev_end || r.size > h.raw_bytes || r.raw_offset > h.raw_bytes - r.size ||
        (r.size > 0 && r.dst == nullptr)) {
      return Status::InvalidArgument(
          "block decode: scatter ranges must be sorted, disjoint and "
          "within the block's " +
          std::to_string(h.raw_bytes) + " raw bytes");
    }
    prev_end = r.raw_offset + r.size;
  }
  const std::string_view payload =
      blob.substr(kBlockFixedHeaderSize + 4 * h.tokens.size(), h.payload_bytes);
  size_t cursor = 0;
  switch (h.codec) {
    case Codec::kNone:
      for (const ScatterRange& r : target) {
        if (r.size > 0) std::memcpy(r.dst, payload.data() + r.raw_offset, r.size);
      }
      return h;
    case Codec::kZstd: {
      KVSTASH_RETURN_IF_ERROR(ValidateZstdFrame(payload, h.raw_bytes));
      const bool whole =
          target.size() == 1 && target[0].raw_offset == 0 && target[0].size == h.raw_bytes;
      if (whole) {
        // Straight into the caller's memory: no scratch, no second pass.
        ZSTD_DCtx_reset(impl_->dctx, ZSTD_reset_session_only);
        size_t n = ZSTD_decompressDCtx(impl_->dctx, target[0].dst, h.raw_bytes, payload.data(),
                                       payload.size());
        if (ZSTD_isError(n)) {
          return BlockCorruption(std::string("zstd payload: ") + ZSTD_getErrorName(n));
        }
        if (n != h.raw_bytes) {
          return BlockCorruption("zstd payload decoded to " + std::to_string(n) + " of " +
                                 std::to_string(h.raw_bytes) + " bytes");
        }
        return h;
      }
      KVSTASH_RETURN_IF_ERROR(impl_->StreamDecompress(
          payload, h.raw_bytes, kStreamScratchBytes, [&](uint64_t off, const char* data, size_t n) {
            ScatterCopy(target, &cursor, off, data, n);
          }));
      return h;
    }
    case Codec::kZstdBytePlanes: {
      KVSTASH_RETURN_IF_ERROR(ValidateZstdFrame(payload, h.raw_bytes));
      const size_t elem = DTypeSize(h.shape.dtype);
      KVSTASH_RETURN_IF_ERROR(impl_->StreamDecompress(
          payload, h.raw_bytes, h.plane_chunk_bytes, [&](uint64_t off, const char* data, size_t n) {
            if (char* direct = DirectDestination(target, cursor, off, n)) {
              JoinBytePlanes(data, elem, n / elem, direct);
              return;
            }
            if (impl_->joined.size() < n) impl_->joined.resize(n);
            JoinBytePlanes(data, elem, n / elem, impl_->joined.data());
            ScatterCopy(target, &cursor, off, impl_->joined.data(), n);
          }));
      return h;
    }
  }
  return BlockCorruption("unknown codec");
}

}  // namespace kvstash
