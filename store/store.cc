#include "store/store.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <system_error>
#include <thread>
#include <unordered_set>

#include "serde/block_codec.h"
#include "store/device_tier.h"
#include "store/disk_tier.h"
#include "store/remote/remote_tier.h"
#include "store/store_internal.h"
#include "store/write_behind_internal.h"

namespace kvstash {

namespace {

// Access records are written in batches of about this many blocks, so a hit
// costs no write of its own.
constexpr size_t kAccessFlushThreshold = 4096;

bool TokensEqual(const std::vector<int32_t>& stored, const int32_t* query, size_t len) {
  return stored.size() == len && std::equal(stored.begin(), stored.end(), query);
}

Result<c10::Device> ResolveDevice(const std::string& name) {
  try {
    if (name.empty() || name == "auto") {
      return at::hasCUDA() ? c10::Device(c10::DeviceType::CUDA, 0) : c10::Device("cpu");
    }
    c10::Device device(name);
    if (device.is_cuda() && !at::hasCUDA()) {
      return Status::NotSupported("device '" + name + "' requested, but libtorch has no CUDA");
    }
    return device;
  } catch (const c10::Error& e) {
    return Status::InvalidArgument("bad device '" + name + "': " + e.what_without_backtrace());
  }
}

DiskTierOptions DiskOptionsFor(const StoreOptions& options) {
  DiskTierOptions disk_options;
  disk_options.path = options.path;
  disk_options.read_only = options.read_only;
  // A fixed view (DiskTierOptions::read_only); Refresh() reopens it.
  disk_options.blob_files = options.blob_files;
  disk_options.read_cache_bytes = options.read_cache_bytes;
  disk_options.fault_injector = options.fault_injector_for_testing;
  return disk_options;
}

}  // namespace

Store::Store(const StoreOptions& options, c10::Device device)
    : options_(options),
      device_(device),
      device_tier_(std::make_unique<DeviceTier>(options.device_budget_bytes)),
      decoders_(std::make_unique<DecoderPool>()) {}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (options.disk_budget_bytes > 0 || options.max_idle.count() > 0) {
    // gc sits above store: silently ignoring them would leave a store with
    // no collector that its user believes bounded.
    return Status::InvalidArgument(
        "StoreOptions::disk_budget_bytes and max_idle need a background collector, which "
        "Store::Open does not start: open the store with OpenStoreWithGc "
        "(gc/managed_store.h)");
  }
  KVSTASH_ASSIGN_OR_RETURN(c10::Device device, ResolveDevice(options.device));
  std::unique_ptr<Store> store(new Store(options, device));
  if (!options.path.empty()) {
    KVSTASH_ASSIGN_OR_RETURN(store->disk_, DiskTier::Open(DiskOptionsFor(options)));
    if (!options.read_only) {
      Store* self = store.get();
      store->writer_ = std::make_unique<WriteBehind>(
          store->disk_.get(), options.encode, options.max_pending_write_bytes,
          [self](const CachedBlockPtr& block, const Status& s) { self->OnBlockWritten(block, s); });
    }
  }
  if (!options.remote.empty()) {
    KVSTASH_ASSIGN_OR_RETURN(store->remote_, OpenRemoteTier(options.remote, options.remote_token));
    if (!store->writer_ && !options.read_only) {
      // No disk tier: the writer only sends new blocks to the peer.
      Store* self = store.get();
      store->writer_ = std::make_unique<WriteBehind>(
          nullptr, options.encode, options.max_pending_write_bytes,
          [self](const CachedBlockPtr& block, const Status&) { self->ForgetPending(block); });
    }
  }
  if (store->writer_ && store->remote_) {
    store->remote_puts_ =
        std::make_unique<RemotePutQueue>(store->remote_.get(), options.max_pending_write_bytes);
    store->writer_->SetRemote(store->remote_puts_.get());
  }
  return store;
}

Store::~Store() {
  Status s = Close();
  if (!s.ok()) std::fprintf(stderr, "kvstash: warning: closing store: %s\n", s.ToString().c_str());
}

BlockHash Store::HashBlock(const ModelId& model, const BlockHash& parent, const int32_t* tokens,
                           size_t n) const {
  if (options_.hash_function_for_testing) {
    return options_.hash_function_for_testing(model, parent, tokens, n);
  }
  return ComputeBlockHash(model, parent, tokens, n);
}

