#include "gc/pack.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "serde/block_codec.h"
#include "serde/hash128.h"
#include "serde/le_coding.h"
#include "serde/logits_record.h"
#include "store/clock.h"

namespace kvstash {

namespace {

constexpr size_t kPackChecksumSize = 8;

// A blob is acceptable only if it is intact and is exactly the block its
// record (and the pack's model) says it is.
Result<BlockHeader> CheckBlob(const ModelId& model, const PackRecord& r) {
  Result<BlockHeader> header = ParseBlockHeader(r.blob, /*verify_checksum=*/true);
  if (!header.ok()) return header.status().WithContext("block " + r.hash.ToHex());
  if (header->model != model) {
    return Status::Corruption("block " + r.hash.ToHex() + ": header names model " +
                              header->model.ToHex() + ", pack holds " + model.ToHex());
  }
  if (header->hash != r.hash || header->parent != r.parent) {
    return Status::Corruption("block " + r.hash.ToHex() + ": header hash/parent (" +
                              header->hash.ToHex() + "/" + header->parent.ToHex() +
                              ") disagree with the record");
  }
  const BlockHash computed =
      ComputeBlockHash(model, r.parent, header->tokens.data(), header->tokens.size());
  if (computed != r.hash) {
    return Status::Corruption("block " + r.hash.ToHex() + ": hash of its tokens is " +
                              computed.ToHex());
  }
  return header;
}

}  // namespace

Result<std::string> ExportPack(DiskTier* disk, const ModelId& model,
                               const std::optional<BlockHash>& leaf) {
  KVSTASH_ASSIGN_OR_RETURN(std::string description, disk->GetModel(model));
  std::vector<std::pair<BlockHash, BlockMeta>> blocks;
  if (leaf) {
    BlockHash h = *leaf;
    while (h != kRootBlockHash) {
      Result<BlockMeta> meta = disk->GetMeta(model, h);
      if (!meta.ok()) return meta.status().WithContext("export chain of " + leaf->ToHex());
      if (blocks.size() > (1u << 24)) return Status::Corruption("export: parent chain loops");
      const BlockHash parent = meta->parent;
      blocks.emplace_back(h, std::move(meta).value());
      h = parent;
    }
    std::reverse(blocks.begin(), blocks.end());  // parents first
  } else {
    Status error;
    KVSTASH_RETURN_IF_ERROR(disk->ForEachMeta(
        model, [&](const ModelId&, const BlockHash& hash, const Result<BlockMeta>& meta) {
          if (!meta.ok()) {
            error = meta.status().WithContext("export: meta of block " + hash.ToHex());
            return false;
          }
          blocks.emplace_back(hash, *meta);
          return true;
        }));
    KVSTASH_RETURN_IF_ERROR(error);
    // Key order is not chain order: sort by depth so parents come first.
    std::unordered_map<BlockHash, const BlockMeta*, Hash128Hasher> by_hash;
    for (const auto& [h, m] : blocks) by_hash[h] = &m;
    std::unordered_map<BlockHash, size_t, Hash128Hasher> depth;
    for (const auto& [h, m] : blocks) {
      size_t d = 0;
      for (auto it = by_hash.find(m.parent); it != by_hash.end() && d <= blocks.size();
           it = by_hash.find(it->second->parent)) {
        ++d;
      }
      depth[h] = d;
    }
    std::stable_sort(blocks.begin(), blocks.end(),
                     [&](const auto& a, const auto& b) { return depth[a.first] < depth[b.first]; });
  }

  // The logits records of prompts whose parent block is exported.
  std::unordered_set<BlockHash, Hash128Hasher> exported;
  for (const auto& [h, m] : blocks) exported.insert(h);
  std::vector<PackLogits> logits;
  KVSTASH_RETURN_IF_ERROR(
      disk->ForEachLogits(model, [&](const LogitsKey& key, std::string_view record) {
        if (exported.count(key.parent))
          logits.push_back({key.parent, key.tail, std::string(record)});
        return true;
      }));

  std::string out(kPackMagic, sizeof(kPackMagic));
  PutFixed16(&out, logits.empty() ? 1 : 2);
  PutFixed32(&out, static_cast<uint32_t>(description.size()));
  out += description;
  model.AppendTo(&out);
  PutFixed64(&out, blocks.size());
  std::string blob;
  for (const auto& [hash, meta] : blocks) {
    KVSTASH_RETURN_IF_ERROR(disk->GetBlob(model, hash, &blob));
    KVSTASH_RETURN_IF_ERROR(CheckBlob(model, {hash, meta.parent, blob}).status());
    hash.AppendTo(&out);
    meta.parent.AppendTo(&out);
    PutFixed64(&out, blob.size());
    out += blob;
  }
  if (!logits.empty()) {
    PutFixed64(&out, logits.size());
    for (const PackLogits& l : logits) {
      KVSTASH_RETURN_IF_ERROR(
          VerifyLogitsRecord(l.record, {model, l.parent, l.tail}).status().WithContext("export"));
      l.parent.AppendTo(&out);
      l.tail.AppendTo(&out);
      PutFixed64(&out, l.record.size());
      out += l.record;
    }
  }
  PutFixed64(&out, Xxh3Hash64(out.data(), out.size()));
  return out;
}

Result<Pack> ParsePack(std::string_view bytes) {
  if (bytes.size() < sizeof(kPackMagic) + 2 + kPackChecksumSize) {
    return Status::Corruption("pack: truncated (" + std::to_string(bytes.size()) + " bytes)");
  }
  if (std::memcmp(bytes.data(), kPackMagic, sizeof(kPackMagic)) != 0) {
    return Status::Corruption("pack: bad magic");
  }
  const uint16_t version = DecodeFixed16(bytes.data() + sizeof(kPackMagic));
  if (version > kPackVersion) {
    return Status::NotSupported("pack: version " + std::to_string(version) +
                                " is newer than this kvstash reads (" +
                                std::to_string(kPackVersion) + ")");
  }
  if (version < kPackMinReadableVersion) {
    return Status::Corruption("pack: bad version " + std::to_string(version));
  }
  const std::string_view body = bytes.substr(0, bytes.size() - kPackChecksumSize);
  const uint64_t stored = DecodeFixed64(bytes.data() + body.size());
  const uint64_t computed = Xxh3Hash64(body.data(), body.size());
  if (stored != computed) {
    return Status::Corruption("pack: checksum mismatch (truncated or damaged file)");
  }

  LeReader in(body.substr(sizeof(kPackMagic) + 2));
  Pack pack;
  uint32_t desc_len = 0;
  std::string_view desc, model;
  uint64_t count = 0;
  if (!in.Read32(&desc_len) || !in.ReadBytes(desc_len, &desc) ||
      !in.ReadBytes(Hash128::kEncodedSize, &model) || !in.Read64(&count)) {
    return Status::Corruption("pack: truncated header");
  }
  pack.description = std::string(desc);
  pack.model = Hash128::DecodeFrom(model.data());
  KVSTASH_ASSIGN_OR_RETURN(ModelDescription description,
                           ModelDescription::FromCanonicalText(pack.description));
  KVSTASH_ASSIGN_OR_RETURN(ModelId fingerprint, description.Fingerprint());
  if (fingerprint != pack.model) {
    return Status::Corruption("pack: model id " + pack.model.ToHex() +
                              " != fingerprint of its description " + fingerprint.ToHex());
  }
  constexpr size_t kRecordFixed = 2 * Hash128::kEncodedSize + 8;
  if (count > in.remaining() / kRecordFixed) {
    return Status::Corruption("pack: " + std::to_string(count) + " records cannot fit");
  }
  pack.records.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view hash, parent, blob;
    uint64_t blob_len = 0;
    if (!in.ReadBytes(Hash128::kEncodedSize, &hash) ||
        !in.ReadBytes(Hash128::kEncodedSize, &parent) || !in.Read64(&blob_len) ||
        !in.ReadBytes(blob_len, &blob)) {
      return Status::Corruption("pack: truncated record " + std::to_string(i));
    }
    PackRecord r{Hash128::DecodeFrom(hash.data()), Hash128::DecodeFrom(parent.data()),
                 std::string(blob)};
    KVSTASH_RETURN_IF_ERROR(CheckBlob(pack.model, r).status().WithContext("pack"));
    pack.records.push_back(std::move(r));
  }
  if (version >= 2) {
    std::unordered_set<BlockHash, Hash128Hasher> in_pack;
    for (const PackRecord& r : pack.records) in_pack.insert(r.hash);
    uint64_t logits_count = 0;
    if (!in.Read64(&logits_count)) return Status::Corruption("pack: truncated logits count");
    if (logits_count > in.remaining() / (2 * Hash128::kEncodedSize + 8)) {
      return Status::Corruption("pack: " + std::to_string(logits_count) +
                                " logits records cannot fit");
    }
    for (uint64_t i = 0; i < logits_count; ++i) {
      std::string_view parent, tail, record;
      uint64_t len = 0;
      if (!in.ReadBytes(Hash128::kEncodedSize, &parent) ||
          !in.ReadBytes(Hash128::kEncodedSize, &tail) || !in.Read64(&len) ||
          !in.ReadBytes(len, &record)) {
        return Status::Corruption("pack: truncated logits record " + std::to_string(i));
      }
      PackLogits l{Hash128::DecodeFrom(parent.data()), Hash128::DecodeFrom(tail.data()),
                   std::string(record)};
      Result<uint32_t> vocab = VerifyLogitsRecord(l.record, {pack.model, l.parent, l.tail});
      if (!vocab.ok()) return vocab.status().WithContext("pack");
      if (*vocab != description.vocab_size) {
        return Status::Corruption("pack: logits record of " + std::to_string(*vocab) +
                                  " values for a model whose vocab is " +
                                  std::to_string(description.vocab_size));
      }
      if (!in_pack.count(l.parent)) {
        return Status::Corruption("pack: logits record under block " + l.parent.ToHex() +
                                  ", which the pack does not hold");
      }
      pack.logits.push_back(std::move(l));
    }
  }
  if (in.remaining() != 0) {
    return Status::Corruption("pack: " + std::to_string(in.remaining()) + " trailing bytes");
  }
  return pack;
}

