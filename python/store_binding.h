// kvstash.Store: the tiered store (store/store.h) on torch tensors.
#ifndef KVSTASH_PYTHON_STORE_BINDING_H_
#define KVSTASH_PYTHON_STORE_BINDING_H_

#include <pybind11/pybind11.h>

namespace kvstash::python {

void RegisterStore(pybind11::module_& m);

}  // namespace kvstash::python

#endif  // KVSTASH_PYTHON_STORE_BINDING_H_