Store::ModelInfo Store::ModelInfoOf(const ModelDescription& description) {
  ModelInfo info;
  info.description = description;
  info.shape = BlockShapeOf(description);
  info.block_tokens = description.block_tokens;
  return info;
}

Result<ModelId> Store::RegisterModel(const ModelDescription& description) {
  if (description.num_layers == 0 || description.num_kv_heads == 0 || description.head_dim == 0 ||
      description.block_tokens == 0 || description.block_tokens > kMaxBlockTokens) {
    return Status::InvalidArgument(
        "model description needs positive num_layers, num_kv_heads, head_dim and block_tokens "
        "(at most " +
        std::to_string(kMaxBlockTokens) + ")");
  }
  const BlockShape shape = BlockShapeOf(description);
  if (description.num_layers > kMaxBlockDim || description.num_kv_heads > kMaxBlockDim ||
      description.head_dim > kMaxBlockDim ||
      shape.RawBytes(description.block_tokens) > kMaxBlockRawBytes) {
    return Status::InvalidArgument(
        "model description: blocks of " + std::to_string(description.block_tokens) +
        " tokens exceed the block format's limits (dimensions <= " + std::to_string(kMaxBlockDim) +
        ", " + std::to_string(kMaxBlockRawBytes) + " raw bytes)");
  }
  KVSTASH_ASSIGN_OR_RETURN(std::string text, description.ToCanonicalText());
  ModelId id = Xxh3Hash128(text);
  {
    MutexLock lock(&models_mu_);
    if (models_.count(id)) return id;
  }
  if (disk_ && !disk_->read_only()) {
    auto stored = disk_->GetModel(id);
    if (!stored.ok() || *stored != text) {
      Status put = disk_->PutModel(id, text);
      // A full or failing disk: the model is registered in memory, so this
      // process keeps working, and Flush() writes the entry (and reports
      // until it can), as it does for blocks.
      if (put.IsResourceExhausted() || put.IsIOError()) {
        MutexLock lock(&models_mu_);
        unwritten_models_.emplace(id, text);
      } else if (!put.ok()) {
        return put;
      }
    }
  }
  if (remote_) {
    // Best effort: a peer that is down only costs sharing (and says so once).
    (void)remote_->Register(id, text);
  }
  MutexLock lock(&models_mu_);
  models_.emplace(id, ModelInfoOf(description));
  return id;
}

Result<Store::ModelInfo> Store::Info(const ModelId& model) {
  {
    MutexLock lock(&models_mu_);
    auto it = models_.find(model);
    if (it != models_.end()) return it->second;
  }
  if (!disk_) return Status::NotFound("model " + model.ToHex() + " is not registered");
  auto text = disk_->GetModel(model);
  if (!text.ok()) return Status::NotFound("model " + model.ToHex() + " is not registered");
  KVSTASH_ASSIGN_OR_RETURN(ModelDescription description,
                           ModelDescription::FromCanonicalText(*text));
  ModelInfo info = ModelInfoOf(description);
  MutexLock lock(&models_mu_);
  models_.emplace(model, info);
  return info;
}

Result<ModelDescription> Store::GetModel(const ModelId& model) {
  KVSTASH_ASSIGN_OR_RETURN(ModelInfo info, Info(model));
  return info.description;
}

void Store::BestChild(const ModelId& model, const BlockHash& parent, const int32_t* query,
                      size_t len, PrefixMatch::Piece* best) {
  const TokenSpan q(query, len);
  auto consider = [&](const std::optional<ChildMatch>& m, Tier tier) {
    if (m && m->common > best->n) *best = {m->hash, tier, 0, m->common, m->block_tokens};
  };
  consider(device_tier_->LongestChild(model, parent, q), Tier::kDevice);
  {
    MutexLock lock(&pending_mu_);
    consider(pending_children_.Longest(model, parent, q), Tier::kDevice);
  }
  if (!disk_ || best->n == len) return;
  auto on_disk = disk_->LongestChild(model, parent, q);
  if (on_disk.ok()) consider(*on_disk, Tier::kDisk);  // an unreadable index only costs reuse
}

