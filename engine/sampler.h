// Choosing the next token from logits: greedy, or temperature / top-k /
// top-p sampling with a seeded generator (same seed, same tokens).
#ifndef KVSTASH_ENGINE_SAMPLER_H_
#define KVSTASH_ENGINE_SAMPLER_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <random>
#include <vector>

namespace kvstash {

struct SamplingOptions {
  // 0: greedy (argmax). Default: 0.
  float temperature = 0;
  // Keep only the k most likely tokens; 0: all. Default: 0.
  int top_k = 0;
  // Keep the smallest set of most likely tokens whose probability reaches p.
  // Default: 1 (all).
  float top_p = 1;
  uint64_t seed = 0;
};

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {}
  // REQUIRES: `logits` is f32 with `vocab` elements (any leading dims of size 1).
  int32_t Next(const at::Tensor& logits);

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

// The `n` most likely next tokens with their log-probabilities, best first.
std::vector<TokenLogprob> TopLogprobs(const at::Tensor& logits, int n);

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_SAMPLER_H_
