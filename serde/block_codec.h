// The block codec: one KV block <-> one self-describing, checksummed blob.
//
// A block holds the K and V of `tokens.size()` consecutive tokens for every
// layer, as one logical array of shape [layers, 2 (K,V), kv_heads, tokens,
// head_dim], elements little-endian ("raw bytes"). The blob (format v1,
// grammar in docs/format.md) is:
//
//   header (magic, version, identity, shape, codec, token ids) | payload | xxh3-64
//
// Decoding validates every field and the checksum before touching the
// payload, and writes raw bytes straight into caller-owned memory described
// by a ScatterMap (for example an engine's KV cache rows), so no intermediate
// tensor is allocated. Bad bytes always give Corruption (or NotSupported for
// a newer format), never a wrong tensor and never a crash.
#ifndef KVSTASH_SERDE_BLOCK_CODEC_H_
#define KVSTASH_SERDE_BLOCK_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "serde/block_hash.h"
#include "serde/dtype.h"
#include "serde/model_id.h"
#include "serde/status.h"

namespace kvstash {

inline constexpr char kBlockMagic[4] = {'K', 'V', 'S', 'B'};
// Compatibility: readers accept [kBlockFormatMinReadable, kBlockFormatVersion]
// and answer NotSupported for anything newer.
inline constexpr uint16_t kBlockFormatVersion = 1;
inline constexpr uint16_t kBlockFormatMinReadable = 1;
// Size of the fixed part of a v1 header, before the token ids.
inline constexpr size_t kBlockFixedHeaderSize = 100;
inline constexpr size_t kBlockChecksumSize = 8;
// Upper bound on tokens per block, so a corrupt count cannot ask for gigabytes.
inline constexpr uint32_t kMaxBlockTokens = 1u << 16;
// Upper bounds on a block's other dimensions and raw size: they keep every
// size computation far from overflow and bound what a hostile blob can ask
// a reader to allocate.
inline constexpr uint32_t kMaxBlockDim = 1u << 16;
inline constexpr uint64_t kMaxBlockRawBytes = 1ull << 30;

// Written to disk: never renumber.
enum class Codec : uint8_t {
  kNone = 0,            // raw bytes
  kZstd = 1,            // one zstd frame over the raw bytes
  kZstdBytePlanes = 2,  // raw bytes split in chunks, each chunk's bytes grouped by
                        // position within the element (byte planes), then one zstd frame
};
const char* CodecName(Codec codec);
Result<Codec> ParseCodec(std::string_view name);  // "none", "zstd", "zstd-planes"

struct BlockShape {
  uint32_t layers = 0;
  uint32_t kv_heads = 0;
  uint32_t head_dim = 0;
  DType dtype = DType::kF32;

  // Bytes of the raw array for `tokens` tokens.
  uint64_t RawBytes(uint64_t tokens) const {
    return uint64_t{layers} * 2 * kv_heads * tokens * head_dim * DTypeSize(dtype);
  }
  // Bytes of one (layer, K|V, head) row of `tokens` tokens.
  uint64_t RowBytes(uint64_t tokens) const { return tokens * head_dim * DTypeSize(dtype); }
  friend bool operator==(const BlockShape& a, const BlockShape& b) {
    return a.layers == b.layers && a.kv_heads == b.kv_heads && a.head_dim == b.head_dim &&
           a.dtype == b.dtype;
  }
  friend bool operator!=(const BlockShape& a, const BlockShape& b) { return !(a == b); }
};

// The shape of a model's blocks, from its description.
inline BlockShape BlockShapeOf(const ModelDescription& d) {
  return BlockShape{d.num_layers, d.num_kv_heads, d.head_dim, d.kv_dtype};
}

// Everything a blob says about itself.
struct BlockHeader {
  uint16_t version = kBlockFormatVersion;
  ModelId model;
  BlockHash hash;
  BlockHash parent;
  BlockShape shape;
  std::vector<int32_t> tokens;
  Codec codec = Codec::kNone;
  int8_t level = 0;                // informational: the zstd level used
  uint32_t plane_chunk_bytes = 0;  // kZstdBytePlanes only
  uint64_t raw_bytes = 0;
  uint64_t payload_bytes = 0;