Result<PrefixMatch> Store::Match(const ModelId& model, const std::vector<int32_t>& tokens) {
  KVSTASH_ASSIGN_OR_RETURN(ModelInfo info, Info(model));
  return MatchOf(model, info, tokens);
}

Result<PrefixMatch> Store::MatchOf(const ModelId& model, const ModelInfo& info,
                                   const std::vector<int32_t>& tokens) {
  const size_t block_tokens = info.block_tokens;
  PrefixMatch match;
  BlockHash parent = kRootBlockHash;
  size_t pos = 0;
  while (pos < tokens.size()) {
    const size_t len = std::min(block_tokens, tokens.size() - pos);
    const int32_t* query = tokens.data() + pos;
    if (len == block_tokens) {
      const BlockHash hash = HashBlock(model, parent, query, len);
      bool hit = false;
      if (CachedBlockPtr b = FindInMemory(model, hash)) {
        if (TokensEqual(b->tokens, query, len) && b->parent == parent) {
          match.pieces.push_back({hash, Tier::kDevice, pos, len, len});
          hit = true;
        } else {
          ++counters_.hash_collisions;
        }
      }
      if (!hit && disk_) {
        auto meta = disk_->GetMeta(model, hash);
        if (meta.ok() && TokensEqual(meta->tokens, query, len) && meta->parent == parent) {
          match.pieces.push_back({hash, Tier::kDisk, pos, len, len});
          hit = true;
        } else if (meta.ok()) {
          ++counters_.hash_collisions;
        }
      }
      if (hit) {
        parent = hash;
        pos += len;
        continue;
      }
    }
    // The peer holds the rest of the chain, if anyone does; it answers for
    // whole stored blocks (the exact tail included), so the walk ends there.
    if (remote_ && MatchRemote(model, block_tokens, tokens, parent, &pos, &match)) break;
    PrefixMatch::Piece best;
    BestChild(model, parent, query, len, &best);
    if (best.n > 0) {
      best.p0 = pos;
      match.pieces.push_back(best);
      pos += best.n;
    }
    break;
  }
  for (const auto& piece : match.pieces) {
    (piece.tier == Tier::kDevice ? match.device_tokens
     : piece.tier == Tier::kDisk ? match.disk_tokens
                                 : match.remote_tokens) += piece.n;
  }
  match.tokens = pos;
  return match;
}

Status Store::Pin(const std::string& name, const ModelId& model,
                  const std::vector<int32_t>& tokens) {
  if (name.empty()) return Status::InvalidArgument("pin: empty name");
  if (tokens.empty()) return Status::InvalidArgument("pin " + name + ": no tokens");
  if (!disk_) return Status::NotSupported("pin: the store has no disk tier");
  if (disk_->read_only()) return Status::NotSupported("pin: store opened read-only");
  KVSTASH_RETURN_IF_ERROR(Flush());
  KVSTASH_ASSIGN_OR_RETURN(PrefixMatch match, Match(model, tokens));
  if (match.tokens < tokens.size() || match.pieces.empty()) {
    return Status::NotFound("pin " + name + ": only " + std::to_string(match.tokens) + " of " +
                            std::to_string(tokens.size()) + " tokens are stored");
  }
  DiskPin pin;
  pin.name = name;
  pin.model = model;
  pin.leaf = match.pieces.back().hash;
  pin.tokens = match.tokens;
  // A leaf found only in memory or on the peer is not something gc could keep.
  Result<BlockMeta> meta = disk_->GetMeta(model, pin.leaf);
  if (!meta.ok()) {
    if (meta.status().IsNotFound()) {
      return Status::NotFound("pin " + name + ": block " + pin.leaf.ToHex() + " is not on disk");
    }
    return meta.status();
  }
  return disk_->PutPin(pin);
}

Status Store::Unpin(const std::string& name) {
  if (!disk_) return Status::NotSupported("unpin: the store has no disk tier");
  if (disk_->read_only()) return Status::NotSupported("unpin: store opened read-only");
  KVSTASH_RETURN_IF_ERROR(disk_->GetPin(name).status());
  return disk_->DeletePin(name);
}

