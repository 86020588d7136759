// Synthetic, attention-like KV for the benchmarks (header-only, bench/ only).
//
// Shape: a Qwen2.5-0.5B block, [layers=24, K|V, kv_heads=2, tokens, head_dim=64].
// Every (layer, K|V, head, channel) has a log-normal scale (a per-layer offset,
// V ~2x smaller than K); values are mean + normal * scale, i.i.d. across tokens
// and blocks. Three K channels per (layer, head) are outliers (10-20x scale,
// with a mean offset of 2-5 scales), as in real models' K.
#ifndef KVSTASH_BENCH_SYNTHETIC_KV_H_
#define KVSTASH_BENCH_SYNTHETIC_KV_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace kvstash::bench {

inline constexpr uint32_t kLayers = 24, kKvHeads = 2, kTokens = 64, kHeadDim = 64;

// Deterministic for a given standard library.
struct Rng {
  explicit Rng(uint64_t seed) : gen(seed) {}
  uint64_t Next() { return gen(); }
  double Uniform() { return std::uniform_real_distribution<double>(0, 1)(gen); }
  double Normal() { return normal(gen); }
  std::mt19937_64 gen;
  std::normal_distribution<double> normal;
};

// Round to nearest even of the top 16 bits; NaN stays NaN.
inline uint16_t F32ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// `blocks` blocks of kTokens tokens of f32 KV, one after the other, each in
// block layout [layers, 2, kv_heads, tokens, head_dim].
inline std::vector<float> MakeKv(uint32_t blocks, uint64_t seed = 42) {
  const size_t rows = size_t{kLayers} * 2 * kKvHeads;
  Rng rng(seed);
  std::vector<float> scale(rows * kHeadDim), mean(rows * kHeadDim, 0.f);
  for (uint32_t l = 0; l < kLayers; ++l) {
    const double layer_mu = 0.3 * rng.Normal();
    for (uint32_t kv = 0; kv < 2; ++kv) {
      for (uint32_t h = 0; h < kKvHeads; ++h) {
        float* s = &scale[((l * 2 + kv) * kKvHeads + h) * kHeadDim];
        float* m = &mean[((l * 2 + kv) * kKvHeads + h) * kHeadDim];
        for (uint32_t c = 0; c < kHeadDim; ++c) {
          s[c] =
              static_cast<float>(std::exp((kv == 0 ? 0.0 : -0.7) + layer_mu + 0.5 * rng.Normal()));
        }
        for (int o = 0; kv == 0 && o < 3; ++o) {  // K outlier channels
          const uint32_t c = static_cast<uint32_t>(rng.Next() % kHeadDim);
          s[c] *= static_cast<float>(10 + 10 * rng.Uniform());
          m[c] =
              static_cast<float>((rng.Uniform() < 0.5 ? -1 : 1) * (2 + 3 * rng.Uniform()) * s[c]);
        }
      }
    }
  }
  std::vector<float> out(size_t{blocks} * rows * kTokens * kHeadDim);
  float* p = out.data();
  for (uint32_t b = 0; b < blocks; ++b) {
    for (size_t r = 0; r < rows; ++r) {
      for (uint32_t t = 0; t < kTokens; ++t) {
        for (uint32_t c = 0; c < kHeadDim; ++c) {
          *p++ =
              mean[r * kHeadDim + c] + static_cast<float>(rng.Normal()) * scale[r * kHeadDim + c];
        }
      }
    }
  }
  return out;
}

}  // namespace kvstash::bench

#endif  // KVSTASH_BENCH_SYNTHETIC_KV_H_
