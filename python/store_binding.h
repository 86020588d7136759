// kvstash.Store: the tiered store (store/store.h) on torch tensors.
#ifndef KVSTASH_PYTHON_STORE_BINDING_H_
#define KVSTASH_PYTHON_STORE_BINDING_H_

#include <pybind11/pybind11.h>

#include <functional>

#include "serde/model_id.h"
#include "serde/status.h"

namespace kvstash {
class Store;
}  // namespace kvstash

namespace kvstash::python {

void RegisterStore(pybind11::module_& m);

// Runs `fn` on the store of `store` (a kvstash.Store) without the GIL, the
// store held open meanwhile; raises InvalidArgumentError if it is closed, or
// the error `fn` returns. REQUIRES: the GIL held.
void WithStore(const pybind11::handle& store, const std::function<Status(Store*)>& fn);

// A model description as the dict Store.register_model takes.
pybind11::dict DescriptionToDict(const ModelDescription& d);

}  // namespace kvstash::python

#endif  // KVSTASH_PYTHON_STORE_BINDING_H_
