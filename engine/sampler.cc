#include "engine/sampler.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

namespace kvstash {

int32_t Sampler::Next(const at::Tensor& logits) {
  at::Tensor flat = logits.reshape({-1}).to(at::kCPU).contiguous();
  if (options_.temperature <= 0) return static_cast<int32_t>(flat.argmax().item<int64_t>());
  at::Tensor probs = at::softmax(flat / options_.temperature, 0);
  const float* p = probs.data_ptr<float>();
  std::vector<int32_t> order(static_cast<size_t>(flat.numel()));
  std::iota(order.begin(), order.end(), 0);
  size_t keep = order.size();
  if (options_.top_k > 0) keep = std::min<size_t>(keep, static_cast<size_t>(options_.top_k));
  // Sorting only as far as needed: top-k bounds it, top-p usually stops early.
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                    [&](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  double cumulative = 0;
  size_t cut = 0;
  while (cut < keep) {
    cumulative += p[order[cut++]];
    if (options_.top_p < 1 && cumulative >= options_.top_p) break;
  }
  std::uniform_real_distribution<double> uniform(0.0, cumulative);
  double r = uniform(rng_);
  for (size_t i = 0; i < cut; ++i) {
    r -= p[order[i]];
    if (r <= 0) return order[i];
  }
  return order[cut - 1];
}

std::vector<TokenLogprob> TopLogprobs(const at::Tensor& logits, int n) {
  std::vector<TokenLogprob> out;
  if (n <= 0) return out;
  at::Tensor logp = at::log_softmax(logits.reshape({-1}).to(at::kCPU), 0);
  auto top = logp.topk(std::min<int64_t>(n, logp.numel()));
  at::Tensor values = std::get<0>(top).contiguous(), ids = std::get<1>(top).contiguous();
  for (int64_t i = 0; i < values.numel(); ++i) {
    out.push_back({static_cast<int32_t>(ids[i].item<int64_t>()), values[i].item<float>()});
  }
  return out;
}

}  // namespace kvstash
