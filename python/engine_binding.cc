#include "python/engine_binding.h"

#include <torch/csrc/utils/pybind.h>

#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/llama_model.h"
#include "engine/model_config.h"
#include "engine/tokenizer.h"
#include "python/arguments.h"
#include "python/errors.h"
#include "python/store_binding.h"
#include "serde/dtype.h"

namespace kvstash::python {

namespace py = pybind11;

namespace {

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

// kvstash.Engine: the engine of `kvstash run` (engine/engine.h) on a model
// directory, with or without a store. Calls release the GIL; one call at a
// time per engine (it owns one KV cache).
class PyEngine {
 public:
  PyEngine(const std::string& model_dir, const py::object& store, const py::object& compute_dtype,
           const py::object& kv_dtype, const std::string& device, int threads,
           uint32_t block_tokens, size_t context, bool insert)
      : store_(store) {
    ModelLoadOptions load;
    load.device = device;
    load.threads = threads;
    load.kv_dtype = DTypeArg(kv_dtype);
    load.compute_dtype = DTypeArg(compute_dtype);
    EngineOptions options;
    options.block_tokens = block_tokens;
    options.context = context;
    options.insert = insert;
    Result<std::unique_ptr<LlamaModel>> model = Status::Aborted("not loaded");
    {
      py::gil_scoped_release no_gil;
      model = LlamaModel::Load(model_dir, load);
    }
    model_ = ValueOr(std::move(model));
    if (auto tokenizer = Tokenizer::FromFile(model_dir + "/tokenizer.json"); tokenizer.ok()) {
      tokenizer_ = std::move(tokenizer).value();
    }
    Run([&](Store* s) -> Status {
      KVSTASH_ASSIGN_OR_RETURN(engine_, Engine::Create(model_.get(), s, options));
      return Status::OK();
    });
  }

  std::string ModelIdHex() const { return engine_->model_id().ToHex(); }

  py::tuple Prefill(const py::object& tokens) {
    const std::vector<int32_t> ids = TokensArg(tokens);
    at::Tensor logits;
    PrefillStats stats;
    Run([&](Store*) -> Status {
      KVSTASH_ASSIGN_OR_RETURN(logits, engine_->Prefill(ids, &stats));
      return Status::OK();
    });
    return py::make_tuple(logits.reshape({-1}), StatsDict(stats));
  }

  py::dict Generate(const py::object& tokens, size_t max_new_tokens, float temperature, int top_k,
                    float top_p, uint64_t seed, int logprobs, bool stop_at_eos) {
    const std::vector<int32_t> ids = TokensArg(tokens);
    GenerateOptions options;
    options.max_new_tokens = max_new_tokens;
    options.sampling.temperature = temperature;
    options.sampling.top_k = top_k;
    options.sampling.top_p = top_p;
    options.sampling.seed = seed;
    options.logprobs = logprobs;
    options.stop_at_eos = stop_at_eos;
    std::optional<Generation> g;
    Run([&](Store*) -> Status {
      KVSTASH_ASSIGN_OR_RETURN(Generation out, engine_->Generate(ids, options));
      g = std::move(out);
      return Status::OK();
    });
    py::dict d = StatsDict(g->prefill);
    d["tokens"] = g->tokens;
    d["ttft_ms"] = g->ttft_ms;
    d["total_ms"] = g->total_ms;
    d["stopped_at_eos"] = g->stopped_at_eos;
    d["prompt_logits"] = g->prompt_logits.reshape({-1});
    py::list lp;
    for (const auto& position : g->logprobs) {
      py::list row;
      for (const TokenLogprob& t : position) {
        py::dict e;
        e["id"] = t.id;
        e["logprob"] = t.logprob;
        row.append(e);
      }
      lp.append(row);
    }
    d["logprobs"] = lp;
    if (tokenizer_) d["text"] = Text(tokenizer_->Decode(g->tokens));
    return d;
  }

  std::vector<int32_t> Tokenize(const std::string& text, bool add_bos) {
    if (!tokenizer_) Raise(Status::NotFound("this model directory has no tokenizer.json"));
    std::vector<int32_t> ids = ValueOr(tokenizer_->Encode(text));
    const auto& bos = model_->config().bos_token_id;
    if (add_bos && bos && (ids.empty() || ids[0] != *bos)) ids.insert(ids.begin(), *bos);
    return ids;
  }

