// kvstash.Store. Every call that touches the store releases the GIL; a store
// may be used from several Python threads at once. close() waits for calls
// in flight; a call after it raises InvalidArgumentError.
#include "python/store_binding.h"

#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/utils/pybind.h>

#include <limits>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "python/arguments.h"
#include "python/errors.h"
#include "serde/dtype.h"
#include "store/kv_tensors.h"
#include "store/store.h"

namespace kvstash::python {

namespace py = pybind11;

namespace {

// The description dict's keys: the fields of ModelDescription, named as in
// its canonical text (docs/format.md section 3), with `extra` a nested dict.
constexpr std::pair<const char*, uint32_t ModelDescription::*> kU32Fields[] = {
    {"num_layers", &ModelDescription::num_layers},
    {"hidden_size", &ModelDescription::hidden_size},
    {"num_heads", &ModelDescription::num_heads},
    {"num_kv_heads", &ModelDescription::num_kv_heads},
    {"head_dim", &ModelDescription::head_dim},
    {"vocab_size", &ModelDescription::vocab_size},
    {"block_tokens", &ModelDescription::block_tokens},
};
constexpr std::pair<const char*, std::string ModelDescription::*> kTextFields[] = {
    {"architecture", &ModelDescription::architecture},
    {"rope_scaling", &ModelDescription::rope_scaling},
    {"kv_layout", &ModelDescription::kv_layout},
    {"tokenizer_digest", &ModelDescription::tokenizer_digest},
    {"weights_digest", &ModelDescription::weights_digest},
    {"tag", &ModelDescription::tag},
};

// Fields the dict leaves out keep ModelDescription's defaults.
ModelDescription DescriptionFromDict(const py::dict& d) {
  ModelDescription out;
  for (const auto& [key_obj, value] : d) {
    const std::string key = py::cast<std::string>(key_obj);
    bool known = false;
    for (const auto& [name, field] : kU32Fields) {
      if (key != name) continue;
      const long long v = py::cast<long long>(value);
      if (v < 0 || v > std::numeric_limits<uint32_t>::max()) {
        Raise(Status::InvalidArgument("model description: " + key + " = " + std::to_string(v) +
                                      " is out of range"));
      }
      out.*field = static_cast<uint32_t>(v);
      known = true;
    }
    for (const auto& [name, field] : kTextFields) {
      if (key != name) continue;
      out.*field = py::cast<std::string>(value);
      known = true;
    }
    if (known) continue;
    if (key == "rope_theta") {
      out.rope_theta = py::cast<double>(value);
    } else if (key == "kv_dtype") {
      const std::optional<DType> dtype = DTypeArg(py::reinterpret_borrow<py::object>(value));
      if (!dtype) Raise(Status::InvalidArgument("model description: kv_dtype is None"));
      out.kv_dtype = *dtype;
    } else if (key == "extra") {
      out.extra = py::cast<std::map<std::string, std::string>>(value);
    } else {
      Raise(Status::InvalidArgument("model description: unknown key '" + key + "'"));
    }
  }
  return out;
}

// One layer's key or value: Hugging Face's [1, kv_heads, seq, head_dim] (the
// batch dimension dropped: a view, no copy) or kvstash's
// [kv_heads, capacity, head_dim].
at::Tensor LayerTensor(const py::handle& obj, size_t layer, const char* which) {
  if (!THPVariable_Check(obj.ptr())) {
    Raise(Status::InvalidArgument("kv[" + std::to_string(layer) + "] " + which +
                                  ": not a torch.Tensor"));
  }
  at::Tensor t = THPVariable_Unpack(obj.ptr());
  if (t.dim() == 4 && t.size(0) == 1) return t.select(0, 0);
  if (t.dim() == 3) return t;
  std::string shape = "[";
  for (int64_t d = 0; d < t.dim(); ++d) shape += (d ? ", " : "") + std::to_string(t.size(d));
  Raise(Status::InvalidArgument(
      "kv[" + std::to_string(layer) + "] " + which + ": shape " + shape +
      "]; expected [1, kv_heads, seq, head_dim] (transformers) or [kv_heads, capacity, "
      "head_dim]"));
}

// `kv`: one (key, value) pair per layer.
KvCacheView ViewFrom(const py::handle& kv) {
  KvCacheView view;
  if (!py::isinstance<py::sequence>(kv) || py::isinstance<py::str>(kv)) {
    Raise(Status::InvalidArgument("kv: expected a sequence of (key, value) pairs, one per layer"));
  }
  const py::sequence layers = py::reinterpret_borrow<py::sequence>(kv);
  for (size_t l = 0; l < layers.size(); ++l) {
    const py::object pair = layers[l];
    if (!py::isinstance<py::sequence>(pair) || py::len(pair) != 2) {
      Raise(Status::InvalidArgument("kv[" + std::to_string(l) + "]: expected a (key, value) pair"));
    }
    const py::sequence kv_pair = py::reinterpret_borrow<py::sequence>(pair);
    view.keys.push_back(LayerTensor(kv_pair[0], l, "key"));
    view.values.push_back(LayerTensor(kv_pair[1], l, "value"));
  }
  return view;
}

class PyStore {
 public:
  PyStore(const py::object& path, const std::string& device, const py::object& device_budget_bytes,
          bool read_only, const py::object& remote, const py::object& remote_token) {
    StoreOptions options;
    options.path = path.is_none() ? "" : py::cast<std::string>(py::str(path));
    options.device = device;
    if (!device_budget_bytes.is_none()) {
      options.device_budget_bytes = py::cast<uint64_t>(device_budget_bytes);
    }
    options.read_only = read_only;
    if (!remote.is_none()) options.remote = py::cast<std::string>(remote);
    if (!remote_token.is_none()) options.remote_token = py::cast<std::string>(remote_token);
    Result<std::unique_ptr<Store>> opened = Status::Aborted("not opened");
    {
      py::gil_scoped_release no_gil;
      opened = Store::Open(options);
    }
    store_ = ValueOr(std::move(opened));
  }

