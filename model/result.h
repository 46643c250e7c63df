// Results of model operations: a value or an errno, as a syscall returns.
//
// Every operation of the model answers the way the kernel's syscall does:
// either it succeeds with a value, or it fails with exactly one errno. A
// Result holds one of the two. Reading the value of a failed Result, or the
// errno of a successful one, is a bug in the caller and asserts.
#ifndef OVLSIM_MODEL_RESULT_H_
#define OVLSIM_MODEL_RESULT_H_

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace ovlsim::model {

// A POSIX error number, wrapped so that it cannot be mistaken for a value.
struct Errno {
  int value;
};

// The value of an operation that succeeds with nothing to return.
struct Ok {
  bool operator==(const Ok&) const = default;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Errno err) : state_(err) {              // NOLINT: implicit by design
    assert(err.value > 0 && "an errno is a positive number");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  // REQUIRES: !ok().
  int err() const {
    assert(!ok() && "err() of a successful result");
    return std::get<Errno>(state_).value;
  }

  // REQUIRES: ok().
  const T& value() const& {
    assert(ok() && "value() of a failed result");
    return std::get<T>(state_);
  }
  T& value() & {
    assert(ok() && "value() of a failed result");
    return std::get<T>(state_);
  }
  T&& value() && {
    assert(ok() && "value() of a failed result");
    return std::get<T>(std::move(state_));
  }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Errno> state_;
};

// The result of an operation that returns nothing but success or an errno.
using Status = Result<Ok>;

// Evaluates an expression that yields a Result and returns its errno from
// the enclosing function if it failed.
#define OVL_TRY(expr)                                       \
  do {                                                      \
    auto ovl_try_result_ = (expr);                          \
    if (!ovl_try_result_.ok())                              \
      return ::ovlsim::model::Errno{ovl_try_result_.err()}; \
  } while (0)

// The symbolic name of an errno ("ENOENT"), or "E<number>" for one that the
// C library does not name.
std::string errno_name(int err);

// The errno that a symbolic name stands for, or 0 when the name is unknown.
int errno_from_name(std::string_view name);

}  // namespace ovlsim::model

#endif  // OVLSIM_MODEL_RESULT_H_