bool Store::MatchRemote(const ModelId& model, size_t block_tokens,
                        const std::vector<int32_t>& tokens, BlockHash& parent, size_t* pos,
                        PrefixMatch* match) {
  // The rest of the chain as the peer would key it: full blocks, then the
  // exact tail (so a repeated prompt matches its partial last block too).
  std::vector<BlockHash> hashes;
  std::vector<std::pair<size_t, size_t>> spans;  // (p0, n)
  BlockHash h = parent;
  for (size_t p = *pos; p < tokens.size(); p += block_tokens) {
    const size_t n = std::min(block_tokens, tokens.size() - p);
    h = HashBlock(model, h, tokens.data() + p, n);
    hashes.push_back(h);
    spans.emplace_back(p, n);
  }
  auto present = remote_->Match(model, hashes);
  if (!present.ok() || *present == 0) return false;
  for (uint32_t i = 0; i < *present; ++i) {
    match->pieces.push_back(
        {hashes[i], Tier::kRemote, spans[i].first, spans[i].second, spans[i].second});
  }
  parent = hashes[*present - 1];
  *pos = spans[*present - 1].first + spans[*present - 1].second;
  return true;
}

void Store::RecordAccess(const ModelId& model, const BlockHash& hash) {
  if (!disk_ || disk_->read_only()) return;
  bool flush = false;
  {
    MutexLock lock(&access_mu_);
    if (access_[model][hash]++ == 0) ++access_count_;
    flush = access_count_ >= kAccessFlushThreshold;
  }
  if (flush && writer_) {
    writer_->EnqueueTask([this] { (void)FlushAccessRecords(); }, 0);
  }
}

Status Store::FlushAccessRecords() {
  if (!disk_ || disk_->read_only()) return Status::OK();
  decltype(access_) records;
  {
    MutexLock lock(&access_mu_);
    records.swap(access_);
    access_count_ = 0;
  }
  const uint64_t now = NowMs();
  std::vector<std::pair<std::pair<ModelId, BlockHash>, BlockMeta>> updates;
  for (const auto& [model, blocks] : records) {
    for (const auto& [hash, hits] : blocks) {
      auto meta = disk_->GetMeta(model, hash);
      if (!meta.ok()) continue;  // not written yet, or deleted meanwhile
      meta->last_access_ms = now;
      meta->hits += hits;
      updates.push_back({{model, hash}, std::move(meta).value()});
    }
  }
  return disk_->PutMetas(updates);
}

void Store::DropCorrupt(const ModelId& model, const BlockHash& hash, const Status& why) {
  ++counters_.corrupt_blocks;
  std::fprintf(stderr, "kvstash: warning: dropping corrupt block %s: %s\n", hash.ToHex().c_str(),
               why.ToString().c_str());
  if (!disk_ || disk_->read_only()) return;
  BlockHash parent;
  std::vector<int32_t> tokens;
  if (auto meta = disk_->GetMeta(model, hash); meta.ok()) {
    parent = meta->parent;
    tokens = std::move(meta->tokens);
  }
  Status s = disk_->DeleteBlock(model, hash, parent, tokens);
  if (!s.ok()) {
    std::fprintf(stderr, "kvstash: warning: could not delete corrupt block %s: %s\n",
                 hash.ToHex().c_str(), s.ToString().c_str());
  }
}

void Store::OnBlockWritten(const CachedBlockPtr& block, const Status& status) {
  if (status.ok() || !disk_) {
    ForgetPending(block);  // on disk; or a peer-only store, whose puts are best effort
    return;
  }
  // Kept (and still found in pending_) for the next Flush() to write again;
  // the oldest go when more than the pending budget waits.
  MutexLock lock(&pending_mu_);
  failed_writes_.push_back(block);
  failed_write_bytes_ += block->bytes;
  while (failed_write_bytes_ > options_.max_pending_write_bytes && failed_writes_.size() > 1) {
    CachedBlockPtr oldest = std::move(failed_writes_.front());
    failed_writes_.pop_front();
    failed_write_bytes_ -= oldest->bytes;
    ForgetPendingLocked(oldest);
    ++blocks_dropped_;
    ++dropped_since_flush_;
  }
}

void Store::ForgetPending(const CachedBlockPtr& block) {
  MutexLock lock(&pending_mu_);
  ForgetPendingLocked(block);
}