  std::string RegisterModel(const py::dict& description) {
    const ModelDescription d = DescriptionFromDict(description);
    return Call([&](Store& s) { return s.RegisterModel(d); }).ToHex();
  }

  py::dict GetModel(const std::string& model) {
    const ModelId id = ParseModel(model);
    return DescriptionToDict(Call([&](Store& s) { return s.GetModel(id); }));
  }

  size_t Match(const std::string& model, const py::object& tokens) {
    const ModelId id = ParseModel(model);
    const std::vector<int32_t> t = TokensArg(tokens);
    return Call([&](Store& s) { return s.Match(id, t); }).tokens;
  }

  LoadResult Load(const std::string& model, const py::object& tokens, const py::object& kv) {
    const ModelId id = ParseModel(model);
    const std::vector<int32_t> t = TokensArg(tokens);
    const KvCacheView view = ViewFrom(kv);
    return Call([&](Store& s) { return s.Load(id, t, view); });
  }

  InsertResult Insert(const std::string& model, const py::object& tokens, const py::object& kv) {
    const ModelId id = ParseModel(model);
    const std::vector<int32_t> t = TokensArg(tokens);
    const KvCacheView view = ViewFrom(kv);
    return Call([&](Store& s) { return s.Insert(id, t, view); });
  }

  void Flush() {
    Call([&](Store& s) -> Result<bool> {
      KVSTASH_RETURN_IF_ERROR(s.Flush());
      return true;
    });
  }

  void Pin(const std::string& name, const std::string& model, const py::object& tokens) {
    const ModelId id = ParseModel(model);
    const std::vector<int32_t> t = TokensArg(tokens);
    Call([&](Store& s) -> Result<bool> {
      KVSTASH_RETURN_IF_ERROR(s.Pin(name, id, t));
      return true;
    });
  }

  void Unpin(const std::string& name) {
    Call([&](Store& s) -> Result<bool> {
      KVSTASH_RETURN_IF_ERROR(s.Unpin(name));
      return true;
    });
  }

