// Python arguments shared by the bindings, converted or raised as
// InvalidArgumentError.
#ifndef KVSTASH_PYTHON_ARGUMENTS_H_
#define KVSTASH_PYTHON_ARGUMENTS_H_

#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "serde/dtype.h"

namespace kvstash::python {

// A token sequence: a list of ints or a 1-D integer tensor.
std::vector<int32_t> TokensArg(const pybind11::handle& obj);

// A dtype: "f32", "bf16", "f16" or a torch.dtype (torch.bfloat16); None:
// nullopt.
std::optional<DType> DTypeArg(const pybind11::object& o);

}  // namespace kvstash::python

#endif  // KVSTASH_PYTHON_ARGUMENTS_H_
