#include "engine/compute_dtype.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "store/kv_tensors.h"

namespace kvstash {

namespace {

constexpr int64_t kProbeRows = 32, kProbeDim = 512;
constexpr int kProbeRounds = 3;

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Best-of-rounds GFLOP/s of at::linear in `type`. The scalar fallback is so
// slow that one timed round already says enough; stop there.
double MeasureLinear(at::ScalarType type) {
  const at::Tensor a = at::randn({kProbeRows, kProbeDim}).to(type);
  const at::Tensor w = at::randn({kProbeDim, kProbeDim}).to(type);
  (void)at::linear(a, w);  // warm-up: oneDNN creates its kernel on the first call
  double best = 1e30;
  for (int round = 0; round < kProbeRounds; ++round) {
    const auto start = std::chrono::steady_clock::now();
    (void)at::linear(a, w);
    best = std::min(best, Seconds(start));
    if (best > 5e-3) break;
  }
  return 2.0 * kProbeRows * kProbeDim * kProbeDim / std::max(best, 1e-9) / 1e9;
}

std::string Gflops(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

}  // namespace

Result<MatmulProbe> ProbeCpuMatmul() {
  MatmulProbe probe;
  const auto start = std::chrono::steady_clock::now();
  // On one thread: what is measured is the kernel, not how quickly a thread
  // pool wakes up; a pool on a busy machine (ctest -j, a neighbour) would
  // otherwise make f32 look 10x slower than it is.
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  Status s = CatchTorch("compute dtype probe", [&] {
    probe.f32_gflops = MeasureLinear(at::kFloat);
    probe.bf16_gflops = MeasureLinear(at::kBFloat16);
    return Status::OK();
  });
  at::set_num_threads(threads);
  KVSTASH_RETURN_IF_ERROR(s);
  probe.probe_ms = Seconds(start) * 1e3;
  return probe;
}

DType ComputeDTypeFor(const MatmulProbe& probe) {
  return probe.bf16_gflops >= kBf16AcceleratedFraction * probe.f32_gflops ? DType::kBF16
                                                                          : DType::kF32;
}

Result<ComputeChoice> ChooseComputeDType(std::optional<DType> requested, DType kv_dtype, bool cpu) {
  ComputeChoice choice;
  if (requested) {
    if (*requested == DType::kF16 && cpu) {
      return Status::InvalidArgument(
          "compute dtype f16 is not supported on the CPU (libtorch lacks f16 CPU kernels); "
          "use f32 or bf16");
    }
    choice.dtype = *requested;
    choice.reason = std::string("asked for");
    return choice;
  }
  choice.auto_chosen = true;
  if (!cpu) {
    choice.dtype = kv_dtype;
    choice.reason = "the KV dtype, on CUDA";
    return choice;
  }
  if (kv_dtype == DType::kF32) {
    choice.dtype = DType::kF32;
    choice.reason = "the KV dtype";
    return choice;
  }
  KVSTASH_ASSIGN_OR_RETURN(MatmulProbe probe, ProbeCpuMatmul());
  choice.probe = probe;
  choice.dtype = ComputeDTypeFor(probe);
  const std::string measured = "bf16 matmul " + Gflops(probe.bf16_gflops) + " GFLOP/s, f32 " +
                               Gflops(probe.f32_gflops) + " GFLOP/s, measured at start";
  choice.reason = choice.dtype == DType::kBF16
                      ? "bf16 matmul is accelerated on this CPU (" + measured + ")"
                      : "bf16 matmul is not accelerated on this CPU (" + measured + ")";
  return choice;
}

}  // namespace kvstash
