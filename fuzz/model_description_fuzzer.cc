// Feeds ModelDescription::FromCanonicalText the model description text that
// the store's registry holds and that a pack or a peer's register frame
// carries (its fingerprint is checked against the model id they name).
//
// Input: the text.
//
// Properties: nothing crashes, leaks or hits UB; bad text is Corruption; a
// description that parses can be written back (ToCanonicalText), and its
// canonical text is a fixed point: it parses to a description with the same
// canonical text and so the same fingerprint. (Parsing accepts some
// non-canonical spellings, such as "0064" or "1e4"; they map to the canonical
// one, which is what the fingerprint is computed from.)
#include "fuzz/fuzz_util.h"
#include "serde/model_id.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvstash;
  using namespace kvstash::fuzz;
  Result<ModelDescription> description = ModelDescription::FromCanonicalText(AsView(data, size));
  if (!description.ok()) {
    FUZZ_CHECK_ERROR(description.status(), Code::kCorruption);
    return 0;
  }
  Result<std::string> canonical = description->ToCanonicalText();
  FUZZ_CHECK_MSG(canonical.ok(), canonical.status().ToString());
  Result<ModelDescription> again = ModelDescription::FromCanonicalText(*canonical);
  FUZZ_CHECK_MSG(again.ok(), again.status().ToString());
  Result<std::string> canonical_again = again->ToCanonicalText();
  FUZZ_CHECK(canonical_again.ok() && *canonical_again == *canonical);
  Result<ModelId> id = description->Fingerprint();
  Result<ModelId> id_again = again->Fingerprint();
  FUZZ_CHECK(id.ok() && id_again.ok() && *id == *id_again && *id == Xxh3Hash128(*canonical));
  (void)description->Summary();
  return 0;
}
