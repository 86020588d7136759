#include "store/kv_tensors.h"

#include <ATen/ATen.h>

#include <cstring>
#include <string>

namespace kvstash {

namespace {

// The [kv_heads, capacity, head_dim] view of a per-layer cache tensor.
at::Tensor Rows(const at::Tensor& t) { return t.dim() == 4 ? t.select(0, 0) : t; }

std::string Dims(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

bool IsCpu(const KvCacheView& view) { return view.keys.empty() || view.keys[0].is_cpu(); }

}  // namespace

Result<c10::ScalarType> ToScalarType(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return c10::ScalarType::Float;
    case DType::kF16:
      return c10::ScalarType::Half;
    case DType::kBF16:
      return c10::ScalarType::BFloat16;
  }
  return Status::InvalidArgument("unknown dtype");
}

Status ValidateKvView(const KvCacheView& view, const BlockShape& shape, size_t min_capacity) {
  if (view.keys.size() != shape.layers || view.values.size() != shape.layers) {
    return Status::InvalidArgument("KV view has " + std::to_string(view.keys.size()) + " K and " +
                                   std::to_string(view.values.size()) +
                                   " V layers, the model has " + std::to_string(shape.layers));
  }
  KVSTASH_ASSIGN_OR_RETURN(c10::ScalarType type, ToScalarType(shape.dtype));
  const c10::Device device = view.keys[0].defined() ? view.keys[0].device() : c10::Device("cpu");
  for (uint32_t l = 0; l < shape.layers; ++l) {
    for (int kv = 0; kv < 2; ++kv) {
      const at::Tensor& t = kv == 0 ? view.keys[l] : view.values[l];
      const std::string what = std::string(kv == 0 ? "K" : "V") + " of layer " + std::to_string(l);
      if (!t.defined()) return Status::InvalidArgument(what + " is undefined");
      if (!(t.dim() == 3 || (t.dim() == 4 && t.size(0) == 1))) {
        return Status::InvalidArgument(what + " has shape " + Dims(t) +
                                       ", expected [kv_heads, capacity, head_dim]");
      }
      at::Tensor r = Rows(t);
      if (r.size(0) != shape.kv_heads || r.size(2) != shape.head_dim) {
        return Status::InvalidArgument(
            "mismatched " + what + " shape " + Dims(t) + " (kv_heads x head_dim " +
            std::to_string(r.size(0)) + "x" + std::to_string(r.size(2)) +
            " != " + std::to_string(shape.kv_heads) + "x" + std::to_string(shape.head_dim) + ")");
      }
      if (r.size(1) < static_cast<int64_t>(min_capacity)) {
        return Status::InvalidArgument(what + " holds " + std::to_string(r.size(1)) +
                                       " positions, " + std::to_string(min_capacity) + " needed");
      }
      if (t.scalar_type() != type) {
        return Status::InvalidArgument(what + " is " + c10::toString(t.scalar_type()) +
                                       ", the model's KV dtype is " + DTypeName(shape.dtype));
      }
      if (t.device() != device) {
        return Status::InvalidArgument(what + " is on " + t.device().str() + ", layer 0 K on " +
                                       device.str());
      }
      if (r.stride(2) != 1 || r.stride(1) != shape.head_dim) {
        return Status::InvalidArgument(what +
                                       " must have contiguous rows (strides [*, head_dim, 1])");
      }
    }
  }
  return Status::OK();
}

Result<KvCacheView> AllocateKvView(const BlockShape& shape, size_t capacity, c10::Device device) {
  KVSTASH_ASSIGN_OR_RETURN(c10::ScalarType type, ToScalarType(shape.dtype));
  KvCacheView view;
  Status s = CatchTorch("allocate KV view", [&] {
    auto options = at::TensorOptions().dtype(type).device(device);
    const int64_t dims[] = {shape.kv_heads, static_cast<int64_t>(capacity), shape.head_dim};
    for (uint32_t l = 0; l < shape.layers; ++l) {
      view.keys.push_back(at::zeros(dims, options));
      view.values.push_back(at::zeros(dims, options));
    }
    return Status::OK();
  });
  KVSTASH_RETURN_IF_ERROR(s);
  return view;
}

ScatterMap ViewScatterMap(const KvCacheView& view, const BlockShape& shape, size_t block_tokens,
                          size_t p0, size_t m) {
  const size_t elem = DTypeSize(shape.dtype);
  const uint64_t row_bytes = shape.RowBytes(block_tokens);
  ScatterMap map;
  map.reserve(size_t{shape.layers} * 2 * shape.kv_heads);
  uint64_t raw_offset = 0;
  for (uint32_t l = 0; l < shape.layers; ++l) {
    for (int kv = 0; kv < 2; ++kv) {
      at::Tensor r = Rows(kv == 0 ? view.keys[l] : view.values[l]);
      char* base = static_cast<char*>(r.data_ptr());
      for (uint32_t h = 0; h < shape.kv_heads; ++h) {
        char* dst = base + (h * r.stride(0) + p0 * r.stride(1)) * elem;
        map.push_back(ScatterRange{raw_offset, dst, shape.RowBytes(m)});
        raw_offset += row_bytes;
      }
    }
  }
  return map;
}

Status CopyBlockToView(const at::Tensor& block, const BlockShape& shape, size_t p0, size_t m,
                       const KvCacheView& view) {
  return CatchTorch("copy block into KV view", [&] {
    const size_t block_tokens = static_cast<size_t>(block.size(3));
    if (block.is_cpu() && IsCpu(view) && block.is_contiguous()) {
      // Plain memcpy per row: thousands of tiny copy_ calls would cost more
      // in dispatch than in bytes.
      const char* src = static_cast<const char*>(block.data_ptr());
      for (const ScatterRange& r : ViewScatterMap(view, shape, block_tokens, p0, m)) {
        std::memcpy(r.dst, src + r.raw_offset, r.size);
      }
      return Status::OK();
    }
    const int64_t pos = static_cast<int64_t>(p0), len = static_cast<int64_t>(m);
    for (uint32_t l = 0; l < shape.layers; ++l) {
      Rows(view.keys[l]).narrow(1, pos, len).copy_(block[l][0].narrow(1, 0, len), true);
      Rows(view.values[l]).narrow(1, pos, len).copy_(block[l][1].narrow(1, 0, len), true);
    }
    return Status::OK();
  });
}

Result<at::Tensor> GatherBlock(const KvCacheView& view, const BlockShape& shape, size_t p0,
                               size_t n, c10::Device device) {
  KVSTASH_ASSIGN_OR_RETURN(c10::ScalarType type, ToScalarType(shape.dtype));
  at::Tensor out;
  Status s = CatchTorch("gather block from KV view", [&] {
    const int64_t dims[] = {shape.layers, 2, shape.kv_heads, static_cast<int64_t>(n),
                            shape.head_dim};
    out = at::empty(dims, at::TensorOptions().dtype(type).device(device));
    if (out.is_cpu() && IsCpu(view)) {
      char* dst = static_cast<char*>(out.data_ptr());
      for (const ScatterRange& r : ViewScatterMap(view, shape, n, p0, n)) {
        std::memcpy(dst + r.raw_offset, r.dst, r.size);
      }
      return Status::OK();
    }
    const int64_t pos = static_cast<int64_t>(p0), len = static_cast<int64_t>(n);
    for (uint32_t l = 0; l < shape.layers; ++l) {
      out[l][0].copy_(Rows(view.keys[l]).narrow(1, pos, len));
      out[l][1].copy_(Rows(view.values[l]).narrow(1, pos, len));
    }
    return Status::OK();
  });
  KVSTASH_RETURN_IF_ERROR(s);
  return out;
}

}  // namespace kvstash
