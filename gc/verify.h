// Verification of a whole store (`kvstash verify`) and its repair.
//
// VerifyStore reads every block and checks, per block:
//   - its meta decodes, and its blob is present;
//   - the blob's checksum, header and (by default) compressed payload;
//   - the header against the key and the meta: model, hash, parent, tokens,
//     raw size, codec, dtype, and the blob's size against meta.stored_bytes;
//   - its parent exists (a block without its parent can never be matched).
// and per child link (the `children` index) that the block it names exists,
// and per logits record (format.md section 5.3) its checksum and identity and
// that its parent block exists.
//
// Repair deletes the corrupt and orphaned blocks, everything below them
// (descendants of a removed block can never match), dangling links and bad
// logits records, then compacts so the space is reclaimed.
//
// Thread-safety: both functions may run concurrently with a Store using the
// same disk tier; VerifyStore then checks a snapshot that may be slightly
// stale.
#ifndef KVSTASH_GC_VERIFY_H_
#define KVSTASH_GC_VERIFY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gc/block_graph.h"
#include "gc/prune.h"
#include "serde/status.h"
#include "store/disk_tier.h"

namespace kvstash {

struct BlockProblem {
  enum class Kind : uint8_t {
    kCorrupt,       // the block itself fails a check
    kOrphan,        // its parent is missing
    kDanglingLink,  // a child link names a block that does not exist
    kBadLogits,     // a logits record that is corrupt or whose parent block is missing
  };
  Kind kind = Kind::kCorrupt;
  BlockRef ref;      // for kDanglingLink: the block the link names; kBadLogits: the tail
  BlockHash parent;  // the parent the block (or link) names
  uint64_t stored_bytes = 0;
  std::string detail;  // what failed, e.g. "checksum mismatch ..."
};
// "corrupt", "orphan", "dangling-link", "bad-logits".
const char* ProblemKindName(BlockProblem::Kind kind);

struct VerifyReport {
  uint64_t models = 0;
  uint64_t blocks = 0;  // blocks checked
  uint64_t stored_bytes = 0;
  uint64_t corrupt = 0;
  uint64_t orphans = 0;
  uint64_t dangling_links = 0;
  // Healthy blocks below a corrupt or orphaned one: unreachable, so Repair
  // deletes them too.
  uint64_t unreachable = 0;
  uint64_t logits_records = 0;  // logits records checked
  uint64_t logits_bytes = 0;
  uint64_t bad_logits = 0;
  // Corrupt and orphans in key order, then links, then logits records.
  std::vector<BlockProblem> problems;

  bool clean() const { return problems.empty(); }
};

struct VerifyOptions {
  // Only this model's blocks. Default: every model.
  std::optional<ModelId> model;
  // Decompress every payload (BlockCodec::Decode, into no buffer), not just
  // check the checksum and header. Default: true.
  bool decode_payloads = true;
  // Called with (blocks checked, blocks total) after each block, from any
  // of the threads, one call at a time. Default: none.
  std::function<void(uint64_t, uint64_t)> progress;
  // Threads that read and check blocks (reads overlap: a store larger than
  // memory is read from the device). 0: twice the cores, in [2, 16].
  size_t threads = 0;
};

// Checks every block of `disk`. Problems found are in the report, not the
// Status; the Status is an error only if the store could not be read.
Result<VerifyReport> VerifyStore(DiskTier* disk, const VerifyOptions& options = {});

struct RepairResult {
  ApplyResult applied;       // blocks deleted, bytes, compaction
  uint64_t unreachable = 0;  // of the deleted blocks, those deleted only for being below a problem
  uint64_t links_deleted = 0;
  uint64_t logits_deleted = 0;
};

// Deletes what `report` found (see the file comment) from `disk`, children
// before parents. It re-reads the block graph first, so blocks written below
// a problem since the report go too, and re-checks every child link after
// deleting (a block whose meta and blob were both unreadable leaves a link
// under a parent only the link itself names).
// Pinned blocks (gc/pins.h) and their ancestors are kept unless corrupt.
// REQUIRES: `report` came from VerifyStore on this `disk`, opened read-write.
Result<RepairResult> Repair(DiskTier* disk, const VerifyReport& report, bool compact = true);

}  // namespace kvstash

#endif  // KVSTASH_GC_VERIFY_H_
