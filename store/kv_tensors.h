// The libtorch side of blocks: the KV cache views a decoder's attention
// takes, and moving token ranges between them and block tensors.
//
// A block tensor is [layers, 2 (K,V), kv_heads, tokens, head_dim], detached
// and contiguous: exactly the raw array of serde/block_codec.h.
// A KvCacheView is what an engine owns: per layer, a K and a V tensor of shape
// [kv_heads, capacity, head_dim] (or [1, kv_heads, capacity, head_dim]),
// where position p of the sequence is index p of dimension -2. Positions are
// half-open ranges [p0, p1).
#ifndef KVSTASH_STORE_KV_TENSORS_H_
#define KVSTASH_STORE_KV_TENSORS_H_

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <vector>

#include "serde/block_codec.h"
#include "serde/dtype.h"
#include "serde/status.h"

namespace kvstash {

struct KvCacheView {
  std::vector<at::Tensor> keys;    // one per layer
  std::vector<at::Tensor> values;  // one per layer
};

Result<c10::ScalarType> ToScalarType(DType dtype);

// Checks that `view` matches `shape` (layers, kv_heads, head_dim, dtype), that
// every tensor holds at least `min_capacity` positions, that all tensors are
// on one device, and that each head's rows are contiguous (stride of
// head_dim is 1, of positions is head_dim). InvalidArgument names the
// offending layer and both values otherwise.
Status ValidateKvView(const KvCacheView& view, const BlockShape& shape, size_t min_capacity);

// Allocates a view of `capacity` positions on `device` (zero-filled).
Result<KvCacheView> AllocateKvView(const BlockShape& shape, size_t capacity, c10::Device device);

// The scatter map that writes tokens [0, m) of a block of `block_tokens`
// tokens into positions [p0, p0 + m) of `view`.
// REQUIRES: ValidateKvView(view, shape, p0 + m) is OK and the view is on the CPU.
ScatterMap ViewScatterMap(const KvCacheView& view, const BlockShape& shape, size_t block_tokens,
                          size_t p0, size_t m);

// Copies tokens [0, m) of `block` into positions [p0, p0 + m) of `view`.
// Works across devices.
Status CopyBlockToView(const at::Tensor& block, const BlockShape& shape, size_t p0, size_t m,
                       const KvCacheView& view);

// A new contiguous block tensor holding positions [p0, p0 + n) of `view`, on
// `device`.
Result<at::Tensor> GatherBlock(const KvCacheView& view, const BlockShape& shape, size_t p0,
                               size_t n, c10::Device device);

// Runs `fn` and turns a c10::Error (libtorch's exception) into IOError.
template <typename Fn>
Status CatchTorch(const char* what, Fn&& fn);

}  // namespace kvstash

#include "store/kv_tensors_inl.h"

#endif  // KVSTASH_STORE_KV_TENSORS_H_
