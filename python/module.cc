// The `kvstash._kvstash` extension: errors and the Store. kvstash/__init__.py
// re-exports it.
#include <torch/csrc/utils/pybind.h>

#include "python/engine_binding.h"
#include "python/errors.h"
#include "python/store_binding.h"

PYBIND11_MODULE(_kvstash, m) {
  m.doc() = "kvstash: a persistent prompt (KV) cache for PyTorch inference.";
  kvstash::python::RegisterErrors(m);
  kvstash::python::RegisterStore(m);
  kvstash::python::RegisterEngine(m);
}
