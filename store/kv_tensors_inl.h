// Template definitions for kv_tensors.h.
#ifndef KVSTASH_STORE_KV_TENSORS_INL_H_
#define KVSTASH_STORE_KV_TENSORS_INL_H_

#include <c10/util/Exception.h>

#include <exception>
#include <string>

namespace kvstash {

template <typename Fn>
Status CatchTorch(const char* what, Fn&& fn) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    return Status::IOError(std::string(what) + ": libtorch: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Status::IOError(std::string(what) + ": " + e.what());
  }
}

}  // namespace kvstash

#endif  // KVSTASH_STORE_KV_TENSORS_INL_H_
