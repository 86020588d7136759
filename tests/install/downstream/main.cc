// Stores a prompt's KV with the installed kvstash::store, reopens the store
// and loads it back: exit 0 and "downstream: ok" if every byte came back.
#include <ATen/ATen.h>

#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "store/kv_tensors.h"
#include "store/store.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: downstream_app STORE_DIR\n");
    return 2;
  }
  kvstash::ModelDescription d;
  d.architecture = "DownstreamForCausalLM";
  d.num_layers = 2;
  d.hidden_size = 32;
  d.num_heads = 2;
  d.num_kv_heads = 2;
  d.head_dim = 16;
  d.vocab_size = 100;
  d.rope_theta = 10000;
  d.kv_dtype = kvstash::DType::kF32;
  d.block_tokens = 16;
  d.weights_digest = "00112233445566778899aabbccddeeff";
  std::vector<int32_t> tokens(40);
  std::iota(tokens.begin(), tokens.end(), 1);
  kvstash::KvCacheView kv, back;
  for (uint32_t l = 0; l < d.num_layers; ++l) {
    kv.keys.push_back(at::randn({2, 48, 16}));
    kv.values.push_back(at::randn({2, 48, 16}));
    back.keys.push_back(at::zeros({2, 48, 16}));
    back.values.push_back(at::zeros({2, 48, 16}));
  }
  kvstash::StoreOptions options;
  options.path = argv[1];
  options.device = "cpu";
  for (int pass = 0; pass < 2; ++pass) {
    auto store = kvstash::Store::Open(options);
    if (!store.ok()) {
      std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
      return 1;
    }
    auto model = (*store)->RegisterModel(d);
    if (!model.ok()) return 1;
    if (pass == 0) {
      if (!(*store)->Insert(*model, tokens, kv).ok() || !(*store)->Close().ok()) return 1;
      continue;
    }
    auto loaded = (*store)->Load(*model, tokens, back);
    if (!loaded.ok() || loaded->tokens != tokens.size() || loaded->disk_tokens != tokens.size()) {
      std::fprintf(stderr, "load: %s\n",
                   loaded.ok() ? std::to_string(loaded->tokens).c_str()
                               : loaded.status().ToString().c_str());
      return 1;
    }
  }
  for (uint32_t l = 0; l < d.num_layers; ++l) {
    if (!at::equal(kv.keys[l].narrow(1, 0, 40), back.keys[l].narrow(1, 0, 40)) ||
        !at::equal(kv.values[l].narrow(1, 0, 40), back.values[l].narrow(1, 0, 40))) {
      std::fprintf(stderr, "layer %u: bytes differ\n", l);
      return 1;
    }
  }
  std::printf("downstream: ok\n");
  return 0;
}
