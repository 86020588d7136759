// A close look at one stored block, for operators (`kvstash inspect`): its
// metadata and links, what its blob says about itself, whether that agrees
// with the key and the metadata, and simple statistics of its K and V per
// layer. Also: finding a block by (a prefix of) its hash.
//
// Everything here only reads the store; it works on a read-only DiskTier
// opened while another process writes.
//
// Thread-safety: free functions; each call uses only its arguments.
#ifndef KVSTASH_GC_BLOCK_STATS_H_
#define KVSTASH_GC_BLOCK_STATS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serde/block_codec.h"
#include "serde/block_meta.h"
#include "serde/model_id.h"
#include "serde/status.h"
#include "store/disk_tier.h"

namespace kvstash {

// Element conversions, exact for every bit pattern (NaN payloads aside):
// bfloat16 is the upper half of a binary32; binary16 is IEEE half precision,
// subnormals included.
float Bf16ToFloat(uint16_t bits);
float HalfToFloat(uint16_t bits);

// Statistics of one tensor's elements. Non-finite elements (NaN, +-inf) are
// counted and left out of min/max/mean/abs_max, which are 0 when no element
// is finite.
struct TensorStats {
  uint64_t elements = 0;
  uint64_t nonfinite = 0;
  double min = 0;
  double max = 0;
  double mean = 0;
  double abs_max = 0;
};

struct LayerStats {
  TensorStats k;
  TensorStats v;
};

// Per-layer statistics of a block's raw array: shape [layers, 2 (K, V),
// kv_heads, tokens, head_dim], little-endian elements of `shape.dtype`
// (docs/format.md, 1.3). InvalidArgument if `raw` is not
// shape.RawBytes(tokens) bytes or the dtype is unknown.
Result<std::vector<LayerStats>> ComputeLayerStats(const BlockShape& shape, uint64_t tokens,
                                                  std::string_view raw);

struct BlockInspection {
  ModelId model;
  BlockHash hash;
  std::optional<BlockMeta> meta;    // nullopt if absent or unreadable (see problems)
  std::vector<BlockHash> children;  // blocks continuing this one (children index)
  bool blob_present = false;
  uint64_t blob_bytes = 0;
  // The blob's header as ParseBlockHeader reads it, the checksum aside;
  // nullopt if even that fails (then `header_error` says why).
  std::optional<BlockHeader> header;
  std::string header_error;
  // Whether the trailing xxh3-64 matches the bytes before it; nullopt for a
  // blob too short to hold one.
  std::optional<bool> checksum_ok;
  // Filled when the blob verifies and decodes; one entry per layer.
  std::vector<LayerStats> layers;
  // Everything found wrong, one line each ("checksum mismatch in block ...",
  // "blob header names parent ..., meta ..."); empty for a healthy block.
  std::vector<std::string> problems;

  bool ok() const { return problems.empty(); }
};

// Reads one block's meta, children, blob and (if it verifies) decodes it to
// compute ComputeLayerStats. A damaged block is not an error: what is wrong
// goes to `problems`. Returns NotFound if neither the meta nor the blob
// exists, or another error if the store could not be read.
Result<BlockInspection> InspectBlock(DiskTier* disk, const ModelId& model, const BlockHash& hash);

// Blocks whose hash, in hex, starts with `hex_prefix` (1 to 32 hex digits,
// either case), in `model` or in every model, in key order. A full 32-digit
// hash is looked up directly in each registered model first; prefixes (and
// full hashes not found that way) scan the metadata.
// InvalidArgument for a prefix that is not 1 to 32 hex digits.
Result<std::vector<std::pair<ModelId, BlockHash>>> FindBlocks(DiskTier* disk,
                                                              const std::optional<ModelId>& model,
                                                              std::string_view hex_prefix);

}  // namespace kvstash

#endif  // KVSTASH_GC_BLOCK_STATS_H_
