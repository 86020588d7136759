// Status and Result<T>: how every kvstash module reports errors.
//
// A Status is either OK or carries a code and a message that says exactly
// what failed ("checksum mismatch in block 3fa2...: stored 0x.., computed 0x..").
// No exception crosses a module boundary: code that calls libtorch or RocksDB
// catches/converts at the call site. An unchecked Status is a bug, hence
// [[nodiscard]].
//
// Thread-safety: Status and Result are values; distinct objects may be used
// from distinct threads without synchronization.
#ifndef KVSTASH_SERDE_STATUS_H_
#define KVSTASH_SERDE_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kvstash {

class [[nodiscard]] Status {
 public:
  // Never renumber: codes are sent in error frames of the peer protocol.
  enum class Code : unsigned char {
    kOk = 0,
    kNotFound = 1,
    kCorruption = 2,
    kInvalidArgument = 3,
    kIOError = 4,
    kNotSupported = 5,
    kBusy = 6,               // a resource (the store's lock) is held by someone else
    kAborted = 7,            // the operation was cancelled (shutdown)
    kResourceExhausted = 8,  // a budget or limit (disk full, frame too large)
  };

  Status() = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg);
  }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  static Status NotSupported(std::string_view msg) { return Status(Code::kNotSupported, msg); }
  static Status Busy(std::string_view msg) { return Status(Code::kBusy, msg); }
  static Status Aborted(std::string_view msg) { return Status(Code::kAborted, msg); }
  static Status ResourceExhausted(std::string_view msg) {
    return Status(Code::kResourceExhausted, msg);
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsNotSupported() const { return code_ == Code::kNotSupported; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsAborted() const { return code_ == Code::kAborted; }
  bool IsResourceExhausted() const { return code_ == Code::kResourceExhausted; }

  const std::string& message() const { return message_; }

  // "OK", or "<Code name>: <message>".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

  static const char* CodeName(Code code);

 private:
  Status(Code code, std::string_view msg) : code_(code), message_(msg) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// A value of type T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok() && "Result constructed from an OK status without a value");
    if (status_.ok()) status_ = Status::InvalidArgument("Result built from OK status");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok()
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace kvstash

#define KVSTASH_CONCAT_IMPL(a, b) a##b
#define KVSTASH_CONCAT(a, b) KVSTASH_CONCAT_IMPL(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define KVSTASH_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::kvstash::Status _kvstash_status = (expr);        \
    if (!_kvstash_status.ok()) return _kvstash_status; \
  } while (0)

// `KVSTASH_ASSIGN_OR_RETURN(auto x, ResultExpr())`: binds the value or returns the Status.
#define KVSTASH_ASSIGN_OR_RETURN(lhs, expr) \
  KVSTASH_ASSIGN_OR_RETURN_IMPL(KVSTASH_CONCAT(_kvstash_result_, __LINE__), lhs, expr)
#define KVSTASH_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

#endif  // KVSTASH_SERDE_STATUS_H_
