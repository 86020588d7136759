// DiskTier: the child links (who continues a prefix, sorted by tokens), and
// the migration of layout-1 stores to them. Layout in docs/format.md, 5.
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "serde/le_coding.h"
#include "store/disk_tier_internal.h"
#include "store/rocks_status_internal.h"

namespace kvstash {

namespace {

// Links written per batch while migrating: bounds the batch's memory.
constexpr size_t kMigrationBatchLinks = 1 << 16;

uint32_t LoadBigEndian32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

}  // namespace

std::string BlockKey(const ModelId& model, const BlockHash& hash) {
  std::string key;
  key.reserve(kKeySize);
  model.AppendTo(&key);
  hash.AppendTo(&key);
  return key;
}

std::string LinkKey(const ModelId& model, const BlockHash& parent, TokenSpan tokens) {
  std::string key = BlockKey(model, parent);
  key.reserve(kKeySize + 4 * tokens.size);
  for (size_t i = 0; i < tokens.size; ++i) {
    // Big-endian, so bytewise key order is the tokens' (unsigned) order.
    const uint32_t t = static_cast<uint32_t>(tokens.data[i]);
    key.push_back(static_cast<char>(t >> 24));
    key.push_back(static_cast<char>(t >> 16));
    key.push_back(static_cast<char>(t >> 8));
    key.push_back(static_cast<char>(t));
  }
  return key;
}

bool DecodeLinkTokens(const rocksdb::Slice& key, std::vector<int32_t>* tokens) {
  if (key.size() <= kKeySize || (key.size() - kKeySize) % 4 != 0) return false;
  const size_t n = (key.size() - kKeySize) / 4;
  tokens->resize(n);
  for (size_t i = 0; i < n; ++i) {
    (*tokens)[i] = static_cast<int32_t>(LoadBigEndian32(key.data() + kKeySize + 4 * i));
  }
  return true;
}

std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(prefix.back());
    if (c != 0xff) {
      ++c;
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;  // empty: no upper bound
}

bool DecodeLink(const rocksdb::Slice& key, const rocksdb::Slice& value, ChildLink* link) {
  if (value.size() != Hash128::kEncodedSize || !DecodeLinkTokens(key, &link->tokens)) return false;
  link->hash = Hash128::DecodeFrom(value.data());
  return true;
}

PrefixIterator::PrefixIterator(DiskTier::Impl* impl, rocksdb::ColumnFamilyHandle* family,
                               std::string prefix, rocksdb::ReadOptions ro)
    : impl_(impl), prefix_(std::move(prefix)), upper_(PrefixEnd(prefix_)) {
  if (!upper_.empty()) {
    upper_slice_ = rocksdb::Slice(upper_);
    ro.iterate_upper_bound = &upper_slice_;
  }
  it_.reset(impl->db->NewIterator(ro, family));
  impl->seeks.fetch_add(1, std::memory_order_relaxed);
  it_->Seek(prefix_);
}

namespace {

// One parent's links in the links family, as child_index.h seeks them. A
// malformed key or value is skipped (Floor/Ceil then look no further: what
// the index cannot read only costs reuse); a read error is kept in status().
class LinkView : public SortedChildren {
 public:
  LinkView(DiskTier::Impl* impl, const ModelId& model, const BlockHash& parent)
      : impl_(impl), model_(model), parent_(parent), lower_(BlockKey(model, parent)) {
    upper_ = PrefixEnd(lower_);
    lower_slice_ = rocksdb::Slice(lower_);
    upper_slice_ = rocksdb::Slice(upper_);
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lower_slice_;
    ro.iterate_upper_bound = &upper_slice_;
    ro.prefix_same_as_start = true;
    it_.reset(impl->db->NewIterator(ro, impl->links));
  }

