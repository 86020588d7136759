// kvstash.Error and its subclasses, one per Status code, with the Status's
// message: the C++ errors as Python exceptions.
#ifndef KVSTASH_PYTHON_ERRORS_H_
#define KVSTASH_PYTHON_ERRORS_H_

#include <pybind11/pybind11.h>

#include "serde/status.h"

namespace kvstash::python {

// Creates the exception classes in `m`.
void RegisterErrors(pybind11::module_& m);

// Raises (throws pybind11::error_already_set for) `status`'s exception.
// REQUIRES: !status.ok(), the GIL held.
[[noreturn]] void Raise(const Status& status);

// The value, or raises.
template <typename T>
T ValueOr(Result<T> result) {
  if (!result.ok()) Raise(result.status());
  return std::move(result).value();
}
inline void Check(const Status& status) {
  if (!status.ok()) Raise(status);
}

}  // namespace kvstash::python

#endif  // KVSTASH_PYTHON_ERRORS_H_
