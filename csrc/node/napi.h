// Thin C++ helpers over Node-API's C interface (node_api.h from the installed Node; no npm dependency).
//
// Inside a binding, a failed napi_* call or a core error is a C++ exception; `guarded` turns it into a
// pending JS exception at the boundary, so each binding reads as straight-line code.
#pragma once
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "core/error.h"

namespace vt::node {

// A napi_* call failed; the JS exception (if any) is already pending.
struct NapiFailure : std::exception {
  napi_status status;
  explicit NapiFailure(napi_status s) : status(s) {}
  const char* what() const noexcept override { return "Node-API call failed"; }
};

inline void check(napi_status s) {
  if (s != napi_ok) throw NapiFailure(s);
}

// The kinds of core error, kept apart from the exception objects so a worker thread can carry one to the
// main thread (where JS errors can be made).
enum class ErrorKind : uint8_t { Error, Type, Value, Index, NotImplemented, OutOfMemory };
struct CapturedError {
  ErrorKind kind = ErrorKind::Error;
  std::string message;
};
CapturedError capture_current_exception();         // call inside a catch block
napi_value make_error(napi_env env, const CapturedError& e);  // TypeError/RangeError/Error with .code

// Runs fn(); any C++ exception becomes a thrown JS error and the binding returns undefined (nullptr).
template <class F>
napi_value guarded(napi_env env, F&& fn) {
  try {
    return fn();
  } catch (const NapiFailure&) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, "ERR_VIBETENSOR_NAPI", "internal Node-API call failed");
  } catch (...) {
    CapturedError e = capture_current_exception();
    napi_throw(env, make_error(env, e));
  }
  return nullptr;
}

// The arguments of a callback, and `this`.
struct CallInfo {
  napi_env env;
  napi_value self = nullptr;
  std::vector<napi_value> args;
  void* data = nullptr;
  CallInfo(napi_env e, napi_callback_info info) : env(e) {
    size_t argc = 0;
    check(napi_get_cb_info(e, info, &argc, nullptr, nullptr, nullptr));
    args.resize(argc);
    check(napi_get_cb_info(e, info, &argc, args.data(), &self, &data));
  }
  napi_value arg(size_t i) const;  // undefined when absent
  size_t size() const { return args.size(); }
};

// ---- JS value -> C++ ----------------------------------------------------------------------------------
napi_valuetype type_of(napi_env env, napi_value v);
bool is_nullish(napi_env env, napi_value v);
bool is_array(napi_env env, napi_value v);
bool is_typedarray(napi_env env, napi_value v);
std::string js_type_name(napi_env env, napi_value v);  // for messages: "number", "Array", "Tensor" ...
std::string get_string(napi_env env, napi_value v);
double get_double(napi_env env, napi_value v);
bool get_bool(napi_env env, napi_value v);
// A JS integer (a Number with no fraction, or a BigInt in int64 range) -> int64; false otherwise.
bool get_int(napi_env env, napi_value v, int64_t& out);
uint32_t array_length(napi_env env, napi_value v);
napi_value element(napi_env env, napi_value arr, uint32_t i);
napi_value property(napi_env env, napi_value obj, const char* name);  // undefined when absent
bool has_own(napi_env env, napi_value obj, const char* name);

// ---- C++ -> JS value ----------------------------------------------------------------------------------
napi_value undefined(napi_env env);
napi_value null(napi_env env);
napi_value make_string(napi_env env, const std::string& s);
napi_value make_double(napi_env env, double d);
napi_value make_bool(napi_env env, bool b);
napi_value make_int(napi_env env, int64_t v);  // a Number when exact (|v| <= 2^53), else a BigInt
napi_value make_object(napi_env env);
napi_value make_array(napi_env env, size_t n = 0);
void set(napi_env env, napi_value obj, const char* name, napi_value v);
void set_index(napi_env env, napi_value arr, uint32_t i, napi_value v);
napi_value int_array(napi_env env, const int64_t* p, size_t n);

// Adds `fn` to `obj` as a method called `name`.
void add_function(napi_env env, napi_value obj, const char* name, napi_callback fn, void* data = nullptr);

}  // namespace vt::node