  bool Floor(TokenSpan key, ChildLink* out) override {
    impl_->seeks.fetch_add(1, std::memory_order_relaxed);
    it_->SeekForPrev(LinkKey(model_, parent_, key));
    return Take(out);
  }
  bool Ceil(TokenSpan key, ChildLink* out) override {
    impl_->seeks.fetch_add(1, std::memory_order_relaxed);
    it_->Seek(LinkKey(model_, parent_, key));
    return Take(out);
  }
  // Every link, in order.
  void All(std::vector<ChildLink>* out) {
    impl_->seeks.fetch_add(1, std::memory_order_relaxed);
    ChildLink link;
    for (it_->Seek(lower_); it_->Valid(); it_->Next()) {
      impl_->steps.fetch_add(1, std::memory_order_relaxed);
      if (Decode(&link)) out->push_back(link);
    }
    Check();
  }
  Status status() const { return status_; }

 private:
  bool Take(ChildLink* out) {
    if (!it_->Valid()) {
      Check();
      return false;
    }
    return Decode(out);
  }
  bool Decode(ChildLink* out) { return DecodeLink(it_->key(), it_->value(), out); }
  void Check() {
    if (status_.ok() && !it_->status().ok()) {
      status_ = FromRocks(it_->status(), "read the children of block " + parent_.ToHex());
    }
  }

  DiskTier::Impl* impl_;
  const ModelId model_;
  const BlockHash parent_;
  std::string lower_, upper_;
  rocksdb::Slice lower_slice_, upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
  Status status_;
};

}  // namespace

Result<std::vector<ChildLink>> DiskTier::Children(const ModelId& model, const BlockHash& parent) {
  const std::shared_ptr<Impl> impl = Current();
  if (impl->legacy_links) return impl->legacy_links->Children(model, parent);
  std::vector<ChildLink> out;
  LinkView view(impl.get(), model, parent);
  view.All(&out);
  KVSTASH_RETURN_IF_ERROR(view.status());
  return out;
}

Result<std::optional<ChildMatch>> DiskTier::LongestChild(const ModelId& model,
                                                         const BlockHash& parent, TokenSpan query) {
  const std::shared_ptr<Impl> impl = Current();
  if (impl->legacy_links) return impl->legacy_links->Longest(model, parent, query);
  LinkView view(impl.get(), model, parent);
  std::optional<ChildMatch> best = LongestCommonPrefix(view, query);
  KVSTASH_RETURN_IF_ERROR(view.status());
  return best;
}

Result<std::vector<ChildLink>> DiskTier::ShorterChildren(const ModelId& model,
                                                         const BlockHash& parent,
                                                         TokenSpan tokens) {
  const std::shared_ptr<Impl> impl = Current();
  if (impl->legacy_links) return impl->legacy_links->ShorterPrefixes(model, parent, tokens);
  LinkView view(impl.get(), model, parent);
  std::vector<ChildLink> out = StrictPrefixes(view, tokens);
  KVSTASH_RETURN_IF_ERROR(view.status());
  return out;
}

Status DiskTier::ForEachLink(
    const std::optional<ModelId>& model,
    const std::function<bool(const ModelId&, const BlockHash&, const ChildLink&)>& fn) {
  const std::shared_ptr<Impl> impl = Current();
  if (impl->legacy_links) {
    impl->legacy_links->ForEach([&](const ModelId& m, const BlockHash& p, const ChildLink& c) {
      return (model && m != *model) || fn(m, p, c);
    });
    return Status::OK();
  }
  std::string prefix;
  if (model) model->AppendTo(&prefix);
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;  // across parents: not a prefix seek
  PrefixIterator it(impl.get(), impl->links, std::move(prefix), ro);
  ChildLink link;
  for (; it.Valid(); it.Next()) {
    if (!DecodeLink(it.key(), it.value(), &link)) continue;
    if (!fn(Hash128::DecodeFrom(it.key().data()),
            Hash128::DecodeFrom(it.key().data() + Hash128::kEncodedSize), link)) {
      break;
    }
  }
  return FromRocks(it.status(), "read the child links of " + path());
}

Result<std::optional<std::string>> DiskTier::Impl::FindLinkKey(const DiskBlockDelete& b) {
  if (!b.tokens.empty()) return {LinkKey(b.model, b.parent, b.tokens)};
  // The tokens are in the meta; without a readable meta, among the parent's
  // links (a damaged block: rare, and only that parent's children).
  point_reads.fetch_add(1, std::memory_order_relaxed);
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, BlockKey(b.model, b.hash), &value);
  if (s.ok()) {
    Result<BlockMeta> m = BlockMeta::Decode(std::string_view(value.data(), value.size()));
    if (m.ok() && m->parent == b.parent) return {LinkKey(b.model, b.parent, m->tokens)};
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "read meta of block " + b.hash.ToHex());
  }
  std::vector<ChildLink> siblings;
  LinkView view(this, b.model, b.parent);
  view.All(&siblings);
  KVSTASH_RETURN_IF_ERROR(view.status());
  for (const ChildLink& link : siblings) {
    if (link.hash == b.hash) return {LinkKey(b.model, b.parent, link.tokens)};
  }
  return std::optional<std::string>();
}

