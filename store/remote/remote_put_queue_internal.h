// RemotePutQueue: sends new blocks and logits records to the remote tier on
// a thread of its own, so a slow or unreachable peer never stalls the disk
// writer -- nor, through the writer's backpressure, Insert().
//
// Best effort, like every remote put: while more than `max_bytes` of puts
// wait, new ones are dropped and counted with the failed ones (the block is
// still in the local tiers; the peer only misses a copy). FIFO on one
// thread, so a logits record queued after its blocks reaches the peer after
// them.
//
// Thread-safety: all methods may be called concurrently.
#ifndef KVSTASH_STORE_REMOTE_REMOTE_PUT_QUEUE_INTERNAL_H_
#define KVSTASH_STORE_REMOTE_REMOTE_PUT_QUEUE_INTERNAL_H_

#include <cstdint>
#include <deque>
#include <string>
#include <thread>

#include "serde/block_hash.h"
#include "serde/logits_record.h"
#include "serde/model_id.h"
#include "serde/mutex.h"
#include "store/remote/remote_tier.h"

namespace kvstash {

class RemotePutQueue {
 public:
  // `remote` outlives the queue.
  RemotePutQueue(RemoteTier* remote, uint64_t max_bytes);
  // Sends what is queued (each put bounded by the client's timeout; an
  // unreachable peer fails them fast), then stops the thread.
  ~RemotePutQueue();
  RemotePutQueue(const RemotePutQueue&) = delete;
  RemotePutQueue& operator=(const RemotePutQueue&) = delete;

  void PutBlock(const ModelId& model, const BlockHash& hash, std::string blob);
  void PutLogits(const LogitsKey& key, std::string record);

  // Waits until every put queued before the call was sent, failed or dropped.
  void Drain();

  uint64_t puts() const;          // sent and accepted (or already stored there)
  uint64_t errors() const;        // failed, or dropped for want of room
  uint64_t queued_bytes() const;  // waiting to be sent

 private:
  struct Item {
    bool logits = false;
    ModelId model;
    BlockHash hash;
    LogitsKey key;
    std::string bytes;
  };
  void Enqueue(Item item);
  void Run();

  RemoteTier* const remote_;
  const uint64_t max_bytes_;

  mutable Mutex mu_;
  CondVar work_cv_;  // the thread waits for puts
  CondVar done_cv_;  // Drain waits for progress
  std::deque<Item> queue_ KVSTASH_GUARDED_BY(mu_);
  uint64_t queued_bytes_ KVSTASH_GUARDED_BY(mu_) = 0;
  uint64_t submitted_ KVSTASH_GUARDED_BY(mu_) = 0;  // puts ever queued
  uint64_t finished_ KVSTASH_GUARDED_BY(mu_) = 0;   // of them, sent or failed
  uint64_t puts_ KVSTASH_GUARDED_BY(mu_) = 0;
  uint64_t errors_ KVSTASH_GUARDED_BY(mu_) = 0;
  bool stopping_ KVSTASH_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_REMOTE_REMOTE_PUT_QUEUE_INTERNAL_H_
