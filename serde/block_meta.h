// BlockMeta: the small per-block record the disk tier keeps next to each
// block's bytes, so matching, listing and garbage collection never have to
// read (or decompress) block payloads. Encoding in docs/format.md.
#ifndef KVSTASH_SERDE_BLOCK_META_H_
#define KVSTASH_SERDE_BLOCK_META_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "serde/block_codec.h"
#include "serde/block_hash.h"
#include "serde/status.h"

namespace kvstash {

inline constexpr uint8_t kBlockMetaVersion = 1;

struct BlockMeta {
  BlockHash parent;
  std::vector<int32_t> tokens;  // compared with the query on every hit
  Codec codec = Codec::kNone;
  DType dtype = DType::kF32;
  uint64_t raw_bytes = 0;
  uint64_t stored_bytes = 0;    // size of the encoded blob
  uint64_t created_ms = 0;      // unix time, milliseconds
  uint64_t last_access_ms = 0;  // unix time, milliseconds; updated in batches
  uint64_t hits = 0;

  std::string Encode() const;
  // Corruption naming the field for truncated or malformed bytes;
  // NotSupported for a newer version.
  static Result<BlockMeta> Decode(std::string_view bytes);
};

}  // namespace kvstash

#endif  // KVSTASH_SERDE_BLOCK_META_H_
