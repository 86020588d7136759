// WriteBehind: the store's background thread that encodes blocks and writes
// them to the disk tier, off the request path.
//
// Order: work runs in submission order on one thread. Memory is bounded:
// Enqueue blocks while more than `max_pending_bytes` raw bytes wait.
// Errors (a full disk, say) do not stop the thread: the first is logged, all
// are counted, and the first since the previous Drain() is returned by it.
//
// Thread-safety: all methods may be called concurrently.
#ifndef KVSTASH_STORE_WRITE_BEHIND_INTERNAL_H_
#define KVSTASH_STORE_WRITE_BEHIND_INTERNAL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>

#include "serde/block_codec.h"
#include "serde/mutex.h"
#include "store/device_tier.h"
#include "store/disk_tier.h"
#include "store/remote/remote_put_queue_internal.h"

namespace kvstash {

class WriteBehind {
 public:
  // `on_block_done(block, status)` runs on the writer thread after each
  // block's write was attempted.
  using BlockDone = std::function<void(const CachedBlockPtr& block, const Status& status)>;
  WriteBehind(DiskTier* disk, const EncodeOptions& encode, uint64_t max_pending_bytes,
              BlockDone on_block_done);
  // Finishes queued work, then stops the thread.
  ~WriteBehind();

  // Also hand every written block, encoded, to `remote` (the remote tier's
  // own queue: a slow peer never holds up this thread). REQUIRES: called
  // before the first Enqueue*; `remote` outlives the writer.
  void SetRemote(RemotePutQueue* remote) { remote_ = remote; }

  // Queues `block` to be encoded and written. Called from the writer thread
  // itself (by a task), it never waits for budget, so it cannot deadlock.
  void EnqueueBlock(CachedBlockPtr block);
  // Queues `task` to run on the writer thread (e.g. a promotion).
  // `bytes` counts against the pending budget.
  void EnqueueTask(std::function<void()> task, uint64_t bytes);

  // Waits until everything queued before the call has run; returns the first
  // write error since the previous Drain(), or OK.
  Status Drain();

  uint64_t blocks_written() const;
  uint64_t bytes_written() const;  // encoded bytes
  uint64_t write_errors() const;
  uint64_t pending_bytes() const;

 private:
  struct Item {
    CachedBlockPtr block;
    std::function<void()> task;
    uint64_t bytes = 0;
  };

  void Enqueue(Item item) KVSTASH_EXCLUDES(mu_);
  void Run() KVSTASH_EXCLUDES(mu_);
  void WriteBatch(std::deque<Item>& items) KVSTASH_EXCLUDES(mu_);

  DiskTier* const disk_;  // null: blocks only go to the peer
  RemotePutQueue* remote_ = nullptr;
  const EncodeOptions encode_;
  const uint64_t max_pending_bytes_;
  const BlockDone on_block_done_;
  BlockCodec codec_;  // used only by the writer thread

  mutable Mutex mu_;
  CondVar work_cv_;   // writer waits for work
  CondVar space_cv_;  // producers wait for budget; Drain waits for progress
  std::deque<Item> queue_ KVSTASH_GUARDED_BY(mu_);
  uint64_t pending_bytes_ KVSTASH_GUARDED_BY(mu_) = 0;
  uint64_t submitted_ KVSTASH_GUARDED_BY(mu_) = 0;  // items ever queued
  uint64_t completed_ KVSTASH_GUARDED_BY(mu_) = 0;  // items ever finished
  uint64_t blocks_written_ KVSTASH_GUARDED_BY(mu_) = 0;
  uint64_t bytes_written_ KVSTASH_GUARDED_BY(mu_) = 0;
  uint64_t write_errors_ KVSTASH_GUARDED_BY(mu_) = 0;
  Status first_error_ KVSTASH_GUARDED_BY(mu_);
  bool stopping_ KVSTASH_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_WRITE_BEHIND_INTERNAL_H_
