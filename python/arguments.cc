#include "python/arguments.h"

#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/utils/pybind.h>

#include <limits>
#include <string>

#include "python/errors.h"

namespace kvstash::python {

namespace py = pybind11;

std::vector<int32_t> TokensArg(const py::handle& obj) {
  std::vector<int64_t> wide;
  if (THPVariable_Check(obj.ptr())) {
    at::Tensor t = THPVariable_Unpack(obj.ptr());
    if (t.dim() != 1 || !at::isIntegralType(t.scalar_type(), /*includeBool=*/false)) {
      Raise(Status::InvalidArgument("tokens: expected a 1-D integer tensor, got " +
                                    std::string(t.toString()) + " of " + std::to_string(t.dim()) +
                                    " dimensions"));
    }
    at::Tensor cpu = t.to(at::kCPU, at::kLong).contiguous();
    wide.assign(cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel());
  } else {
    try {
      wide = py::cast<std::vector<int64_t>>(obj);
    } catch (const py::cast_error&) {
      Raise(Status::InvalidArgument("tokens: expected a list of ints or a 1-D integer tensor"));
    }
  }
  std::vector<int32_t> out(wide.size());
  for (size_t i = 0; i < wide.size(); ++i) {
    if (wide[i] < 0 || wide[i] > std::numeric_limits<int32_t>::max()) {
      Raise(Status::InvalidArgument("tokens[" + std::to_string(i) +
                                    "] = " + std::to_string(wide[i]) + " is not a token id"));
    }
    out[i] = static_cast<int32_t>(wide[i]);
  }
  return out;
}

std::optional<DType> DTypeArg(const py::object& o) {
  if (o.is_none()) return std::nullopt;
  std::string name = py::cast<std::string>(py::str(o));
  if (name.rfind("torch.", 0) == 0) {  // torch.bfloat16 -> bf16
    name = name.substr(6);
    if (name == "float32" || name == "float") name = "f32";
    if (name == "bfloat16") name = "bf16";
    if (name == "float16" || name == "half") name = "f16";
  }
  return ValueOr(ParseDType(name));
}

}  // namespace kvstash::python
