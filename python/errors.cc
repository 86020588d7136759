#include "python/errors.h"

#include <array>

namespace kvstash::python {

namespace py = pybind11;

namespace {

// Indexed by Status::Code; kOk unused.
std::array<PyObject*, 9> g_errors{};

struct ErrorClass {
  Status::Code code;
  const char* name;
  const char* doc;
};

constexpr ErrorClass kClasses[] = {
    {Status::Code::kNotFound, "NotFoundError", "What was asked for is not stored."},
    {Status::Code::kCorruption, "CorruptionError", "Stored bytes failed a check."},
    {Status::Code::kInvalidArgument, "InvalidArgumentError",
     "A bad argument: shape, dtype, layout, a closed store."},
    {Status::Code::kIOError, "IOError", "The file system or a remote tier failed."},
    {Status::Code::kNotSupported, "NotSupportedError",
     "Not possible here (a read-only store's insert, a newer format)."},
    {Status::Code::kBusy, "BusyError", "Another process holds the store for writing."},
    {Status::Code::kAborted, "AbortedError", "Cancelled (the store is closing)."},
    {Status::Code::kResourceExhausted, "ResourceExhaustedError",
     "A budget or limit was reached (a full disk, out of memory)."},
};

}  // namespace

void RegisterErrors(py::module_& m) {
  PyObject* base = PyErr_NewExceptionWithDoc("kvstash.Error", "Base of every error kvstash raises.",
                                             PyExc_RuntimeError, nullptr);
  m.attr("Error") = py::handle(base);
  for (const ErrorClass& c : kClasses) {
    const std::string qualified = std::string("kvstash.") + c.name;
    PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), c.doc, base, nullptr);
    m.attr(c.name) = py::handle(cls);
    g_errors[static_cast<size_t>(c.code)] = cls;
  }
  g_errors[0] = base;
}

void Raise(const Status& status) {
  const size_t code = static_cast<size_t>(status.code());
  PyObject* cls = code < g_errors.size() && g_errors[code] ? g_errors[code] : g_errors[0];
  PyErr_SetString(cls, status.message().c_str());
  throw py::error_already_set();
}

}  // namespace kvstash::python
