#include "serde/store_records.h"

#include <iterator>

#include "serde/le_coding.h"

namespace kvstash {

namespace {

// The record's fields in their on-disk order (docs/format.md, 5.1); Encode,
// Decode and the arithmetic all walk this list. Only ever append.
constexpr uint64_t DiskCounters::*kCounterFields[] = {
    &DiskCounters::hit_tokens_device,
    &DiskCounters::hit_tokens_disk,
    &DiskCounters::miss_tokens,
    &DiskCounters::blocks_inserted,
    &DiskCounters::hash_collisions,
    &DiskCounters::corrupt_blocks,
    &DiskCounters::loads,
    &DiskCounters::hit_tokens_remote,
    // version 2
    &DiskCounters::remote_puts,
    &DiskCounters::remote_put_errors,
};
// How many of the fields each version holds (index: version).
constexpr size_t kCounterFieldsOfVersion[] = {0, 8, 10};
static_assert(std::size(kCounterFieldsOfVersion) == kDiskCountersVersion + 1);
static_assert(kCounterFieldsOfVersion[kDiskCountersVersion] == std::size(kCounterFields));

}  // namespace

DiskCounters& DiskCounters::operator+=(const DiskCounters& d) {
  for (auto field : kCounterFields) this->*field += d.*field;
  return *this;
}

bool DiskCounters::IsZero() const {
  for (auto field : kCounterFields) {
    if (this->*field != 0) return false;
  }
  return true;
}

std::string DiskCounters::Encode() const {
  std::string out;
  out.reserve(1 + 8 * std::size(kCounterFields));
  PutFixed8(&out, kDiskCountersVersion);
  for (auto field : kCounterFields) PutFixed64(&out, this->*field);
  return out;
}

Result<DiskCounters> DiskCounters::Decode(std::string_view bytes) {
  LeReader in(bytes);
  uint8_t version = 0;
  if (!in.Read8(&version) || version == 0) {
    return Status::Corruption("store counters: bad version");
  }
  if (version > kDiskCountersVersion) {
    return Status::NotSupported("store counters: version " + std::to_string(version) +
                                " is newer than this kvstash reads (" +
                                std::to_string(kDiskCountersVersion) + ")");
  }
  DiskCounters c;
  for (size_t i = 0; i < kCounterFieldsOfVersion[version]; ++i) {
    if (!in.Read64(&(c.*kCounterFields[i]))) return Status::Corruption("store counters: truncated");
  }
  if (in.remaining() != 0) {
    return Status::Corruption("store counters: " + std::to_string(in.remaining()) +
                              " trailing bytes");
  }
  return c;
}

std::string DiskPin::Encode() const {
  std::string out;
  out.reserve(1 + 2 * Hash128::kEncodedSize + 8);
  PutFixed8(&out, kDiskPinVersion);
  model.AppendTo(&out);
  leaf.AppendTo(&out);
  PutFixed64(&out, tokens);
  return out;
}

Result<DiskPin> DiskPin::Decode(std::string_view bytes) {
  LeReader in(bytes);
  uint8_t version = 0;
  if (!in.Read8(&version) || version == 0) return Status::Corruption("pin: bad version");
  if (version > kDiskPinVersion) {
    return Status::NotSupported("pin: version " + std::to_string(version) +
                                " is newer than this kvstash reads (" +
                                std::to_string(kDiskPinVersion) + ")");
  }
  DiskPin pin;
  std::string_view model, leaf;
  if (!in.ReadBytes(Hash128::kEncodedSize, &model) || !in.ReadBytes(Hash128::kEncodedSize, &leaf) ||
      !in.Read64(&pin.tokens)) {
    return Status::Corruption("pin: truncated");
  }
  if (in.remaining() != 0) {
    return Status::Corruption("pin: " + std::to_string(in.remaining()) + " trailing bytes");
  }
  pin.model = Hash128::DecodeFrom(model.data());
  pin.leaf = Hash128::DecodeFrom(leaf.data());
  return pin;
}

}  // namespace kvstash
