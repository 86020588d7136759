// Feeds BlockMeta::Decode the per-block record the disk tier keeps in
// RocksDB (read on every match, listing and garbage collection).
//
// Input: the record bytes.
//
// Properties: nothing crashes, leaks or hits UB; bad bytes are Corruption or
// NotSupported; a record that decodes re-encodes byte-identically, so the
// encoding is canonical.
#include "fuzz/fuzz_util.h"
#include "serde/block_meta.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvstash;
  using namespace kvstash::fuzz;
  const std::string_view bytes = AsView(data, size);
  Result<BlockMeta> meta = BlockMeta::Decode(bytes);
  if (!meta.ok()) {
    FUZZ_CHECK_ERROR(meta.status(), Code::kCorruption, Code::kNotSupported);
    return 0;
  }
  FUZZ_CHECK(!meta->tokens.empty() && meta->tokens.size() <= kMaxBlockTokens);
  FUZZ_CHECK(IsKnownDType(static_cast<uint8_t>(meta->dtype)));
  FUZZ_CHECK_MSG(meta->Encode() == bytes, "a decoded meta re-encodes to other bytes");
  return 0;
}
