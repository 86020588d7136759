// The C++ side of bench/python_load_bench.py: fills a store with a
// 2048-token prefix of the Qwen2.5-0.5B shape (bf16, 64-token blocks), then
// times Store::Load of it from disk into a preallocated KV cache, as the
// Python module's Store.load does. Prints one JSON line.
//
//   kvstash_load_bench --store DIR [--tokens 2048] [--rounds 9] [--fill]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "store/kv_tensors.h"
#include "store/store.h"

using namespace kvstash;

namespace {

ModelDescription Description() {
  ModelDescription d;
  d.architecture = "Qwen2ForCausalLM";
  d.num_layers = 24;
  d.hidden_size = 896;
  d.num_heads = 14;
  d.num_kv_heads = 2;
  d.head_dim = 64;
  d.vocab_size = 151936;
  d.rope_theta = 1000000;
  d.kv_dtype = DType::kBF16;
  d.block_tokens = 64;
  d.weights_digest = "0123456789abcdef0123456789abcdef";
  d.tag = "load-bench";
  return d;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "kvstash_load_bench: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  size_t tokens = 2048;
  int rounds = 9;
  bool fill = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--store" && i + 1 < argc) dir = argv[++i];
    if (a == "--tokens" && i + 1 < argc) tokens = std::strtoul(argv[++i], nullptr, 10);
    if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    if (a == "--fill") fill = true;
  }
  if (dir.empty()) {
    std::fprintf(stderr,
                 "usage: kvstash_load_bench --store DIR [--tokens N] [--rounds N] [--fill]\n");
    return 2;
  }
  at::set_num_threads(2);
  const ModelDescription desc = Description();
  std::vector<int32_t> ids(tokens);
  for (size_t i = 0; i < tokens; ++i) ids[i] = static_cast<int32_t>(1000 + i);
  auto new_view = [&](bool random) {
    KvCacheView v;
    for (uint32_t l = 0; l < desc.num_layers; ++l) {
      for (auto* side : {&v.keys, &v.values}) {
        at::Tensor t = random ? at::randn({2, static_cast<int64_t>(tokens), 64}) * 0.5
                              : at::zeros({2, static_cast<int64_t>(tokens), 64});
        side->push_back(t.to(at::kBFloat16));
      }
    }
    return v;
  };
  StoreOptions options;
  options.path = dir;
  options.device = "cpu";
  if (fill) {
    auto store = Store::Open(options);
    if (!store.ok()) return Fail(store.status());
    auto model = (*store)->RegisterModel(desc);
    if (!model.ok()) return Fail(model.status());
    auto inserted = (*store)->Insert(*model, ids, new_view(true));
    if (!inserted.ok()) return Fail(inserted.status());
    Status closed = (*store)->Close();
    if (!closed.ok()) return Fail(closed);
  }
  options.device_budget_bytes = 0;  // every load from disk
  options.promote_on_hit = false;
  auto store = Store::Open(options);
  if (!store.ok()) return Fail(store.status());
  auto model = (*store)->RegisterModel(desc);
  if (!model.ok()) return Fail(model.status());
  KvCacheView view = new_view(false);
  std::vector<double> ms;
  for (int r = 0; r <= rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto loaded = (*store)->Load(*model, ids, view);
    const double elapsed =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!loaded.ok()) return Fail(loaded.status());
    if (loaded->tokens != tokens)
      return Fail(Status::NotFound("loaded " + std::to_string(loaded->tokens)));
    if (r > 0) ms.push_back(elapsed);  // round 0 warms up
  }
  std::sort(ms.begin(), ms.end());
  std::printf(
      "{\"model_id\": \"%s\", \"tokens\": %zu, \"cpp_load_ms\": %.3f, \"raw_bytes\": %llu}\n",
      model->ToHex().c_str(), tokens, ms[ms.size() / 2],
      static_cast<unsigned long long>(uint64_t{tokens} * 24 * 2 * 2 * 64 * 2));
  return 0;
}
