// RunOnThreads: the fan-out used by the load paths -- `work` run on up to
// `threads` threads at once, the calling thread being one of them.
#ifndef KVSTASH_STORE_PARALLEL_H_
#define KVSTASH_STORE_PARALLEL_H_

#include <cstddef>
#include <system_error>
#include <thread>
#include <vector>

namespace kvstash {

// Runs `work` on the calling thread and on `threads - 1` more, and returns
// when every run has. `work` takes its items from a shared source (an atomic
// index), so when the system has no more threads to give, the ones started
// (and this one) do it all. REQUIRES: `work` may run concurrently with itself.
template <typename Work>
void RunOnThreads(size_t threads, const Work& work) {
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) {
    try {
      helpers.emplace_back([&work] { work(); });
    } catch (const std::system_error&) {
      break;
    }
  }
  work();
  for (std::thread& t : helpers) t.join();
}

}  // namespace kvstash

#endif  // KVSTASH_STORE_PARALLEL_H_
