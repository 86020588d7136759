// Store: logits records (store.h, serde/logits_record.h).
#include <ATen/ops/empty.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include "store/disk_tier.h"
#include "store/remote/remote_tier.h"
#include "store/store.h"
#include "store/write_behind_internal.h"

namespace kvstash {

namespace {
bool SameKey(const LogitsKey& a, const LogitsKey& b) {
  return a.model == b.model && a.parent == b.parent && a.tail == b.tail;
}
}  // namespace

Result<std::optional<LogitsKey>> Store::LogitsKeyFor(const ModelId& model,
                                                     const std::vector<int32_t>& tokens) {
  KVSTASH_ASSIGN_OR_RETURN(ModelInfo info, Info(model));
  const size_t block = info.block_tokens;
  if (tokens.size() <= block) return std::optional<LogitsKey>();
  // The prompt's last block starts at the last block boundary before its end.
  const size_t tail_start = (tokens.size() - 1) / block * block;
  LogitsKey key;
  key.model = model;
  for (size_t p0 = 0; p0 < tail_start; p0 += block) {
    key.parent = HashBlock(model, key.parent, tokens.data() + p0, block);
  }
  key.tail = HashBlock(model, key.parent, tokens.data() + tail_start, tokens.size() - tail_start);
  return std::optional<LogitsKey>(key);
}

void Store::MemoizeLogits(const LogitsKey& key, const at::Tensor& logits) {
  MutexLock lock(&logits_mu_);
  logits_memo_.remove_if([&](const auto& entry) { return SameKey(entry.first, key); });
  logits_memo_.emplace_front(key, logits);
  if (logits_memo_.size() > kLogitsMemoEntries) logits_memo_.pop_back();
}

Status Store::InsertLogits(const ModelId& model, const std::vector<int32_t>& tokens,
                           const at::Tensor& logits) {
  if (options_.read_only) return Status::OK();
  KVSTASH_ASSIGN_OR_RETURN(std::optional<LogitsKey> key, LogitsKeyFor(model, tokens));
  if (!key) return Status::OK();  // one block or less: nothing to keep
  KVSTASH_ASSIGN_OR_RETURN(ModelInfo info, Info(model));
  at::Tensor row;
  KVSTASH_RETURN_IF_ERROR(CatchTorch("copy logits", [&] {
    row = logits.detach().to(c10::Device("cpu"), at::kFloat).contiguous().reshape({1, -1});
    return Status::OK();
  }));
  if (row.size(1) != static_cast<int64_t>(info.description.vocab_size)) {
    return Status::InvalidArgument("logits: " + std::to_string(row.size(1)) +
                                   " values, the model's vocab is " +
                                   std::to_string(info.description.vocab_size));
  }
  if (row.data_ptr() == logits.data_ptr()) row = row.clone();  // the memo keeps its own copy
  MemoizeLogits(*key, row);
  if (!disk_ && !remote_) return Status::OK();
  auto record = std::make_shared<std::string>();
  EncodeLogitsRecord(*key, row.data_ptr<float>(), static_cast<uint32_t>(row.size(1)), record.get());
  // A record is only kept where its parent block is: deletion goes by parent,
  // so a record stored ahead of its blocks could outlive them (and verify
  // would call it orphaned). The writer's queue is FIFO, so this task runs
  // after the blocks Insert() queued before it were written and sent.
  auto keep = [this, key = *key, record] {
    if (disk_ && !disk_->read_only() && disk_->GetMeta(key.model, key.parent).ok()) {
      (void)disk_->PutLogits(key, *record);
    }
    if (remote_puts_) remote_puts_->PutLogits(key, *record);
  };
  if (writer_) {
    writer_->EnqueueTask(std::move(keep), record->size());
  } else {
    keep();
  }
  return Status::OK();
}

void Store::KeepMemoizedLogits() {
  // Under write-through every record was written behind its blocks already;
  // only kOnEvict can hold records whose blocks Close() is writing now.
  if (options_.spill_policy != SpillPolicy::kOnEvict) return;
  if (!disk_ || disk_->read_only() || !writer_) return;
  std::vector<std::pair<LogitsKey, at::Tensor>> entries;
  {
    MutexLock lock(&logits_mu_);
    entries.assign(logits_memo_.begin(), logits_memo_.end());
  }
  for (auto& [key, row] : entries) {
    writer_->EnqueueTask(
        [this, key = key, row = row] {
          std::string record;
          if (disk_->GetLogits(key, &record).ok()) return;  // already kept
          if (!disk_->GetMeta(key.model, key.parent).ok()) return;
          EncodeLogitsRecord(key, row.data_ptr<float>(), static_cast<uint32_t>(row.size(1)),
                             &record);
          (void)disk_->PutLogits(key, record);
        },
        static_cast<uint64_t>(row.nbytes()));
  }
}

Result<at::Tensor> Store::LoadLogits(const ModelId& model, const std::vector<int32_t>& tokens) {
  KVSTASH_ASSIGN_OR_RETURN(std::optional<LogitsKey> key, LogitsKeyFor(model, tokens));
  if (!key) return at::Tensor();
  {
    MutexLock lock(&logits_mu_);
    for (auto it = logits_memo_.begin(); it != logits_memo_.end(); ++it) {
      if (!SameKey(it->first, *key)) continue;
      logits_memo_.splice(logits_memo_.begin(), logits_memo_, it);
      return it->second.clone();  // callers may change theirs
    }
  }
  std::string record;
  bool from_peer = false;
  Status read = disk_ ? disk_->GetLogits(*key, &record) : Status::NotFound("no disk tier");
  if (read.IsNotFound() && remote_) {
    // Any failure of the peer (down, an older server) is a miss.
    if (!remote_->GetLogits(*key, &record).ok()) return at::Tensor();
    from_peer = true;
  } else if (read.IsNotFound()) {
    return at::Tensor();
  } else {
    KVSTASH_RETURN_IF_ERROR(read);
  }
  KVSTASH_ASSIGN_OR_RETURN(ModelInfo info, Info(model));
  const int64_t vocab = info.description.vocab_size;
  at::Tensor row;
  KVSTASH_RETURN_IF_ERROR(CatchTorch("allocate logits", [&] {
    row = at::empty({1, vocab}, at::TensorOptions().dtype(at::kFloat));
    return Status::OK();
  }));
  Status decoded =
      DecodeLogitsRecord(record, *key, static_cast<uint32_t>(vocab), row.data_ptr<float>());
  if (!decoded.ok()) {
    ++counters_.corrupt_blocks;
    std::fprintf(stderr, "kvstash: warning: %s corrupt logits record %s: %s\n",
                 from_peer ? "peer sent a" : "dropping", key->tail.ToHex().c_str(),
                 decoded.ToString().c_str());
    if (!from_peer && !disk_->read_only()) (void)disk_->DeleteLogits(*key);
    return at::Tensor();
  }
  MemoizeLogits(*key, row);
  // Keep what the peer served, as Load keeps its blocks (in the background,
  // behind them).
  if (from_peer && disk_ && writer_) {
    auto kept = std::make_shared<std::string>(std::move(record));
    writer_->EnqueueTask(
        [this, key = *key, kept] {
          if (disk_->GetMeta(key.model, key.parent).ok()) (void)disk_->PutLogits(key, *kept);
        },
        kept->size());
  }
  return row.clone();  // the memo keeps its own
}

}  // namespace kvstash