void Store::ForgetPendingLocked(const CachedBlockPtr& block) {
  auto model = pending_.find(block->model);
  if (model == pending_.end()) return;
  auto it = model->second.find(block->hash);
  if (it != model->second.end() && it->second == block) {
    model->second.erase(it);
    pending_children_.Remove(block->model, block->parent, block->tokens, block->hash);
  }
  if (model->second.empty()) pending_.erase(model);
}

CachedBlockPtr Store::FindInMemory(const ModelId& model, const BlockHash& hash) {
  if (CachedBlockPtr b = device_tier_->Lookup(model, hash)) return b;
  MutexLock lock(&pending_mu_);
  auto it = pending_.find(model);
  if (it == pending_.end()) return nullptr;
  auto found = it->second.find(hash);
  return found == it->second.end() ? nullptr : found->second;
}

void Store::AddPending(const CachedBlockPtr& block) {
  MutexLock lock(&pending_mu_);
  pending_[block->model][block->hash] = block;
  pending_children_.Add(block->model, block->parent, block->tokens, block->hash);
}

void Store::SpillToWriter(CachedBlockPtr block) {
  AddPending(block);
  writer_->EnqueueBlock(std::move(block));
}

void Store::AddToDeviceTier(CachedBlockPtr block) {
  // An evicted block joins pending_ before it leaves the device tier (under
  // the tier's lock), so FindInMemory and BestChild, which look there in
  // that order, always find it; it is queued after the lock is released
  // (EnqueueBlock may wait for room).
  std::vector<CachedBlockPtr> spilled;
  device_tier_->Insert(std::move(block), [&](const CachedBlockPtr& evicted) {
    if (writer_ && !evicted->persisted.exchange(true)) {
      AddPending(evicted);
      spilled.push_back(evicted);
    }
  });
  for (CachedBlockPtr& evicted : spilled) writer_->EnqueueBlock(std::move(evicted));
}

void Store::AddBlock(CachedBlockPtr block) {
  ++counters_.blocks_inserted;
  if (writer_ && options_.spill_policy == SpillPolicy::kWriteThrough) {
    block->persisted = true;
    SpillToWriter(block);
  }
  AddToDeviceTier(std::move(block));
}

Store::Superseded Store::FindSuperseded(const ModelId& model, const BlockHash& parent,
                                        const int32_t* tokens, size_t n) {
  // A shorter block that is a prefix of this one can never be the best
  // match again: it leaves every tier, including a write still queued.
  const TokenSpan t(tokens, n);
  Superseded doomed;
  for (ChildLink& child : device_tier_->ShorterChildren(model, parent, t)) {
    doomed.emplace(child.hash, std::move(child.tokens));
  }
  if (!disk_ || !writer_) return doomed;
  {
    MutexLock lock(&pending_mu_);
    for (ChildLink& child : pending_children_.ShorterPrefixes(model, parent, t)) {
      doomed.emplace(child.hash, std::move(child.tokens));
    }
  }
  if (auto on_disk = disk_->ShorterChildren(model, parent, t); on_disk.ok()) {
    for (ChildLink& child : *on_disk) doomed.emplace(child.hash, std::move(child.tokens));
  }
  return doomed;
}

