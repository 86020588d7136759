// Feeds VerifyLogitsRecord and DecodeLogitsRecord a record as read from the
// disk tier, a peer's get-logits-ok or put-logits, or a pack.
//
// Input: control byte | record. Control bit 0: recompute the record's
// trailing checksum first. Bit 1: verify against the key the record names
// (so identity checks pass and the fuzzer reaches what follows them);
// otherwise against a key that differs from it.
//
// Properties: nothing crashes, leaks or hits UB; bad bytes are Corruption or
// NotSupported; a record that verifies decodes into exactly `vocab` floats,
// refuses any other vocab, and re-encodes byte-identically.
#include <cstring>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "serde/logits_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvstash;
  using namespace kvstash::fuzz;
  if (size < 1) return 0;
  const uint8_t control = data[0];
  std::string record(AsView(data + 1, size - 1));
  if (control & 1) FixTrailingChecksum(&record);

  // Layout: magic(4) version(2) model(16) parent(16) tail(16) ...
  constexpr size_t kIdsOffset = 6;
  LogitsKey key;
  if (record.size() >= kIdsOffset + 3 * Hash128::kEncodedSize) {
    const char* ids = record.data() + kIdsOffset;
    key.model = Hash128::DecodeFrom(ids);
    key.parent = Hash128::DecodeFrom(ids + Hash128::kEncodedSize);
    key.tail = Hash128::DecodeFrom(ids + 2 * Hash128::kEncodedSize);
    if (!(control & 2)) key.tail.lo ^= 1;
  }

  Result<uint32_t> vocab = VerifyLogitsRecord(record, key);
  if (!vocab.ok()) {
    FUZZ_CHECK_ERROR(vocab.status(), Code::kCorruption, Code::kNotSupported);
    std::vector<float> sink(4);
    FUZZ_CHECK(!DecodeLogitsRecord(record, key, 4, sink.data()).ok());
    return 0;
  }
  FUZZ_CHECK(*vocab > 0 && *vocab <= kMaxLogitsVocab);
  // Canaries on both sides catch a write outside the `vocab` floats.
  std::vector<float> logits(*vocab + 2);
  const float kCanary = 1234.5f;
  logits.front() = logits.back() = kCanary;
  Status decoded = DecodeLogitsRecord(record, key, *vocab, logits.data() + 1);
  FUZZ_CHECK_MSG(decoded.ok(), decoded.ToString());
  FUZZ_CHECK(logits.front() == kCanary && logits.back() == kCanary);
  FUZZ_CHECK_ERROR(DecodeLogitsRecord(record, key, *vocab + 1, logits.data()), Code::kCorruption);

  std::string again;
  EncodeLogitsRecord(key, logits.data() + 1, *vocab, &again);
  FUZZ_CHECK_MSG(again == record, "a verified record re-encodes to other bytes");
  return 0;
}
