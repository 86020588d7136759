// Feeds ParsePack and ImportPack a pack file (`kvstash import`), importing
// whatever parses into a real disk tier (RocksDB) kept for the whole run.
// Needs the store library, so it is built only from the top level (the
// `fuzz` preset), not by the torch-free short run.
//
// Input: control byte | pack. Control bit 0: recompute the pack's trailing
// checksum first. The store lives in a private directory under $TMPDIR
// (default /dev/shm if writable, else /tmp), removed at exit.
//
// Properties: nothing crashes, leaks or hits UB; bad bytes are Corruption or
// NotSupported, and ImportPack refuses what ParsePack refuses with the same
// code; a pack that parses holds blobs that name its
// model, their record's hash and parent; importing it fails only with
// Corruption (a parent neither in the pack nor in the store) or stores every
// block (meta with the blob's parent and tokens) and the model; and the
// model's blocks in the store export to a pack that parses again.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "fuzz/fuzz_util.h"
#include "gc/pack.h"
#include "serde/block_codec.h"
#include "store/disk_tier.h"

namespace kvstash::fuzz {
namespace {

struct ScratchStore {
  std::string dir;
  std::unique_ptr<DiskTier> disk;
  ScratchStore() {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = tmp && *tmp ? tmp : "/tmp";
    if (!(tmp && *tmp) && ::access("/dev/shm", W_OK) == 0) base = "/dev/shm";
    std::string pattern = base + "/kvstash-fuzz-pack-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    dir = pattern;
    DiskTierOptions options;
    options.path = dir + "/store";
    options.read_cache_bytes = 1u << 20;
    Result<std::unique_ptr<DiskTier>> opened = DiskTier::Open(options);
    if (!opened.ok()) {
      std::fprintf(stderr, "cannot open a disk tier: %s\n", opened.status().ToString().c_str());
      std::abort();
    }
    disk = std::move(opened).value();
  }
  ~ScratchStore() {
    disk.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

}  // namespace
}  // namespace kvstash::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvstash;
  using namespace kvstash::fuzz;
  static ScratchStore* store = new ScratchStore();
  static const bool registered = (std::atexit([] { delete store; }), true);
  (void)registered;
  if (size < 1) return 0;
  std::string bytes(AsView(data + 1, size - 1));
  if (data[0] & 1) FixTrailingChecksum(&bytes);
  DiskTier* disk = store->disk.get();

  Result<Pack> pack = ParsePack(bytes);
  Result<ImportResult> imported = ImportPack(disk, bytes);
  if (!pack.ok()) {
    FUZZ_CHECK_ERROR(pack.status(), Code::kCorruption, Code::kNotSupported);
    FUZZ_CHECK_MSG(!imported.ok() && imported.status().code() == pack.status().code(),
                   imported.status().ToString());
    return 0;
  }
  for (const PackRecord& r : pack->records) {
    Result<BlockHeader> header = ParseBlockHeader(r.blob);
    FUZZ_CHECK_MSG(header.ok(), header.status().ToString());
    FUZZ_CHECK(header->model == pack->model && header->hash == r.hash &&
               header->parent == r.parent);
  }
  if (!imported.ok()) {
    FUZZ_CHECK_ERROR(imported.status(), Code::kCorruption);
    return 0;
  }
  FUZZ_CHECK(imported->model == pack->model && imported->blocks == pack->records.size() &&
             imported->new_blocks <= imported->blocks && imported->logits == pack->logits.size());
  for (const PackRecord& r : pack->records) {
    Result<BlockMeta> meta = disk->GetMeta(pack->model, r.hash);
    FUZZ_CHECK_MSG(meta.ok(), meta.status().ToString());
    Result<BlockHeader> header = ParseBlockHeader(r.blob);
    FUZZ_CHECK(meta->parent == r.parent && meta->tokens == header->tokens);
    std::string stored;
    FUZZ_CHECK(disk->GetBlob(pack->model, r.hash, &stored).ok());
  }
  Result<std::string> description = disk->GetModel(pack->model);
  FUZZ_CHECK(description.ok());
  Result<std::string> exported = ExportPack(disk, pack->model);
  FUZZ_CHECK_MSG(exported.ok(), exported.status().ToString());
  Result<Pack> reparsed = ParsePack(*exported);
  FUZZ_CHECK_MSG(reparsed.ok(), reparsed.status().ToString());
  FUZZ_CHECK(reparsed->records.size() >= pack->records.size());
  return 0;
}
