// Salvage: a new store built from the blob files of one RocksDB cannot open.
//
// A damaged MANIFEST, CURRENT or table file makes RocksDB refuse to open a
// store, and RocksDB's own RepairDB cannot help a store that keeps its values
// in blob files: it rebuilds the MANIFEST from the table files only, so every
// blob file drops out of the database and is deleted as obsolete at the next
// open (RocksDB 7.8 through 9.x: the repairer never adds blob files). But
// every kvstash blob names its own key: the block header holds the model,
// the chained hash, the parent and the tokens, under an xxh3 checksum
// (docs/format.md, section 1). So a block can be stored again from its blob
// alone, checked exactly as a peer's put is, wherever RocksDB left it: in a
// blob file, a WAL record (fragments joined) or an uncompressed table block.
//
// SalvageStore moves the damaged directory aside (nothing is deleted), creates
// a fresh store at the same path and writes into it every block found in the
// old files that checks out. The registry, pins, logits records and counters
// are small records in table files and are not recovered: a model is
// registered again by its next run, and a fully cached prompt computes its
// last token once more. Run VerifyStore and Repair on the result: a block
// deleted before the damage can come back from an older file, without its
// parent.
//
// Thread-safety: needs the store to itself (no process may have it open).
#ifndef KVSTASH_GC_SALVAGE_H_
#define KVSTASH_GC_SALVAGE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "serde/status.h"
#include "store/disk_tier.h"

namespace kvstash {

struct SalvageReport {
  std::string damaged_path;   // where the damaged store now is
  uint64_t files = 0;         // blob, WAL and table files read
  uint64_t records = 0;       // blobs found in them that check out
  uint64_t blocks = 0;        // distinct blocks among them, stored
  uint64_t stored_bytes = 0;  // their blobs' bytes
  uint64_t bad_records = 0;   // block magic where no sound blob follows (skipped)
  uint64_t duplicates = 0;    // blobs of a block already stored
};

// Moves `options.path` to "<path>.damaged-<unix seconds>", opens a new store
// at `options.path` with `options` and stores every sound block of the old
// files in it. Returns the new store. IOError if the move or the new store
// fails.
Result<std::unique_ptr<DiskTier>> SalvageStore(const DiskTierOptions& options,
                                               SalvageReport* report);

// Whether an open that failed with `status` is damage that SalvageStore may
// get past (Corruption, or a file the store lists that is gone), rather than
// a lock held, a full disk, a permission or a failing device.
bool IsSalvageable(const Status& status);

}  // namespace kvstash

#endif  // KVSTASH_GC_SALVAGE_H_
