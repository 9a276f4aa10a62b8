// Errors raised by the core. Each kind maps to one Python exception type (csrc/python/errors.cpp),
// so bad input surfaces as TypeError/ValueError/IndexError/RuntimeError naming the problem.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace vt {

struct Error : std::runtime_error {             // -> RuntimeError
  using std::runtime_error::runtime_error;
};
struct TypeError : Error { using Error::Error; };            // -> TypeError
struct ValueError : Error { using Error::Error; };           // -> ValueError
struct IndexError : Error { using Error::Error; };           // -> IndexError
struct NotImplementedError : Error { using Error::Error; };  // -> NotImplementedError
struct OutOfMemoryError : Error { using Error::Error; };     // -> vibetensor.OutOfMemoryError

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace vt

// VT_CHECK(cond, ErrorKind, message parts...): the message is only built when the check fails.
#define VT_CHECK_T(cond, Kind, ...)                             \
  do {                                                          \
    if (__builtin_expect(!(cond), 0))                           \
      throw ::vt::Kind(::vt::detail::concat(__VA_ARGS__));      \
  } while (0)
#define VT_CHECK(cond, ...) VT_CHECK_T(cond, Error, __VA_ARGS__)
#define VT_CHECK_VALUE(cond, ...) VT_CHECK_T(cond, ValueError, __VA_ARGS__)
#define VT_CHECK_TYPE(cond, ...) VT_CHECK_T(cond, TypeError, __VA_ARGS__)
#define VT_CHECK_INDEX(cond, ...) VT_CHECK_T(cond, IndexError, __VA_ARGS__)
#define VT_THROW(Kind, ...) throw ::vt::Kind(::vt::detail::concat(__VA_ARGS__))
