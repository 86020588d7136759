// kvstash.Store: the tiered store (store/store.h) on torch tensors.
#ifndef KVSTASH_PYTHON_STORE_BINDING_H_
#define KVSTASH_PYTHON_STORE_BINDING_H_

#include <pybind11/pybind11.h>

#include "serde/model_id.h"

namespace kvstash::python {

void RegisterStore(pybind11::module_& m);

// A model description as the dict Store.register_model takes.
pybind11::dict DescriptionToDict(const ModelDescription& d);

}  // namespace kvstash::python

#endif  // KVSTASH_PYTHON_STORE_BINDING_H_