  py::dict Stats() {
    const StoreStats st = Call([](Store& s) -> Result<StoreStats> { return s.Stats(); });
    py::dict d;
#define KVSTASH_STAT(field) d[#field] = st.field
    KVSTASH_STAT(hit_tokens_device);
    KVSTASH_STAT(hit_tokens_disk);
    KVSTASH_STAT(hit_tokens_remote);
    KVSTASH_STAT(miss_tokens);
    KVSTASH_STAT(blocks_inserted);
    KVSTASH_STAT(blocks_already_present);
    KVSTASH_STAT(hash_collisions);
    KVSTASH_STAT(corrupt_blocks);
    KVSTASH_STAT(promotions);
    KVSTASH_STAT(device_blocks);
    KVSTASH_STAT(device_bytes);
    KVSTASH_STAT(device_budget_bytes);
    KVSTASH_STAT(disk_blocks_written);
    KVSTASH_STAT(disk_bytes_written);
    KVSTASH_STAT(disk_write_errors);
    KVSTASH_STAT(failed_write_blocks);
    KVSTASH_STAT(disk_blocks_dropped);
    KVSTASH_STAT(pending_write_bytes);
    KVSTASH_STAT(loads);
    KVSTASH_STAT(remote_puts);
    KVSTASH_STAT(remote_put_errors);
#undef KVSTASH_STAT
    return d;
  }

  // Waits for calls in flight, then flushes and closes. Idempotent.
  void Close() {
    Status s;
    {
      py::gil_scoped_release no_gil;
      std::unique_lock lock(mu_);
      if (store_) {
        s = store_->Close();
        store_.reset();
      }
    }
    Check(s);
  }

  bool closed() {
    std::shared_lock lock(mu_);
    return store_ == nullptr;
  }

  // For WithStore: `fn` on the open store. REQUIRES: the GIL released.
  Status Use(const std::function<Status(Store*)>& fn) {
    std::shared_lock lock(mu_);
    if (!store_) return Status::InvalidArgument("the store is closed");
    return fn(store_.get());
  }

 private:
  static ModelId ParseModel(const std::string& model) {
    auto id = Hash128::FromHex(model);
    if (!id.ok()) {
      Raise(Status::InvalidArgument("model '" + model +
                                    "' is not a model id (32 hex digits from register_model)"));
    }
    return *id;
  }

  // Runs `fn` on the open store without the GIL; raises its error.
  template <typename T>
  struct ResultValue;
  template <typename T>
  struct ResultValue<Result<T>> {
    using type = T;
  };

  template <typename Fn>
  auto Call(Fn&& fn) -> typename ResultValue<decltype(fn(std::declval<Store&>()))>::type {
    using R = decltype(fn(std::declval<Store&>()));
    R result = Status::Aborted("not run");
    bool open = true;
    {
      py::gil_scoped_release no_gil;
      std::shared_lock lock(mu_);
      if (store_) {
        result = fn(*store_);
      } else {
        open = false;
      }
    }
    if (!open) Raise(Status::InvalidArgument("the store is closed"));
    return ValueOr(std::move(result));
  }

