// LatencyHistogram: counts of durations in fixed buckets, for Prometheus
// histograms (`kvstash serve --metrics`). Lock-free: Record() is a few
// relaxed atomic adds.
//
// Thread-safety: all methods may be called concurrently.
#ifndef KVSTASH_STORE_LATENCY_HISTOGRAM_H_
#define KVSTASH_STORE_LATENCY_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace kvstash {

class LatencyHistogram {
 public:
  // Upper bounds of the buckets, seconds (the last bucket, +Inf, is implied).
  static constexpr std::array<double, 14> kBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

  struct Snapshot {
    std::array<uint64_t, kBounds.size() + 1> counts{};  // per bucket, not cumulative
    uint64_t count = 0;
    double sum_seconds = 0;
  };

  void Record(std::chrono::nanoseconds d) {
    const double s = std::chrono::duration<double>(d).count();
    size_t b = 0;
    while (b < kBounds.size() && s > kBounds[b]) ++b;
    counts_[b].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<uint64_t>(d.count() > 0 ? d.count() : 0),
                      std::memory_order_relaxed);
  }

  Snapshot Read() const {
    Snapshot out;
    for (size_t b = 0; b < counts_.size(); ++b) {
      out.counts[b] = counts_[b].load(std::memory_order_relaxed);
      out.count += out.counts[b];
    }
    out.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return out;
  }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_LATENCY_HISTOGRAM_H_
