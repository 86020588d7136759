// The small records of a store's default column family that are not
// blocks: the counters ("stats/counters") and pins ("pin/"+name). Formats in
// docs/format.md, sections 5.1 and 5.2; the disk tier stores them
// (store/disk_tier.h), gc reads pins.
#ifndef KVSTASH_SERDE_STORE_RECORDS_H_
#define KVSTASH_SERDE_STORE_RECORDS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "serde/block_hash.h"
#include "serde/model_id.h"
#include "serde/status.h"

namespace kvstash {

// The store's hit/miss/corruption counters, summed over every session that
// wrote the store (value of "stats/counters" in the default family; format
// in docs/format.md, section 5.1). Counts since the last Flush()/Close() of
// a session that died are lost.
inline constexpr uint8_t kDiskCountersVersion = 2;
struct DiskCounters {
  uint64_t hit_tokens_device = 0;
  uint64_t hit_tokens_disk = 0;
  uint64_t miss_tokens = 0;
  uint64_t blocks_inserted = 0;
  uint64_t hash_collisions = 0;
  uint64_t corrupt_blocks = 0;
  uint64_t loads = 0;  // Store::Load() calls
  uint64_t hit_tokens_remote = 0;
  // Since version 2 (zero in version 1 records):
  uint64_t remote_puts = 0;        // blocks the background writer put to a peer
  uint64_t remote_put_errors = 0;  // puts that failed (the peer down, refusing) or were dropped

  DiskCounters& operator+=(const DiskCounters& d);
  bool IsZero() const;
  std::string Encode() const;
  // Corruption for a truncated or malformed record; NotSupported for a newer
  // version.
  static Result<DiskCounters> Decode(std::string_view bytes);
};

// A pinned prefix (value of "pin/"+name in the default family; format in
// docs/format.md, section 5.2): the leaf block of a stored chain that gc
// must keep, with all of its ancestors.
inline constexpr uint8_t kDiskPinVersion = 1;
struct DiskPin {
  std::string name;  // from the key; not part of the encoded value
  ModelId model;
  BlockHash leaf;
  uint64_t tokens = 0;  // tokens the pinned chain covers: [0, tokens)

  std::string Encode() const;
  // Corruption for a truncated or malformed record; NotSupported for a newer
  // version. `name` is left empty.
  static Result<DiskPin> Decode(std::string_view bytes);
};

}  // namespace kvstash

#endif  // KVSTASH_SERDE_STORE_RECORDS_H_
