// Template definitions for kv_tensors.h.
#ifndef KVSTASH_STORE_KV_TENSORS_INL_H_
#define KVSTASH_STORE_KV_TENSORS_INL_H_

#include <c10/util/Exception.h>

#include <exception>
#include <new>
#include <string>

namespace kvstash {

template <typename Fn>
Status CatchTorch(const char* what, Fn&& fn) {
  try {
    return fn();
  } catch (const c10::OutOfMemoryError& e) {  // a device allocator
    return Status::ResourceExhausted(std::string(what) +
                                     ": libtorch: " + e.what_without_backtrace());
  } catch (const c10::Error& e) {
    // The CPU allocator reports failure as a plain c10::Error ("can't allocate
    // memory" in 1.13, "not enough memory" in 2.x). Out of memory is not a
    // storage error: a read-only Load turns IOError into a miss, which must
    // not hide it.
    const std::string message = e.what_without_backtrace();
    if (message.find("can't allocate memory") != std::string::npos ||
        message.find("not enough memory") != std::string::npos) {
      return Status::ResourceExhausted(std::string(what) + ": libtorch: " + message);
    }
    return Status::IOError(std::string(what) + ": libtorch: " + message);
  } catch (const std::bad_alloc& e) {
    return Status::ResourceExhausted(std::string(what) + ": out of memory (" + e.what() + ")");
  } catch (const std::exception& e) {
    return Status::IOError(std::string(what) + ": " + e.what());
  }
}

}  // namespace kvstash

#endif  // KVSTASH_STORE_KV_TENSORS_INL_H_
