#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "engine/tokenizer_normalizer_internal.h"
#include "engine/tokenizer_unicode_internal.h"

namespace kvstash::tokenizer_internal {
namespace {

// STABLE keeps unassigned code points as they are, like Rust's
// unicode-normalization, instead of failing on them.
int FormOptions(const std::string& type) {
  if (type == "NFC") return UTF8PROC_STABLE | UTF8PROC_COMPOSE;
  if (type == "NFD") return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE;
  if (type == "NFKC") return UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  if (type == "NFKD") return UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  return -1;
}

Status Collect(const Json& value, const std::string& where, std::vector<int>* forms) {
  if (value.is_null()) return Status::OK();
  KVSTASH_ASSIGN_OR_RETURN(const std::string type, ComponentType(value, where));
  if (type == "Sequence") {
    KVSTASH_ASSIGN_OR_RETURN(const Json* list, ArrayMember(value, "normalizers", where));
    for (size_t i = 0; i < list->size(); ++i) {
      KVSTASH_RETURN_IF_ERROR(Collect((*list)[i], Element(Member(where, "normalizers"), i), forms));
    }
    return Status::OK();
  }
  const int options = FormOptions(type);
  if (options < 0) return UnsupportedType("normalizer", type, where);
  forms->push_back(options);
  return Status::OK();
}

// Normalizes one run of valid UTF-8.
Status NormalizeRun(std::string_view run, int options, std::string* out) {
  bool ascii = true;
  for (char c : run) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) {  // every normal form leaves ASCII alone; skip the allocation
    out->append(run);
    return Status::OK();
  }
  utf8proc_uint8_t* dst = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run.data()),
                                          static_cast<utf8proc_ssize_t>(run.size()), &dst,
                                          static_cast<utf8proc_option_t>(options));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(dst, &std::free);
  if (n < 0) {
    // The run was validated before, so only allocation can fail here.
    return Status::ResourceExhausted(std::string("normalizer: ") + utf8proc_errmsg(n));
  }
  out->append(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
  return Status::OK();
}

Status ApplyForm(std::string_view text, int options, std::string* out) {
  out->clear();
  out->reserve(text.size());
  size_t run_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Unit unit = DecodeUtf8(text, pos);
    if (unit.valid) {
      pos += unit.size;
      continue;
    }
    KVSTASH_RETURN_IF_ERROR(NormalizeRun(text.substr(run_start, pos - run_start), options, out));
    out->push_back(text[pos]);
    run_start = ++pos;
  }
  return NormalizeRun(text.substr(run_start), options, out);
}

}  // namespace

Result<Normalizer> Normalizer::FromJson(const Json& value, const std::string& where) {
  Normalizer n;
  KVSTASH_RETURN_IF_ERROR(Collect(value, where, &n.forms_));
  return n;
}

Status Normalizer::Apply(std::string_view text, std::string* out) const {
  if (forms_.empty()) {
    out->assign(text);
    return Status::OK();
  }
  std::string scratch;
  std::string_view current = text;
  for (size_t i = 0; i < forms_.size(); ++i) {
    // Alternate between *out and scratch so each form reads the previous result.
    std::string* dst = (i % 2 == forms_.size() % 2) ? &scratch : out;
    KVSTASH_RETURN_IF_ERROR(ApplyForm(current, forms_[i], dst));
    current = *dst;
  }
  return Status::OK();
}

}  // namespace kvstash::tokenizer_internal
