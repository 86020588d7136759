// kvstash.model_description_from_hf: a Hugging Face model directory's
// description, built by the engine's own code, so that Python and C++
// processes share one store.
#ifndef KVSTASH_PYTHON_ENGINE_BINDING_H_
#define KVSTASH_PYTHON_ENGINE_BINDING_H_

#include <pybind11/pybind11.h>

namespace kvstash::python {

void RegisterEngine(pybind11::module_& m);

}  // namespace kvstash::python

#endif  // KVSTASH_PYTHON_ENGINE_BINDING_H_