Status DiskTier::Impl::MigrateToLayout2(rocksdb::ColumnFamilyHandle* legacy, bool new_store) {
  const auto start = std::chrono::steady_clock::now();
  uint64_t links_written = 0;
  if (layout < 2 && !new_store) {
    rocksdb::WriteBatch batch;
    Status written;
    auto write = [&] {
      rocksdb::Status s = db->Write(rocksdb::WriteOptions(), &batch);
      batch.Clear();
      return FromRocks(s, "migrate the index of store " + options.path);
    };
    KVSTASH_RETURN_IF_ERROR(ForEachMeta(
        std::nullopt, [&](const ModelId& model, const BlockHash& hash, const Result<BlockMeta>& m) {
          // A meta that does not decode has no link (verify reports the block).
          if (!m.ok() || m->tokens.empty()) return true;
          std::string value;
          hash.AppendTo(&value);
          batch.Put(links, LinkKey(model, m->parent, m->tokens), value);
          ++links_written;
          if (batch.Count() >= kMigrationBatchLinks) written = write();
          return written.ok();
        }));
    KVSTASH_RETURN_IF_ERROR(written);
    KVSTASH_RETURN_IF_ERROR(write());
  }
  if (layout < 2 || new_store) {
    // Written last and synced: until it is, a crash leaves a layout-1 store
    // that the next open migrates again.
    std::string value;
    PutFixed32(&value, kDiskLayoutVersion);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    KVSTASH_RETURN_IF_ERROR(
        FromRocks(db->Put(wo, kLayoutKey, value), "record the layout of store " + options.path));
  }
  if (legacy) {
    KVSTASH_RETURN_IF_ERROR(
        FromRocks(db->DropColumnFamily(legacy), "drop the old index of store " + options.path));
    handles.erase(std::find(handles.begin(), handles.end(), legacy));
    db->DestroyColumnFamilyHandle(legacy);
  }
  if (layout < 2 && !new_store) {
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr,
                 "kvstash: store %s: index migrated to layout %u (%llu child links, %.0f ms)\n",
                 options.path.c_str(), kDiskLayoutVersion,
                 static_cast<unsigned long long>(links_written), ms);
  }
  return Status::OK();
}

Status DiskTier::Impl::LoadLegacyLinks() {
  legacy_links = std::make_unique<ChildIndex>();
  return ForEachMeta(std::nullopt,
                     [&](const ModelId& model, const BlockHash& hash, const Result<BlockMeta>& m) {
                       if (m.ok() && !m->tokens.empty())
                         legacy_links->Add(model, m->parent, m->tokens, hash);
                       return true;
                     });
}

}  // namespace kvstash