  py::str Decode(const std::vector<int32_t>& ids) {
    if (!tokenizer_) Raise(Status::NotFound("this model directory has no tokenizer.json"));
    return Text(tokenizer_->Decode(ids));
  }

  py::dict Description(uint32_t block_tokens) const {
    return DescriptionToDict(model_->Describe(block_tokens));
  }

 private:
  // Decoded tokens as text: a byte-level tokenizer's tokens may end inside a
  // character, or be invalid UTF-8 (a random model's): replaced with U+FFFD,
  // as `kvstash run --json` does.
  static py::str Text(const std::string& bytes) {
    PyObject* text =
        PyUnicode_DecodeUTF8(bytes.data(), static_cast<Py_ssize_t>(bytes.size()), "replace");
    if (text == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(text);
  }

  static py::dict StatsDict(const PrefillStats& s) {
    py::dict d;
    d["prompt_tokens"] = s.prompt_tokens;
    d["reused_tokens"] = s.reused_tokens;
    py::dict from;
    from["device"] = s.reused_device;
    from["disk"] = s.reused_disk;
    from["remote"] = s.reused_remote;
    d["reused_from"] = from;
    d["computed_tokens"] = s.computed_tokens;
    d["logits_from_store"] = s.logits_reused;
    d["load_ms"] = s.load_ms;
    d["prefill_ms"] = s.prefill_ms;
    return d;
  }

  // `fn` with the store held open (or none), without the GIL, one call at a
  // time (the engine owns one KV cache); raises.
  void Run(const std::function<Status(Store*)>& fn) {
    const auto serialized = [&](Store* s) {
      std::lock_guard<std::mutex> lock(mu_);
      return fn(s);
    };
    if (store_.is_none()) {
      Status s;
      {
        py::gil_scoped_release no_gil;
        s = serialized(nullptr);
      }
      Check(s);
    } else {
      WithStore(store_, serialized);
    }
  }

  std::mutex mu_;     // one call at a time
  py::object store_;  // the kvstash.Store (kept alive), or None
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace

void RegisterEngine(py::module_& m) {
  py::class_<PyEngine>(m, "Engine", R"(The engine of `kvstash run`: a Llama/Qwen2 model directory
(config.json, safetensors, tokenizer.json) on libtorch, reusing and filling
`store` (a kvstash.Store, or None). compute_dtype/kv_dtype: "f32", "bf16"...
(default: auto, as `kvstash run`). Calls from several threads take turns (the
engine owns one KV cache).)")
      .def(py::init<const std::string&, const py::object&, const py::object&, const py::object&,
                    const std::string&, int, uint32_t, size_t, bool>(),
           py::arg("model_dir"), py::arg("store") = py::none(),
           py::arg("compute_dtype") = py::none(), py::arg("kv_dtype") = py::none(),
           py::arg("device") = "cpu", py::arg("threads") = 0,
           py::arg("block_tokens") = kDefaultBlockTokens, py::arg("context") = 4096,
           py::arg("insert") = true)
      .def_property_readonly("model_id", &PyEngine::ModelIdHex)
      .def("description", &PyEngine::Description, py::arg("block_tokens") = kDefaultBlockTokens)
      .def("prefill", &PyEngine::Prefill, py::arg("tokens"),
           "Fills the cache for tokens (reusing the store); returns (next-token logits, stats).")
      .def("generate", &PyEngine::Generate, py::arg("tokens"), py::arg("max_new_tokens") = 32,
           py::arg("temperature") = 0.0f, py::arg("top_k") = 0, py::arg("top_p") = 1.0f,
           py::arg("seed") = 0, py::arg("logprobs") = 0, py::arg("stop_at_eos") = true,
           "Generates after tokens; returns a dict like `kvstash run --json`.")
      .def("tokenize", &PyEngine::Tokenize, py::arg("text"), py::arg("add_bos") = false)
      .def("decode", &PyEngine::Decode, py::arg("tokens"));

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