Result<ImportResult> ImportPack(DiskTier* disk, std::string_view bytes) {
  if (disk->read_only()) return Status::NotSupported("import: store opened read-only");
  KVSTASH_ASSIGN_OR_RETURN(Pack pack, ParsePack(bytes));
  ImportResult result;
  result.model = pack.model;
  result.blocks = pack.records.size();
  std::unordered_set<BlockHash, Hash128Hasher> in_pack;
  for (const PackRecord& r : pack.records) in_pack.insert(r.hash);
  std::vector<DiskBlockWrite> writes;
  const uint64_t now = NowMs();
  for (PackRecord& r : pack.records) {
    if (r.parent != kRootBlockHash && !in_pack.count(r.parent)) {
      Result<BlockMeta> parent = disk->GetMeta(pack.model, r.parent);
      if (!parent.ok()) {
        return Status::Corruption("pack: block " + r.hash.ToHex() + " continues " +
                                  r.parent.ToHex() +
                                  ", which neither the pack nor the store holds");
      }
    }
    if (disk->GetMeta(pack.model, r.hash).ok()) continue;  // already stored
    KVSTASH_ASSIGN_OR_RETURN(BlockHeader header, ParseBlockHeader(r.blob, false));
    // ParsePack checked the header's parent against the record's.
    DiskBlockWrite w = BlockWriteFromHeader(pack.model, r.hash, header, std::move(r.blob), now);
    result.stored_bytes += w.blob.size();
    writes.push_back(std::move(w));
  }
  result.new_blocks = writes.size();
  KVSTASH_RETURN_IF_ERROR(disk->PutBlocks(writes, /*sync=*/true));
  KVSTASH_RETURN_IF_ERROR(disk->PutModel(pack.model, pack.description));
  for (const PackLogits& l : pack.logits) {
    KVSTASH_RETURN_IF_ERROR(disk->PutLogits({pack.model, l.parent, l.tail}, l.record));
    ++result.logits;
  }
  return result;
}

}  // namespace kvstash