  std::shared_mutex mu_;  // shared: calls; exclusive: close
  std::unique_ptr<Store> store_;
};

}  // namespace

void WithStore(const py::handle& store, const std::function<Status(Store*)>& fn) {
  PyStore* s = nullptr;
  try {
    s = &py::cast<PyStore&>(store);
  } catch (const py::cast_error&) {
    Raise(Status::InvalidArgument("store: expected a kvstash.Store"));
  }
  Status result;
  {
    py::gil_scoped_release no_gil;
    result = s->Use(fn);
  }
  Check(result);
}

py::dict DescriptionToDict(const ModelDescription& d) {
  py::dict out;
  for (const auto& [name, field] : kU32Fields) out[name] = d.*field;
  for (const auto& [name, field] : kTextFields) out[name] = d.*field;
  out["rope_theta"] = d.rope_theta;
  out["kv_dtype"] = DTypeName(d.kv_dtype);
  out["extra"] = d.extra;
  return out;
}

void RegisterStore(py::module_& m) {
  py::class_<LoadResult>(m, "LoadResult", "What Store.load put into the KV cache.")
      .def_readonly("tokens", &LoadResult::tokens,
                    "Positions [0, tokens) of the cache now hold stored K/V.")
      .def_readonly("device_tokens", &LoadResult::device_tokens)
      .def_readonly("disk_tokens", &LoadResult::disk_tokens)
      .def_readonly("remote_tokens", &LoadResult::remote_tokens)
      .def_readonly("corrupt_blocks", &LoadResult::corrupt_blocks,
                    "Blocks found corrupt (dropped; the prefix ends before them).")
      .def("__repr__", [](const LoadResult& r) {
        return "LoadResult(tokens=" + std::to_string(r.tokens) +
               ", device_tokens=" + std::to_string(r.device_tokens) +
               ", disk_tokens=" + std::to_string(r.disk_tokens) +
               ", remote_tokens=" + std::to_string(r.remote_tokens) +
               ", corrupt_blocks=" + std::to_string(r.corrupt_blocks) + ")";
      });
  py::class_<InsertResult>(m, "InsertResult", "What Store.insert stored.")
      .def_readonly("blocks_added", &InsertResult::blocks_added)
      .def_readonly("blocks_present", &InsertResult::blocks_present)
      .def_readonly("tokens_stored", &InsertResult::tokens_stored,
                    "Leading tokens of the sequence now cached.")
      .def("__repr__", [](const InsertResult& r) {
        return "InsertResult(blocks_added=" + std::to_string(r.blocks_added) +
               ", blocks_present=" + std::to_string(r.blocks_present) +
               ", tokens_stored=" + std::to_string(r.tokens_stored) + ")";
      });
  py::class_<PyStore>(m, "Store",
                      R"(A persistent KV cache: device memory, then disk, then a remote tier.

path: the store directory (None: device memory only). device: "auto",
"cpu" or "cuda[:N]" for the memory tier. device_budget_bytes: that tier's
size (None: 1 GiB). read_only: reuse what is stored, store nothing.
remote: "HOST:PORT" of a `kvstash serve` peer or "redis://HOST:PORT,..." of
a Redis Cluster; remote_token: its token or password.

kv arguments are one (key, value) pair per layer, each tensor either
transformers' [1, kv_heads, seq, head_dim] or kvstash's
[kv_heads, capacity, head_dim], of the model's kv dtype, on one device, rows
contiguous (no copies are made).)")
      .def(py::init<const py::object&, const std::string&, const py::object&, bool,
                    const py::object&, const py::object&>(),
           py::arg("path") = py::none(), py::arg("device") = "auto",
           py::arg("device_budget_bytes") = py::none(), py::arg("read_only") = false,
           py::arg("remote") = py::none(), py::arg("remote_token") = py::none())
      .def("register_model", &PyStore::RegisterModel, py::arg("description"),
           "Registers a model description (dict) and returns its model id (hex).")
      .def("get_model", &PyStore::GetModel, py::arg("model"),
           "The description registered under a model id.")
      .def("match", &PyStore::Match, py::arg("model"), py::arg("tokens"),
           "How many leading tokens are stored (nothing is read).")
      .def("load", &PyStore::Load, py::arg("model"), py::arg("tokens"), py::arg("kv"),
           "Loads the longest stored prefix of tokens into kv.")
      .def("insert", &PyStore::Insert, py::arg("model"), py::arg("tokens"), py::arg("kv"),
           "Stores kv's K/V for positions [0, len(tokens)).")
      .def("flush", &PyStore::Flush, "Waits until what was inserted is on disk (and remote).")
      .def("pin", &PyStore::Pin, py::arg("name"), py::arg("model"), py::arg("tokens"),
           "Names a stored prefix so gc keeps it.")
      .def("unpin", &PyStore::Unpin, py::arg("name"))
      .def("stats", &PyStore::Stats, "Counters since open (dict).")
      .def("close", &PyStore::Close, "Flushes and closes; later calls raise.")
      .def_property_readonly("closed", &PyStore::closed)
      .def(
          "__enter__", [](PyStore& s) -> PyStore& { return s; }, py::return_value_policy::reference)
      .def("__exit__", [](PyStore& s, const py::object&, const py::object&, const py::object&) {
        s.Close();
        return false;
      });
}

}  // namespace kvstash::python
