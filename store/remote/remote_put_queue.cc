#include <utility>

#include "store/remote/remote_put_queue_internal.h"

namespace kvstash {

RemotePutQueue::RemotePutQueue(RemoteTier* remote, uint64_t max_bytes)
    : remote_(remote), max_bytes_(max_bytes) {
  thread_ = std::thread([this] { Run(); });
}

RemotePutQueue::~RemotePutQueue() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_cv_.SignalAll();
  thread_.join();
}

void RemotePutQueue::PutBlock(const ModelId& model, const BlockHash& hash, std::string blob) {
  Item item;
  item.model = model;
  item.hash = hash;
  item.bytes = std::move(blob);
  Enqueue(std::move(item));
}

void RemotePutQueue::PutLogits(const LogitsKey& key, std::string record) {
  Item item;
  item.logits = true;
  item.key = key;
  item.bytes = std::move(record);
  Enqueue(std::move(item));
}

void RemotePutQueue::Enqueue(Item item) {
  MutexLock lock(&mu_);
  // One put larger than the whole bound still goes when nothing waits.
  if (!queue_.empty() && queued_bytes_ + item.bytes.size() > max_bytes_) {
    ++errors_;
    return;
  }
  queued_bytes_ += item.bytes.size();
  ++submitted_;
  queue_.push_back(std::move(item));
  work_cv_.Signal();
}

void RemotePutQueue::Drain() {
  MutexLock lock(&mu_);
  const uint64_t target = submitted_;
  while (finished_ < target) done_cv_.Wait(&mu_);
}

void RemotePutQueue::Run() {
  MutexLock lock(&mu_);
  while (true) {
    while (!stopping_ && queue_.empty()) work_cv_.Wait(&mu_);
    if (queue_.empty()) return;  // stopping and drained
    Item item = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    const Status sent = item.logits ? remote_->PutLogits(item.key, item.bytes)
                                    : remote_->Put(item.model, item.hash, item.bytes);
    mu_.Lock();
    queued_bytes_ -= item.bytes.size();
    ++finished_;
    ++(sent.ok() ? puts_ : errors_);
    done_cv_.SignalAll();
  }
}

uint64_t RemotePutQueue::puts() const {
  MutexLock lock(&mu_);
  return puts_;
}

uint64_t RemotePutQueue::errors() const {
  MutexLock lock(&mu_);
  return errors_;
}

uint64_t RemotePutQueue::queued_bytes() const {
  MutexLock lock(&mu_);
  return queued_bytes_;
}

}  // namespace kvstash
