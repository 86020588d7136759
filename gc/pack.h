// Packs: a portable file of one model's blocks (`kvstash export`/`import`),
// to seed another machine's store with a warm prefix. Format: docs/format.md,
// section 8. A pack is built and checked in memory; it is meant for pinned
// prefixes and small models' caches, not for copying a whole store.
//
// Thread-safety: free functions; DiskTier's own rules apply.
#ifndef KVSTASH_GC_PACK_H_
#define KVSTASH_GC_PACK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serde/block_hash.h"
#include "serde/model_id.h"
#include "serde/status.h"
#include "store/disk_tier.h"

namespace kvstash {

inline constexpr char kPackMagic[4] = {'K', 'V', 'S', 'P'};
// Newest format version; a pack is written as version 1 when it carries no
// logits records (so older readers import it) and as 2 when it does. Readers
// accept [kPackMinReadableVersion, kPackVersion] and answer NotSupported for
// a newer one.
inline constexpr uint16_t kPackVersion = 2;
inline constexpr uint16_t kPackMinReadableVersion = 1;

struct PackRecord {
  BlockHash hash;
  BlockHash parent;
  std::string blob;  // the encoded block, as stored (docs/format.md, section 1)
};

// A logits record (serde/logits_record.h) of a prompt whose blocks the pack
// holds; keyed by the pack's model and these two hashes.
struct PackLogits {
  BlockHash parent;
  BlockHash tail;
  std::string record;
};

struct Pack {
  ModelId model;
  std::string description;          // canonical ModelDescription text
  std::vector<PackRecord> records;  // every parent before its children
  std::vector<PackLogits> logits;   // version 2
};

// The pack of `model`'s blocks in `disk`: all of them, or with `leaf` only
// the chain from the first block to `leaf` (a pin's); with the logits records
// whose parent block is among them. NotFound if the model
// is not registered, or `leaf` or one of its ancestors is missing. Blobs are
// checked (ParseBlockHeader with checksum) as they are read: Corruption names
// a bad block rather than exporting it.
Result<std::string> ExportPack(DiskTier* disk, const ModelId& model,
                               const std::optional<BlockHash>& leaf = std::nullopt);

// Parses `bytes` and verifies all of it before returning: the trailer
// checksum, the description's fingerprint against the model id, and every
// blob (checksum, header names this model/hash/parent, hash recomputed from
// model, parent and tokens) and every logits record (checksum, identity, the
// model's vocab, its parent block in the pack). Corruption naming what failed for bad or
// truncated bytes; NotSupported for a newer version.
Result<Pack> ParsePack(std::string_view bytes);

struct ImportResult {
  ModelId model;
  uint64_t blocks = 0;        // records in the pack
  uint64_t new_blocks = 0;    // of those, not already in the store
  uint64_t stored_bytes = 0;  // bytes of the blobs written
  uint64_t logits = 0;        // logits records written
};

// Verifies `bytes` (ParsePack), checks that every record's parent is the
// root, in the pack or already in `disk`, and only then writes every block
// in one atomic, synced batch and registers the model. On any error before
// that nothing is written. The logits records follow in a second write: a
// failure there leaves the (complete) blocks without them. REQUIRES: `disk`
// opened read-write.
Result<ImportResult> ImportPack(DiskTier* disk, std::string_view bytes);

}  // namespace kvstash

#endif  // KVSTASH_GC_PACK_H_
