// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with
// the capability annotations clang's -Wthread-safety needs (libstdc++'s
// std::mutex has none, so members guarded by one cannot be checked). Like
// LevelDB's port::Mutex and port::CondVar.
#ifndef KVSTASH_SERDE_MUTEX_H_
#define KVSTASH_SERDE_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "serde/thread_annotations.h"

namespace kvstash {

class KVSTASH_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() KVSTASH_ACQUIRE() { mu_.lock(); }
  void Unlock() KVSTASH_RELEASE() { mu_.unlock(); }
  // Tells the analysis the caller holds the mutex (not checked at run time).
  void AssertHeld() KVSTASH_ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for the scope.
class KVSTASH_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) KVSTASH_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() KVSTASH_RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable over Mutex (like Abseil's absl::CondVar): Wait* are
// called with `mu` held and return with it held.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void Wait(Mutex* mu) KVSTASH_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // False if `timeout` passed without a Signal/SignalAll (spurious wakeups
  // return true: callers loop on their condition anyway).
  template <typename Rep, typename Period>
  bool WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> timeout) KVSTASH_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool woken = cv_.wait_for(lock, timeout) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace kvstash

#endif  // KVSTASH_SERDE_MUTEX_H_
