// How the engine computes, apart from how it stores KV.
//
// A checkpoint's dtype fixes the KV cache and the stored blocks (bf16 KV
// stays bf16: half the bytes of f32). The arithmetic may differ: libtorch
// 1.13 runs bf16 matmul through oneDNN only on CPUs with AVX-512 (BW/VL/DQ);
// elsewhere (AMD Zen 2/3, many Intel parts) it falls back to scalar code
// about 40x slower than f32. `auto` therefore measures both at engine start
// and computes in f32 where bf16 is not accelerated.
//
// The compute dtype changes the KV bytes (K/V computed in f32 and rounded to
// bf16 differ from K/V computed in bf16), so it is part of the model's
// identity whenever it differs from the KV dtype (LlamaModel::Describe).
//
// Thread-safety: the functions are thread-compatible; ProbeCpuMatmul runs
// libtorch kernels on the calling thread's intra-op pool.
#ifndef KVSTASH_ENGINE_COMPUTE_DTYPE_H_
#define KVSTASH_ENGINE_COMPUTE_DTYPE_H_

#include <optional>
#include <string>

#include "serde/dtype.h"
#include "serde/status.h"

namespace kvstash {

// Measured single-thread throughput of one small matmul (the shape of a
// decoder projection over a short chunk) in each dtype.
struct MatmulProbe {
  double f32_gflops = 0;
  double bf16_gflops = 0;
  double probe_ms = 0;  // wall time the measurement took
};

// bf16 counts as accelerated when it reaches at least this fraction of f32's
// throughput. Accelerated bf16 runs 2-3.5x faster than f32 on one thread
// here (Zen 4, avx512_bf16); the scalar fallback at 1/40-1/50. The wide
// margin keeps the choice stable from run to run, which matters because the
// choice is part of the model's identity.
inline constexpr double kBf16AcceleratedFraction = 0.25;

// Times an f32 and a bf16 [32 x 512] x [512 x 512] matmul on one thread
// (after one warm-up call each, which also pays for oneDNN's kernel
// creation), then restores the thread count. Costs about 5 ms where bf16 is
// accelerated, about 40 ms where it is not.
Result<MatmulProbe> ProbeCpuMatmul();

// What the engine computes in, and why.
struct ComputeChoice {
  DType dtype = DType::kF32;
  bool auto_chosen = false;          // `auto` decided (else: asked for, or implied)
  std::optional<MatmulProbe> probe;  // set when the choice was measured
  std::string reason;                // one line for people
};

// Decides the compute dtype for a model whose KV dtype is `kv_dtype`.
// `requested`: nullopt for auto. On CUDA (`cpu` false) auto computes in the
// KV dtype. On the CPU auto computes in f32 when the KV dtype is f32 or when
// ProbeCpuMatmul finds bf16 below kBf16AcceleratedFraction of f32, else in
// bf16. f16 arithmetic is refused on the CPU (libtorch 1.13 lacks f16 CPU
// kernels such as silu): InvalidArgument.
Result<ComputeChoice> ChooseComputeDType(std::optional<DType> requested, DType kv_dtype, bool cpu);

// The rule alone, for a given measurement: bf16 when accelerated.
DType ComputeDTypeFor(const MatmulProbe& probe);

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_COMPUTE_DTYPE_H_