void Store::DropSuperseded(const ModelId& model, const BlockHash& parent, Superseded doomed) {
  for (const auto& [hash, child_tokens] : doomed) device_tier_->Erase(model, hash);
  if (!disk_ || !writer_) return;
  {
    // A superseded block whose write failed is not written again.
    MutexLock lock(&pending_mu_);
    for (auto it = failed_writes_.begin(); it != failed_writes_.end();) {
      if ((*it)->model == model && doomed.count((*it)->hash)) {
        failed_write_bytes_ -= (*it)->bytes;
        ForgetPendingLocked(*it);
        it = failed_writes_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [hash, child_tokens] : doomed) {
    // Through the writer, so it runs after a queued write of that block.
    writer_->EnqueueTask(
        [this, model, hash = hash, parent, child_tokens = std::move(child_tokens)] {
          (void)disk_->DeleteBlock(model, hash, parent, child_tokens);
        },
        0);
  }
}

Result<InsertResult> Store::Insert(const ModelId& model, const std::vector<int32_t>& tokens,
                                   const KvCacheView& view) {
  if (closed_) return Status::Aborted("store is closed");
  if (options_.read_only) return Status::NotSupported("insert: store opened read-only");
  KVSTASH_ASSIGN_OR_RETURN(ModelInfo info, Info(model));
  InsertResult result;
  if (tokens.empty()) return result;
  KVSTASH_RETURN_IF_ERROR(ValidateKvView(view, info.shape, tokens.size()));
  const size_t block_tokens = info.block_tokens;
  BlockHash parent = kRootBlockHash;
  for (size_t pos = 0; pos < tokens.size();) {
    const size_t len = std::min(block_tokens, tokens.size() - pos);
    const int32_t* query = tokens.data() + pos;
    const BlockHash hash = HashBlock(model, parent, query, len);

    // Already stored under this hash?
    bool present = false, collision = false;
    if (CachedBlockPtr b = FindInMemory(model, hash)) {
      present = TokensEqual(b->tokens, query, len) && b->parent == parent;
      collision = !present;
    } else if (disk_) {
      auto meta = disk_->GetMeta(model, hash);
      if (meta.ok()) {
        present = TokensEqual(meta->tokens, query, len) && meta->parent == parent;
        collision = !present;
      }
    } else if (remote_ && LoadedFromRemote(hash)) {
      // Loaded from the peer with these tokens under this parent (the load
      // checked the header against them): the peer has it already.
      present = true;
    }
    if (collision) {
      // Another block owns this hash; nothing after it could ever match.
      ++counters_.hash_collisions;
      break;
    }
    if (!present && len < block_tokens) {
      // A partial tail already covered by a longer stored continuation.
      PrefixMatch::Piece best;
      BestChild(model, parent, query, len, &best);
      present = best.n == len;
    }
    if (present) {
      ++result.blocks_present;
      ++counters_.blocks_already_present;
    } else {
      KVSTASH_ASSIGN_OR_RETURN(at::Tensor kv, GatherBlock(view, info.shape, pos, len, device_));
      auto block = std::make_shared<CachedBlock>();
      block->model = model;
      block->hash = hash;
      block->parent = parent;
      block->tokens.assign(query, query + len);
      block->shape = info.shape;
      block->kv = std::move(kv);
      block->bytes = info.shape.RawBytes(len);
      // Added before the shorter blocks it supersedes are dropped, so a
      // concurrent Match() finds one or the other.
      Superseded doomed = FindSuperseded(model, parent, query, len);
      AddBlock(std::move(block));
      DropSuperseded(model, parent, std::move(doomed));
      ++result.blocks_added;
    }
    parent = hash;
    pos += len;
    result.tokens_stored = pos;
  }
  return result;
}

Status Store::Flush() {
  if (!writer_) return Status::OK();
  // Blocks whose background write failed are written again, so Flush()
  // reports the failure until they are on disk; first the disk tier, whose
  // writes a failure stopped, is reopened (DiskTier::Recover).
  Status recovered = disk_ ? disk_->Recover() : Status::OK();
  if (recovered.ok()) recovered = WriteUnwrittenModels();
  std::deque<CachedBlockPtr> retry;
  uint64_t dropped = 0;
  {
    MutexLock lock(&pending_mu_);
    retry.swap(failed_writes_);
    failed_write_bytes_ = 0;
    std::swap(dropped, dropped_since_flush_);
  }
  for (CachedBlockPtr& block : retry) writer_->EnqueueBlock(std::move(block));
  writer_->EnqueueTask([this] { (void)FlushAccessRecords(); }, 0);
  Status s = writer_->Drain();
  if (remote_puts_) remote_puts_->Drain();  // best effort: failures are only counted
  if (!recovered.ok()) s = recovered;
  if (dropped > 0) {
    Status lost = Status::ResourceExhausted(
        std::to_string(dropped) +
        " blocks could not be written to disk and were dropped (more failed writes waited than "
        "max_pending_write_bytes holds)");
    s = s.ok() ? lost : lost.WithContext(s.ToString());
  }
  if (!disk_) return s;  // a peer-only store: nothing local to sync
  PersistCounters();
  if (options_.sync_on_flush) {
    Status sync = disk_->SyncWal();
    if (s.ok()) s = sync;
  }
  return s;
}

Status Store::WriteUnwrittenModels() {
  std::map<ModelId, std::string> models;
  {
    MutexLock lock(&models_mu_);
    models.swap(unwritten_models_);
  }
  Status first;
  for (auto& [id, text] : models) {
    Status s = disk_->PutModel(id, text);
    if (s.ok()) continue;
    if (first.ok()) first = s.WithContext("register model " + id.ToHex());
    MutexLock lock(&models_mu_);
    unwritten_models_.emplace(id, std::move(text));
  }
  return first;
}

void Store::PersistCounters() {
  MutexLock lock(&persist_mu_);
  const StoreStats now = Stats();
  DiskCounters delta;
  delta.hit_tokens_device = now.hit_tokens_device - persisted_.hit_tokens_device;
  delta.hit_tokens_disk = now.hit_tokens_disk - persisted_.hit_tokens_disk;
  delta.miss_tokens = now.miss_tokens - persisted_.miss_tokens;
  delta.blocks_inserted = now.blocks_inserted - persisted_.blocks_inserted;
  delta.hash_collisions = now.hash_collisions - persisted_.hash_collisions;
  delta.corrupt_blocks = now.corrupt_blocks - persisted_.corrupt_blocks;
  delta.loads = now.loads - persisted_.loads;
  delta.hit_tokens_remote = now.hit_tokens_remote - persisted_.hit_tokens_remote;
  delta.remote_puts = now.remote_puts - persisted_.remote_puts;
  delta.remote_put_errors = now.remote_put_errors - persisted_.remote_put_errors;
  if (delta.IsZero()) return;
  // Statistics only: a failure must not turn into a failed Flush(), which
  // callers read as "not durable". The delta is kept for the next try.
  Status s = disk_->AddCounters(delta);
  if (s.ok()) {
    persisted_ = now;
  } else if (!counters_warned_) {
    counters_warned_ = true;
    std::fprintf(stderr, "kvstash: warning: store counters not updated: %s\n",
                 s.ToString().c_str());
  }
}

Status Store::Refresh() {
  if (!disk_ || !options_.read_only) return Status::OK();
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<DiskTier> fresh,
                           DiskTier::Open(DiskOptionsFor(options_)));
  disk_ = std::move(fresh);
  return Status::OK();
}

Status Store::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  Status s;
  if (writer_) {
    for (CachedBlockPtr& block : device_tier_->All()) {
      if (!block->persisted.exchange(true)) SpillToWriter(std::move(block));
    }
    KeepMemoizedLogits();  // behind those blocks (kOnEvict kept both in memory)
    s = Flush();
    writer_.reset();
    remote_puts_.reset();
  }
  disk_.reset();
  return s;
}

