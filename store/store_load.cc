// Store: loading a cached prefix into a caller's KV cache (store.h, Load).
#include <ATen/ATen.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <thread>

#include "serde/block_codec.h"
#include "store/device_tier.h"
#include "store/disk_tier.h"
#include "store/parallel.h"
#include "store/remote/remote_tier.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "store/write_behind_internal.h"

namespace kvstash {

namespace {

constexpr uint64_t kMinLoadBytesPerThread = 256 << 10;

}  // namespace

Status Store::LoadStored(const ModelId& model, const ModelInfo& info, Tier tier,
                         const PrefixMatch::Piece& piece, const std::vector<int32_t>& tokens,
                         const KvCacheView& view, std::function<void()>* keep,
                         std::string* fetched) {
  std::unique_ptr<DecoderPool::Decoder> dec = decoders_->Take();
  struct ReturnOnExit {
    DecoderPool* pool;
    std::unique_ptr<DecoderPool::Decoder>* dec;
    ~ReturnOnExit() { pool->Return(std::move(*dec)); }
  } return_on_exit{decoders_.get(), &dec};

  if (fetched != nullptr) {
    dec->blob.swap(*fetched);
  } else if (tier == Tier::kRemote) {
    KVSTASH_RETURN_IF_ERROR(remote_->Get(model, piece.hash, &dec->blob));
  } else {
    KVSTASH_RETURN_IF_ERROR(disk_->GetBlob(model, piece.hash, &dec->blob));
  }
  // The header must name this block and hold the tokens we matched; checked
  // before writing a byte into the caller's cache.
  // Decode() verifies the checksum; here only the header is needed.
  KVSTASH_ASSIGN_OR_RETURN(BlockHeader header,
                           ParseBlockHeader(dec->blob, /*verify_checksum=*/false));
  if (header.model != model || header.hash != piece.hash || header.shape != info.shape ||
      header.tokens.size() != piece.block_tokens ||
      !std::equal(tokens.begin() + piece.p0, tokens.begin() + piece.p0 + piece.n,
                  header.tokens.begin())) {
    return Status::Corruption("block " + piece.hash.ToHex() +
                              ": header does not match its key (model, hash, shape or tokens)");
  }
  const bool cpu_view = view.keys[0].is_cpu();
  if (cpu_view) {
    KVSTASH_RETURN_IF_ERROR(
        dec->codec
            .Decode(dec->blob,
                    ViewScatterMap(view, info.shape, piece.block_tokens, piece.p0, piece.n))
            .status());
  } else {
    // Decode on the host, then one copy per layer to the device.
    KVSTASH_ASSIGN_OR_RETURN(c10::ScalarType type, ToScalarType(info.shape.dtype));
    at::Tensor staging;
    KVSTASH_RETURN_IF_ERROR(CatchTorch("allocate staging block", [&] {
      staging = at::empty({info.shape.layers, 2, info.shape.kv_heads,
                           static_cast<int64_t>(piece.block_tokens), info.shape.head_dim},
                          at::TensorOptions().dtype(type));
      return Status::OK();
    }));
    ScatterMap whole = {{0, static_cast<char*>(staging.data_ptr()), header.raw_bytes}};
    KVSTASH_RETURN_IF_ERROR(dec->codec.Decode(dec->blob, whole).status());
    KVSTASH_RETURN_IF_ERROR(CopyBlockToView(staging, info.shape, piece.p0, piece.n, view));
  }

  if (tier == Tier::kRemote) NoteLoadedFromRemote(piece.hash);
  const bool keep_locally = tier == Tier::kRemote && disk_ && writer_;
  const bool promote = options_.promote_on_hit && writer_ && device_tier_->budget_bytes() > 0;
  if (!keep_locally && !promote) return Status::OK();
  // One copy of the blob, shared by the background tasks. They are queued by
  // Load(), in chain order and only for pieces inside the loaded prefix, so a
  // block never reaches the local disk before its parent.
  // Moved, not copied: the decoder reads its next blob into a new buffer
  // anyway, and a copy here would cost a memcpy on the load path.
  auto blob = std::make_shared<const std::string>(std::move(dec->blob));
  *keep = [this, blob, header, info, keep_locally, promote] {
    if (keep_locally) {
      // Keep what the peer served: the next process on this host finds it on
      // its own disk. Written as received (already verified by Decode above).
      writer_->EnqueueTask(
          [this, blob, header] {
            (void)disk_->PutBlocks(
                {BlockWriteFromHeader(header.model, header.hash, header, *blob, NowMs())},
                /*sync=*/false);
          },
          blob->size());
    }
    if (promote) QueuePromotion(blob, header, info);
  };
  return Status::OK();
}

void Store::QueuePromotion(std::shared_ptr<const std::string> blob, const BlockHeader& header,
                           const ModelInfo& info) {
  // Decode again on the writer thread into a tier-owned tensor, so the
  // caller never waits for (or page-faults on) the promotion.
  const uint64_t raw = header.raw_bytes;
  writer_->EnqueueTask(
      [this, blob, header, info, raw] {
        auto block = std::make_shared<CachedBlock>();
        block->model = header.model;
        block->hash = header.hash;
        block->parent = header.parent;
        block->tokens = header.tokens;
        block->shape = info.shape;
        block->bytes = raw;
        block->persisted = true;
        BlockCodec codec;
        Status s = CatchTorch("promote block", [&] {
          auto type = ToScalarType(info.shape.dtype);
          if (!type.ok()) return type.status();
          at::Tensor host =
              at::empty({info.shape.layers, 2, info.shape.kv_heads,
                         static_cast<int64_t>(header.tokens.size()), info.shape.head_dim},
                        at::TensorOptions().dtype(*type));
          ScatterMap whole = {{0, static_cast<char*>(host.data_ptr()), raw}};
          KVSTASH_RETURN_IF_ERROR(codec.Decode(*blob, whole).status());
          block->kv = device_.is_cpu() ? host : host.to(device_);
          return Status::OK();
        });
        if (!s.ok()) return;
        ++counters_.promotions;
        AddToDeviceTier(block);
      },
      raw);
}

void Store::NoteLoadedFromRemote(const BlockHash& hash) {
  if (disk_) return;  // the disk tier keeps (and knows) what the peer served
  MutexLock lock(&remote_seen_mu_);
  if (remote_seen_.size() >= kMaxRemoteSeen) remote_seen_.clear();
  remote_seen_.insert(hash);
}

bool Store::LoadedFromRemote(const BlockHash& hash) {
  MutexLock lock(&remote_seen_mu_);
  return remote_seen_.count(hash) > 0;
}

size_t Store::LoadThreads() const {
  if (options_.load_threads > 0) return options_.load_threads;
  return std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
}

Result<LoadResult> Store::Load(const ModelId& model, const std::vector<int32_t>& tokens,
                               const KvCacheView& view) {
  KVSTASH_ASSIGN_OR_RETURN(ModelInfo info, Info(model));
  KVSTASH_ASSIGN_OR_RETURN(PrefixMatch match, MatchOf(model, info, tokens));
  ++counters_.loads;
  LoadResult result;
  if (match.tokens == 0) {
    counters_.miss_tokens += tokens.size();
    return result;
  }
  KVSTASH_RETURN_IF_ERROR(ValidateKvView(view, info.shape, match.tokens));
  bool gone = false;
  KVSTASH_RETURN_IF_ERROR(LoadPieces(model, info, match.pieces, tokens, view, &result, &gone));
  if (gone) {
    // A block left its tier between Match() and its read: another thread's
    // insert superseded a partial tail with a longer block holding the same
    // tokens, or gc deleted it. Match the rest once more and load what that
    // finds (the pieces before are whole blocks, the same in both matches).
    auto again = MatchOf(model, info, tokens);
    if (again.ok() && again->tokens > result.tokens &&
        ValidateKvView(view, info.shape, again->tokens).ok()) {
      std::vector<PrefixMatch::Piece> rest;
      for (const PrefixMatch::Piece& piece : again->pieces) {
        if (piece.p0 >= result.tokens) rest.push_back(piece);
      }
      if (!rest.empty() && rest.front().p0 == result.tokens) {
        KVSTASH_RETURN_IF_ERROR(LoadPieces(model, info, rest, tokens, view, &result, &gone));
      }
    }
  }
  counters_.hit_tokens_device += result.device_tokens;
  counters_.hit_tokens_disk += result.disk_tokens;
  counters_.hit_tokens_remote += result.remote_tokens;
  counters_.miss_tokens += tokens.size() - result.tokens;
  return result;
}

Status Store::LoadPieces(const ModelId& model, const ModelInfo& info,
                         const std::vector<PrefixMatch::Piece>& pieces,
                         const std::vector<int32_t>& tokens, const KvCacheView& view,
                         LoadResult* result, bool* gone) {
  *gone = false;
  // Every piece is read into the view first -- disk pieces by up to
  // load_threads threads at once -- then the results are taken in order: the
  // prefix ends at the first piece that failed.
  const size_t n_pieces = pieces.size();
  std::vector<Status> loaded(n_pieces);
  std::vector<std::function<void()>> keeps(n_pieces);  // queued for pieces in the prefix
  std::vector<Tier> tiers(n_pieces);
  std::vector<size_t> on_disk;    // pieces to read from disk
  std::vector<size_t> on_remote;  // pieces to fetch from the remote tier (after the local ones)
  for (size_t i = 0; i < n_pieces; ++i) {
    const PrefixMatch::Piece& piece = pieces[i];
    tiers[i] = piece.tier;
    CachedBlockPtr cached = tiers[i] == Tier::kDevice ? FindInMemory(model, piece.hash) : nullptr;
    if (cached) {
      loaded[i] = CopyBlockToView(cached->kv, info.shape, piece.p0, piece.n, view);
    } else if (tiers[i] == Tier::kRemote || disk_) {
      // A device block evicted since Match() is usually on disk.
      if (tiers[i] != Tier::kRemote) tiers[i] = Tier::kDisk;
      loaded[i] = Status::Aborted("not loaded: an earlier block failed");
      (tiers[i] == Tier::kRemote ? on_remote : on_disk).push_back(i);
    } else {
      loaded[i] = Status::NotFound("block evicted");
    }
  }
  // Pieces are taken in order, so once one fails, every piece not yet taken
  // lies past the end of the prefix: they are left (and a dead peer is not
  // asked again and again) -- except after a corrupt disk block. One is
  // rarely alone (a damaged blob file holds many), so the rest of the chain
  // is still read and checked, by the same code, and every corrupt block is
  // dropped below: the request's insert then stores them all again instead
  // of one per request. The caller prefills those tokens anyway (seconds),
  // next to which reading them costs little.
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto load_from_disk = [&] {
    for (size_t k; !failed && (k = next.fetch_add(1)) < on_disk.size();) {
      const size_t i = on_disk[k];
      loaded[i] = LoadStored(model, info, tiers[i], pieces[i], tokens, view, &keeps[i]);
      if (!loaded[i].ok() && !loaded[i].IsCorruption()) failed = true;
    }
  };
  // A thread is started per load, which costs more than reading a few small
  // blocks, so each thread gets at least kMinLoadBytesPerThread of raw KV
  // (docs/benchmarks.md, bench scale).
  auto threads_for = [&](const std::vector<size_t>& list) {
    uint64_t bytes = 0;
    for (size_t i : list) bytes += info.shape.RawBytes(pieces[i].n);
    return std::min<size_t>(
        {LoadThreads(), list.size(), std::max<size_t>(1, bytes / kMinLoadBytesPerThread)});
  };
  RunOnThreads(threads_for(on_disk), load_from_disk);

  // Remote pieces follow the local ones in a chain: fetched only if those
  // loaded, all at once (the backend overlaps the fetches: a connection pool
  // for the peer, a pipeline per master for Redis), each decoded as it
  // arrives. A piece after one that failed is left (past the prefix).
  if (!on_remote.empty() && !failed) {
    std::vector<BlockHash> hashes;
    for (size_t i : on_remote) hashes.push_back(pieces[i].hash);
    std::atomic<size_t> first_failure{n_pieces};
    remote_->GetMany(model, hashes, threads_for(on_remote),
                     [&](size_t k, Status fetched, std::string* blob) {
                       const size_t i = on_remote[k];
                       if (i > first_failure.load()) return;
                       loaded[i] = fetched.ok() ? LoadStored(model, info, tiers[i], pieces[i],
                                                             tokens, view, &keeps[i], blob)
                                                : std::move(fetched);
                       if (loaded[i].ok()) return;
                       size_t seen = first_failure.load();
                       while (i < seen && !first_failure.compare_exchange_weak(seen, i)) {
                       }
                     });
  }

  size_t first_bad = n_pieces;
  for (size_t i = 0; i < n_pieces; ++i) {
    const PrefixMatch::Piece& piece = pieces[i];
    const Tier tier = tiers[i];
    Status s = loaded[i];
    if (tier != Tier::kDevice) {
      if (s.IsCorruption()) {
        if (tier == Tier::kDisk) {
          DropCorrupt(model, piece.hash, s);
        } else {
          // Deleted there, so the next insert stores it again.
          ++counters_.corrupt_blocks;
          std::fprintf(stderr, "kvstash: warning: %s sent a corrupt block %s (dropped): %s\n",
                       remote_->Describe().c_str(), piece.hash.ToHex().c_str(),
                       s.ToString().c_str());
          remote_->Drop(model, piece.hash);
        }
        ++result->corrupt_blocks;
      }
      // The peer going away mid-load is a miss like any other. So is a blob
      // that cannot be read: one the writer deleted after a read-only view
      // was opened (routine: no warning), a blob file deleted by hand, a
      // failing disk. The block is not dropped (the error may pass); verify
      // --repair removes blocks that stay unreadable.
      if (tier == Tier::kDisk && s.IsIOError() && !options_.read_only) {
        std::fprintf(stderr,
                     "kvstash: warning: stored block %s cannot be read (%s); loading stops "
                     "there (`kvstash verify --repair` removes blocks that stay unreadable)\n",
                     piece.hash.ToHex().c_str(), s.ToString().c_str());
      }
      if (tier != Tier::kDevice && s.IsIOError()) s = Status::NotFound(s.message());
    }
    if (!s.ok()) {
      // Corrupt, gone meanwhile, or written by a newer kvstash: the prefix
      // ends here and the caller prefills the rest. I/O and usage errors surface.
      if (!s.IsCorruption() && !s.IsNotFound() && !s.IsNotSupported()) return s;
      *gone = loaded[i].IsNotFound() && tier != Tier::kRemote;  // not an unreadable blob
      first_bad = i;
      break;  // the prefix ends here: the caller prefills the rest
    }
    if (keeps[i]) keeps[i]();
    RecordAccess(model, piece.hash);
    result->tokens = piece.p0 + piece.n;
    (tier == Tier::kDevice ? result->device_tokens
     : tier == Tier::kDisk ? result->disk_tokens
                           : result->remote_tokens) += piece.n;
  }
  for (size_t j = first_bad + 1; j < n_pieces; ++j) {
    if (tiers[j] == Tier::kDisk && loaded[j].IsCorruption()) {
      DropCorrupt(model, pieces[j].hash, loaded[j]);
      ++result->corrupt_blocks;
    }
  }
  return Status::OK();
}

}  // namespace kvstash
