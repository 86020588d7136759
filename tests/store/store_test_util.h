// Fixtures for store tests: a small model description and KV views with
// deterministic contents.
#ifndef KVSTASH_TESTS_STORE_STORE_TEST_UTIL_H_
#define KVSTASH_TESTS_STORE_STORE_TEST_UTIL_H_

#include <ATen/ATen.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "serde/model_id.h"
#include "store/kv_tensors.h"

namespace kvstash::testing {

inline ModelDescription TestModel(DType dtype = DType::kF32, uint32_t block_tokens = 16,
                                  std::string tag = "") {
  ModelDescription d;
  d.architecture = "TestForCausalLM";
  d.num_layers = 3;
  d.hidden_size = 64;
  d.num_heads = 4;
  d.num_kv_heads = 2;
  d.head_dim = 16;
  d.vocab_size = 1000;
  d.rope_theta = 10000;
  d.kv_dtype = dtype;
  d.block_tokens = block_tokens;
  d.weights_digest = "0123456789abcdef0123456789abcdef";
  d.tag = std::move(tag);
  return d;
}

inline BlockShape ShapeOf(const ModelDescription& d) { return BlockShapeOf(d); }

// K/V whose value at a position depends only on (seed, layer, kv, head,
// the tokens up to that position): like a real model, a shared prefix gives
// equal KV. Positions beyond `tokens.size()` stay zero.
inline KvCacheView MakeKv(const ModelDescription& d, const std::vector<int32_t>& tokens,
                          size_t capacity, uint64_t seed = 1) {
  auto type = ToScalarType(d.kv_dtype).value();
  KvCacheView view;
  uint64_t prefix_hash = seed;
  std::vector<uint64_t> prefix(tokens.size());
  for (size_t p = 0; p < tokens.size(); ++p) {
    prefix_hash = prefix_hash * 6364136223846793005ull + static_cast<uint64_t>(tokens[p]) + 1;
    prefix[p] = prefix_hash;
  }
  for (uint32_t l = 0; l < d.num_layers; ++l) {
    for (int kv = 0; kv < 2; ++kv) {
      at::Tensor t =
          at::zeros({d.num_kv_heads, static_cast<int64_t>(capacity), d.head_dim}, at::kFloat);
      auto a = t.accessor<float, 3>();
      for (uint32_t h = 0; h < d.num_kv_heads; ++h) {
        for (size_t p = 0; p < tokens.size(); ++p) {
          for (uint32_t i = 0; i < d.head_dim; ++i) {
            uint64_t x = prefix[p] ^ (l * 1000003ull + kv * 7919ull + h * 104729ull + i);
            x ^= x >> 33;
            x *= 0xff51afd7ed558ccdull;
            x ^= x >> 33;
            a[h][p][i] = static_cast<float>(static_cast<int64_t>(x % 20001) - 10000) / 1000.0f;
          }
        }
      }
      t = t.to(type);
      (kv == 0 ? view.keys : view.values).push_back(t);
    }
  }
  return view;
}

// True if positions [0, n) of both views hold identical bytes.
inline bool PrefixEqual(const KvCacheView& a, const KvCacheView& b, size_t n) {
  for (size_t l = 0; l < a.keys.size(); ++l) {
    for (int kv = 0; kv < 2; ++kv) {
      const at::Tensor& x = kv == 0 ? a.keys[l] : a.values[l];
      const at::Tensor& y = kv == 0 ? b.keys[l] : b.values[l];
      if (!at::equal(x.narrow(1, 0, n), y.narrow(1, 0, n))) return false;
    }
  }
  return true;
}

inline std::vector<int32_t> Iota(size_t n, int32_t start = 1) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

}  // namespace kvstash::testing

#endif  // KVSTASH_TESTS_STORE_STORE_TEST_UTIL_H_
