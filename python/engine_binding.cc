#include "python/engine_binding.h"

#include <torch/csrc/utils/pybind.h>

#include <optional>
#include <string>

#include "engine/llama_model.h"
#include "engine/model_config.h"
#include "python/errors.h"
#include "python/store_binding.h"
#include "serde/dtype.h"

namespace kvstash::python {

namespace py = pybind11;

namespace {

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

py::dict ModelDescriptionFromHf(const std::string& dir, uint32_t block_tokens,
                                const py::object& kv_dtype, const py::object& compute_dtype) {
  ModelLoadOptions options;
  options.device = "cpu";
  options.threads = 1;
  options.kv_dtype = DTypeArg(kv_dtype);
  options.compute_dtype = DTypeArg(compute_dtype);
  Result<std::unique_ptr<LlamaModel>> model = Status::Aborted("not loaded");
  {
    py::gil_scoped_release no_gil;
    if (!options.compute_dtype) {
      // The compute dtype is part of the identity only where it differs
      // from the KV's; a Python model computing in the KV dtype (the usual
      // case) says so here, without the engine's probe.
      if (options.kv_dtype) {
        options.compute_dtype = options.kv_dtype;
      } else if (auto config = ModelConfig::FromFile(dir + "/config.json"); config.ok()) {
        options.compute_dtype = config->dtype;
      }
    }
    model = LlamaModel::Load(dir, options);
  }
  const std::unique_ptr<LlamaModel> loaded = ValueOr(std::move(model));
  return DescriptionToDict(loaded->Describe(block_tokens));
}

}  // namespace

void RegisterEngine(py::module_& m) {
  m.def("model_description_from_hf", &ModelDescriptionFromHf, py::arg("model_dir"),
        py::arg("block_tokens") = kDefaultBlockTokens, py::arg("kv_dtype") = py::none(),
        py::arg("compute_dtype") = py::none(),
        R"(The description of a Hugging Face model directory (config.json,
safetensors weights, tokenizer.json), weights digest included, as
`kvstash run` builds it: register it with Store.register_model and Python and
C++ processes share blocks. kv_dtype: the cache's dtype (default: the
checkpoint's). compute_dtype: the dtype the model computes in (default: the
KV dtype; it is part of the identity only where it differs from it).)");
}

}  // namespace kvstash::python
