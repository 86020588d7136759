// The wall clock gc compares BlockMeta times with (unix milliseconds).
#ifndef KVSTASH_GC_CLOCK_INTERNAL_H_
#define KVSTASH_GC_CLOCK_INTERNAL_H_

#include <chrono>
#include <cstdint>

namespace kvstash::gc_internal {

inline uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace kvstash::gc_internal

#endif  // KVSTASH_GC_CLOCK_INTERNAL_H_