StoreStats Store::Stats() const {
  StoreStats st;
  if (remote_puts_) {
    st.remote_puts = remote_puts_->puts();
    st.remote_put_errors = remote_puts_->errors();
  }
  st.hit_tokens_device = counters_.hit_tokens_device;
  st.hit_tokens_disk = counters_.hit_tokens_disk;
  st.hit_tokens_remote = counters_.hit_tokens_remote;
  st.miss_tokens = counters_.miss_tokens;
  st.blocks_inserted = counters_.blocks_inserted;
  st.blocks_already_present = counters_.blocks_already_present;
  st.hash_collisions = counters_.hash_collisions;
  st.corrupt_blocks = counters_.corrupt_blocks;
  st.promotions = counters_.promotions;
  st.loads = counters_.loads;
  st.device_blocks = device_tier_->size();
  st.device_bytes = device_tier_->bytes();
  st.device_budget_bytes = device_tier_->budget_bytes();
  if (writer_) {
    st.disk_blocks_written = writer_->blocks_written();
    st.disk_bytes_written = writer_->bytes_written();
    st.disk_write_errors = writer_->write_errors();
    MutexLock lock(&pending_mu_);
    st.disk_blocks_dropped = blocks_dropped_;
    st.failed_write_blocks = failed_writes_.size();
    st.pending_write_bytes = writer_->pending_bytes();
  }
  return st;
}

}  // namespace kvstash
