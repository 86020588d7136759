// Feeds BlockCodec::Decode and ParseBlockHeader an arbitrary blob, as read
// from disk, a peer's get/put or a pack.
//
// Input: control byte | blob. Control bit 0: recompute the blob's trailing
// checksum first. Bits 1-7 pick how the raw array is split into a scattered
// decode target.
//
// Properties: nothing crashes, leaks or hits UB; bad bytes are Corruption or
// NotSupported; a blob that parses without its checksum check agrees with the
// checked parse; decoding into one whole range, into scattered ranges and
// into nothing succeed or fail together and agree on every byte; and a blob
// that decodes re-encodes (same codec and chunking) to a blob that decodes to
// the same header and raw bytes (byte-identical when uncompressed).
#include <algorithm>
#include <cstring>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "serde/block_codec.h"

namespace kvstash::fuzz {
namespace {

// Bigger blocks are decoded only into a small window: a tiny zstd frame can
// declare up to kMaxBlockRawBytes, and allocating that per input would make
// the fuzzer crawl without covering anything new.
constexpr uint64_t kMaxWholeDecode = 4u << 20;
// Re-encoding runs zstd at the blob's level; keep that cheap.
constexpr uint64_t kMaxReencode = 256u << 10;

// Every field of the header but the informational level (Encode clamps it
// differently from the blob's own). plane_chunk_bytes is 0 outside codec 2.
bool SameHeader(const BlockHeader& a, const BlockHeader& b) {
  return a.version == b.version && a.model == b.model && a.hash == b.hash && a.parent == b.parent &&
         a.shape == b.shape && a.tokens == b.tokens && a.codec == b.codec &&
         a.plane_chunk_bytes == b.plane_chunk_bytes && a.raw_bytes == b.raw_bytes;
}

// Up to three disjoint, sorted ranges of [0, raw_bytes), chosen by `seed`.
ScatterMap SplitTarget(uint64_t raw_bytes, uint8_t seed, std::vector<char>* backing) {
  ScatterMap map;
  if (raw_bytes == 0) return map;
  const uint64_t a = raw_bytes * (seed & 7) / 8;
  const uint64_t b = a + (raw_bytes - a) * ((seed >> 3) & 3) / 4;
  const uint64_t c = b + (raw_bytes - b) * ((seed >> 5) & 3) / 4;
  backing->assign(static_cast<size_t>(raw_bytes), 0);
  // [0, a) and [b, c): two pieces with a hole; [c, raw) only if odd seed.
  if (a > 0) map.push_back({0, backing->data(), a});
  if (c > b) map.push_back({b, backing->data() + b, c - b});
  if ((seed & 1) && raw_bytes > c) map.push_back({c, backing->data() + c, raw_bytes - c});
  return map;
}

void CheckDecodedBlock(std::string_view blob, const BlockHeader& header, uint8_t seed) {
  BlockCodec codec;
  Result<BlockHeader> bare = codec.Decode(blob, {});
  if (header.raw_bytes > kMaxWholeDecode) {
    // Only the first bytes, through the scattered (streaming) path.
    std::vector<char> head(4096);
    Result<BlockHeader> window = codec.Decode(blob, {{0, head.data(), head.size()}});
    FUZZ_CHECK(window.ok() == bare.ok());
    if (!window.ok()) FUZZ_CHECK_ERROR(window.status(), Code::kCorruption);
    return;
  }

  std::vector<char> raw(static_cast<size_t>(header.raw_bytes));
  Result<BlockHeader> whole =
      codec.Decode(blob, {{0, raw.data(), static_cast<uint64_t>(raw.size())}});
  std::vector<char> pieces;
  ScatterMap split = SplitTarget(header.raw_bytes, seed, &pieces);
  Result<BlockHeader> scattered = codec.Decode(blob, split);

  FUZZ_CHECK_MSG(whole.ok() == scattered.ok() && whole.ok() == bare.ok(),
                 "whole " + whole.status().ToString() + ", scattered " +
                     scattered.status().ToString() + ", no target " + bare.status().ToString());
  if (!whole.ok()) {
    FUZZ_CHECK_ERROR(whole.status(), Code::kCorruption);
    return;
  }
  FUZZ_CHECK(SameHeader(*whole, header) && SameHeader(*scattered, header));
  for (const ScatterRange& r : split) {
    FUZZ_CHECK(std::memcmp(r.dst, raw.data() + r.raw_offset, r.size) == 0);
  }

  if (header.raw_bytes > kMaxReencode) return;
  EncodeOptions options;
  options.codec = header.codec;
  options.level = std::clamp<int>(header.level, -5, 3);
  options.plane_chunk_bytes = header.plane_chunk_bytes;
  std::string again;
  Status encoded = codec.Encode(header, std::string_view(raw.data(), raw.size()), options, &again);
  FUZZ_CHECK_MSG(encoded.ok(), encoded.ToString());
  if (header.codec == Codec::kNone) {  // its level and chunk size are 0
    FUZZ_CHECK_MSG(again == blob, "an uncompressed block re-encodes to other bytes");
  }
  std::vector<char> raw_again(raw.size());
  Result<BlockHeader> redecoded =
      codec.Decode(again, {{0, raw_again.data(), static_cast<uint64_t>(raw_again.size())}});
  FUZZ_CHECK_MSG(redecoded.ok(), redecoded.status().ToString());
  FUZZ_CHECK(SameHeader(*redecoded, header));
  FUZZ_CHECK(raw_again == raw);
}

}  // namespace
}  // namespace kvstash::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvstash;
  using namespace kvstash::fuzz;
  if (size < 1) return 0;
  const uint8_t control = data[0];
  std::string blob(AsView(data + 1, size - 1));
  if (control & 1) FixTrailingChecksum(&blob);

  Result<BlockHeader> checked = ParseBlockHeader(blob, /*verify_checksum=*/true);
  Result<BlockHeader> unchecked = ParseBlockHeader(blob, /*verify_checksum=*/false);
  if (!checked.ok()) {
    FUZZ_CHECK_ERROR(checked.status(), Code::kCorruption, Code::kNotSupported);
    if (!unchecked.ok())
      FUZZ_CHECK_ERROR(unchecked.status(), Code::kCorruption, Code::kNotSupported);
    BlockCodec codec;
    Result<BlockHeader> decoded = codec.Decode(blob, {});
    FUZZ_CHECK(!decoded.ok());
    return 0;
  }
  FUZZ_CHECK_MSG(unchecked.ok(), unchecked.status().ToString());
  FUZZ_CHECK(SameHeader(*checked, *unchecked) && checked->level == unchecked->level &&
             checked->plane_chunk_bytes == unchecked->plane_chunk_bytes);
  FUZZ_CHECK(checked->EncodedSize() == blob.size());
  CheckDecodedBlock(blob, *checked, static_cast<uint8_t>(control >> 1));
  return 0;
}