  uint64_t EncodedSize() const {
    return kBlockFixedHeaderSize + 4 * tokens.size() + payload_bytes + kBlockChecksumSize;
  }
};

struct EncodeOptions {
  // Default: zstd over byte planes: on bf16 KV-like data 1.42x where plain
  // zstd gets 1.24x, and decoding 1.5x faster than plain zstd
  // (docs/benchmarks.md).
  Codec codec = Codec::kZstdBytePlanes;
  // zstd level; negative levels skip entropy coding (ratio ~1.0 on KV).
  // Default: 1 (level 3 measured slower and no smaller).
  int level = 1;
  // Chunk size for byte planes, rounded down to a multiple of the element
  // size. Default 0: element size x 128 KiB, so each plane is exactly one
  // zstd block (128 KiB) and zstd's entropy tables see one plane at a time;
  // 64 KiB chunks mixed planes within a block and lost the whole gain.
  uint32_t plane_chunk_bytes = 0;
};
// zstd's largest block; byte planes of this size align with zstd blocks.
inline constexpr uint32_t kPlaneBytes = 128 * 1024;

// Where decoded raw bytes go: sorted, non-overlapping ranges of the raw array,
// each copied to `dst`. Raw bytes outside every range are decoded but dropped
// (that is how the first m tokens of a block are loaded).
struct ScatterRange {
  uint64_t raw_offset = 0;
  char* dst = nullptr;
  uint64_t size = 0;
};
using ScatterMap = std::vector<ScatterRange>;

// Parses and validates a blob's header, lengths and (if `verify_checksum`)
// its checksum, without decompressing the payload.
// Returns Corruption naming the field for bad bytes, NotSupported for a newer
// version or unknown flags.
Result<BlockHeader> ParseBlockHeader(std::string_view blob, bool verify_checksum = true);

// Whether a parsed block is the block (model, hash) names: its header names
// that model and hash, and the hash is the one its parent and tokens chain
// to (ComputeBlockHash). Corruption saying which fails otherwise. With a
// checked ParseBlockHeader, this is everything bytes alone can prove about a
// block that arrives without its store (a peer's put, a pack, a salvage).
Status CheckBlockKey(const BlockHeader& header, const ModelId& model, const BlockHash& hash);

// Encodes and decodes blocks, reusing zstd contexts and scratch buffers
// between calls. Not thread-safe: use one BlockCodec per thread.
class BlockCodec {
 public:
  BlockCodec();
  ~BlockCodec();
  BlockCodec(const BlockCodec&) = delete;
  BlockCodec& operator=(const BlockCodec&) = delete;

  // Encodes `raw` (the raw array described by `header.shape` and
  // `header.tokens`) into `out` (replaced). Fields codec, level, chunk,
  // raw_bytes and payload_bytes of `header` are ignored and set from
  // `options`; the rest is copied into the blob.
  // Returns InvalidArgument if raw.size() does not match the shape.
  Status Encode(const BlockHeader& header, std::string_view raw, const EncodeOptions& options,
                std::string* out);

  // Validates `blob` and writes the raw bytes selected by `target` into
  // caller memory. On any error, the bytes under `target` are unspecified
  // (possibly partly written) and the error is returned; nothing else is
  // touched. Returns the header on success.
  // REQUIRES: `target` sorted by raw_offset, non-overlapping, within raw_bytes
  // (checked: InvalidArgument otherwise).
  Result<BlockHeader> Decode(std::string_view blob, const ScatterMap& target);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvstash

#endif  // KVSTASH_SERDE_BLOCK_CODEC_H_
