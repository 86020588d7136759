#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>

#include "store/clock.h"
#include "store/kv_tensors.h"
#include "store/write_behind_internal.h"

namespace kvstash {

namespace {

// Blocks written per RocksDB batch: amortizes the WAL write without holding
// many megabytes of encoded bytes at once.
constexpr uint64_t kMaxBatchBytes = 16ull << 20;

}  // namespace

WriteBehind::WriteBehind(DiskTier* disk, const EncodeOptions& encode, uint64_t max_pending_bytes,
                         BlockDone on_block_done)
    : disk_(disk),
      encode_(encode),
      max_pending_bytes_(max_pending_bytes),
      on_block_done_(std::move(on_block_done)) {
  thread_ = std::thread([this] { Run(); });
}

WriteBehind::~WriteBehind() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_cv_.SignalAll();
  thread_.join();
}

void WriteBehind::EnqueueBlock(CachedBlockPtr block) {
  uint64_t bytes = block->bytes;
  Enqueue(Item{std::move(block), nullptr, bytes});
}

void WriteBehind::EnqueueTask(std::function<void()> task, uint64_t bytes) {
  Enqueue(Item{nullptr, std::move(task), bytes});
}

void WriteBehind::Enqueue(Item item) {
  const bool on_writer_thread = std::this_thread::get_id() == thread_.get_id();
  MutexLock lock(&mu_);
  // Backpressure; an item larger than the whole budget still goes through
  // once the queue is empty.
  while (!on_writer_thread && pending_bytes_ != 0 &&
         pending_bytes_ + item.bytes > max_pending_bytes_) {
    space_cv_.Wait(&mu_);
  }
  pending_bytes_ += item.bytes;
  ++submitted_;
  queue_.push_back(std::move(item));
  work_cv_.Signal();
}

Status WriteBehind::Drain() {
  MutexLock lock(&mu_);
  const uint64_t target = submitted_;
  while (completed_ < target) space_cv_.Wait(&mu_);
  Status s = first_error_;
  first_error_ = Status::OK();
  return s;
}

void WriteBehind::Run() {
  MutexLock lock(&mu_);
  while (true) {
    while (!stopping_ && queue_.empty()) work_cv_.Wait(&mu_);
    if (queue_.empty()) return;  // stopping and drained
    // Take a run of block writes (up to kMaxBatchBytes) or one task.
    std::deque<Item> batch;
    uint64_t batch_bytes = 0;
    if (queue_.front().task) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    } else {
      while (!queue_.empty() && !queue_.front().task &&
             (batch.empty() || batch_bytes + queue_.front().bytes <= kMaxBatchBytes)) {
        batch_bytes += queue_.front().bytes;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    mu_.Unlock();
    WriteBatch(batch);
    mu_.Lock();
    for (const Item& item : batch) pending_bytes_ -= item.bytes;
    completed_ += batch.size();
    space_cv_.SignalAll();
  }
}

void WriteBehind::WriteBatch(std::deque<Item>& items) {
  if (items.size() == 1 && items.front().task) {
    items.front().task();
    return;
  }
  std::vector<DiskBlockWrite> writes;
  writes.reserve(items.size());
  Status status;
  const uint64_t now = NowMs();
  for (const Item& item : items) {
    const CachedBlock& b = *item.block;
    DiskBlockWrite w;
    w.model = b.model;
    w.hash = b.hash;
    BlockHeader header;
    header.model = b.model;
    header.hash = b.hash;
    header.parent = b.parent;
    header.shape = b.shape;
    header.tokens = b.tokens;
    status = CatchTorch("encode block", [&] {
      at::Tensor cpu = b.kv.is_cpu() ? b.kv : b.kv.to(at::kCPU);
      cpu = cpu.contiguous();
      std::string_view raw(static_cast<const char*>(cpu.data_ptr()), cpu.nbytes());
      return codec_.Encode(header, raw, encode_, &w.blob);
    });
    if (!status.ok()) break;
    w.meta.parent = b.parent;
    w.meta.tokens = b.tokens;
    w.meta.codec = encode_.codec;
    w.meta.dtype = b.shape.dtype;
    w.meta.raw_bytes = b.bytes;
    w.meta.stored_bytes = w.blob.size();
    w.meta.created_ms = now;
    w.meta.last_access_ms = now;
    writes.push_back(std::move(w));
  }
  if (status.ok() && disk_) status = disk_->PutBlocks(writes, /*sync=*/false);
  uint64_t bytes = 0;
  if (status.ok()) {
    for (DiskBlockWrite& w : writes) {
      bytes += w.blob.size();
      if (remote_) remote_->PutBlock(w.model, w.hash, std::move(w.blob));
    }
  }
  if (on_block_done_) {
    for (const Item& item : items) on_block_done_(item.block, status);
  }
  MutexLock lock(&mu_);
  if (status.ok()) {
    blocks_written_ += writes.size();
    bytes_written_ += bytes;
    return;
  }
  if (write_errors_++ == 0) {
    std::fprintf(stderr, "kvstash: warning: background write failed: %s\n",
                 status.ToString().c_str());
  }
  if (first_error_.ok()) first_error_ = status;
}

uint64_t WriteBehind::blocks_written() const {
  MutexLock lock(&mu_);
  return blocks_written_;
}
uint64_t WriteBehind::bytes_written() const {
  MutexLock lock(&mu_);
  return bytes_written_;
}
uint64_t WriteBehind::write_errors() const {
  MutexLock lock(&mu_);
  return write_errors_;
}
uint64_t WriteBehind::pending_bytes() const {
  MutexLock lock(&mu_);
  return pending_bytes_;
}

}  // namespace kvstash
