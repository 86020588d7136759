// The wall clock of block metadata: created and last-access times, idle
// timers (unix milliseconds). One definition for the store, the server and gc.
#ifndef KVSTASH_STORE_CLOCK_H_
#define KVSTASH_STORE_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace kvstash {

inline uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace kvstash

#endif  // KVSTASH_STORE_CLOCK_H_
