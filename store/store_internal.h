// Parts of Store shared by its implementation files (store.cc, the Open,
// Match, Insert and lifecycle side; store_load.cc, the Load side;
// store_logits.cc). Not part of the module's public face.
#ifndef KVSTASH_STORE_STORE_INTERNAL_H_
#define KVSTASH_STORE_STORE_INTERNAL_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "serde/block_codec.h"
#include "serde/mutex.h"
#include "store/clock.h"
#include "store/store.h"

namespace kvstash {

// Decoders (zstd contexts + a blob buffer) reused across loads and threads:
// each is used by one thread at a time.
class Store::DecoderPool {
 public:
  struct Decoder {
    BlockCodec codec;
    std::string blob;
  };
  std::unique_ptr<Decoder> Take() {
    MutexLock lock(&mu_);
    if (free_.empty()) return std::make_unique<Decoder>();
    auto d = std::move(free_.back());
    free_.pop_back();
    return d;
  }
  void Return(std::unique_ptr<Decoder> d) {
    MutexLock lock(&mu_);
    free_.push_back(std::move(d));
  }

 private:
  Mutex mu_;
  std::vector<std::unique_ptr<Decoder>> free_ KVSTASH_GUARDED_BY(mu_);
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_STORE_INTERNAL_H_
