#include "node/napi.h"

#include <cmath>

namespace vt::node {

CapturedError capture_current_exception() {
  try {
    throw;
  } catch (const vt::TypeError& e) {
    return {ErrorKind::Type, e.what()};
  } catch (const vt::ValueError& e) {
    return {ErrorKind::Value, e.what()};
  } catch (const vt::IndexError& e) {
    return {ErrorKind::Index, e.what()};
  } catch (const vt::NotImplementedError& e) {
    return {ErrorKind::NotImplemented, e.what()};
  } catch (const vt::OutOfMemoryError& e) {
    return {ErrorKind::OutOfMemory, e.what()};
  } catch (const std::bad_alloc&) {
    return {ErrorKind::OutOfMemory, "out of host memory"};
  } catch (const std::exception& e) {
    return {ErrorKind::Error, e.what()};
  } catch (...) {
    return {ErrorKind::Error, "unknown C++ exception"};
  }
}

// JS has no ValueError or IndexError: a core TypeError stays a TypeError, an index out of range becomes a
// RangeError, the rest are Errors; `.code` keeps the core's kind so callers can tell them apart.
napi_value make_error(napi_env env, const CapturedError& e) {
  static const char* codes[] = {"ERR_VIBETENSOR", "ERR_VIBETENSOR_TYPE", "ERR_VIBETENSOR_VALUE",
                                "ERR_VIBETENSOR_INDEX", "ERR_VIBETENSOR_NOT_IMPLEMENTED", "ERR_VIBETENSOR_OUT_OF_MEMORY"};
  napi_value code, msg, err;
  napi_create_string_utf8(env, codes[int(e.kind)], NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, e.message.c_str(), e.message.size(), &msg);
  switch (e.kind) {
    case ErrorKind::Type: napi_create_type_error(env, code, msg, &err); break;
    case ErrorKind::Index: napi_create_range_error(env, code, msg, &err); break;
    default: napi_create_error(env, code, msg, &err); break;
  }
  return err;
}

napi_value CallInfo::arg(size_t i) const { return i < args.size() ? args[i] : undefined(env); }

napi_valuetype type_of(napi_env env, napi_value v) {
  napi_valuetype t;
  check(napi_typeof(env, v, &t));
  return t;
}

bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t = type_of(env, v);
  return t == napi_undefined || t == napi_null;
}

bool is_array(napi_env env, napi_value v) {
  bool r = false;
  check(napi_is_array(env, v, &r));
  return r;
}

bool is_typedarray(napi_env env, napi_value v) {
  bool r = false;
  check(napi_is_typedarray(env, v, &r));
  return r;
}

std::string js_type_name(napi_env env, napi_value v) {
  switch (type_of(env, v)) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_bigint: return "bigint";
    case napi_function: return "function";
    case napi_object: {
      if (is_array(env, v)) return "Array";
      napi_value ctor = property(env, v, "constructor");
      if (type_of(env, ctor) == napi_function) {
        std::string n = get_string(env, property(env, ctor, "name"));
        if (!n.empty()) return n;
      }
      return "object";
    }
    default: return "value";
  }
}

std::string get_string(napi_env env, napi_value v) {
  size_t n = 0;
  check(napi_get_value_string_utf8(env, v, nullptr, 0, &n));
  std::string s(n, '\0');
  check(napi_get_value_string_utf8(env, v, s.data(), n + 1, &n));
  return s;
}

double get_double(napi_env env, napi_value v) {
  double d;
  check(napi_get_value_double(env, v, &d));
  return d;
}

bool get_bool(napi_env env, napi_value v) {
  bool b;
  check(napi_get_value_bool(env, v, &b));
  return b;
}

bool get_int(napi_env env, napi_value v, int64_t& out) {
  napi_valuetype t = type_of(env, v);
  if (t == napi_number) {
    double d = get_double(env, v);
    // Only exact integers: 2.5 is not an int, and neither is 2**63 (it does not fit int64).
    if (!std::isfinite(d) || std::trunc(d) != d || std::fabs(d) >= 9223372036854775808.0) return false;
    out = int64_t(d);
    return true;
  }
  if (t == napi_bigint) {
    bool lossless = false;
    check(napi_get_value_bigint_int64(env, v, &out, &lossless));
    return lossless;
  }
  return false;
}

uint32_t array_length(napi_env env, napi_value v) {
  uint32_t n = 0;
  check(napi_get_array_length(env, v, &n));
  return n;
}

napi_value element(napi_env env, napi_value arr, uint32_t i) {
  napi_value r;
  check(napi_get_element(env, arr, i, &r));
  return r;
}

napi_value property(napi_env env, napi_value obj, const char* name) {
  napi_value r;
  check(napi_get_named_property(env, obj, name, &r));
  return r;
}

bool has_own(napi_env env, napi_value obj, const char* name) {
  napi_value key;
  bool r = false;
  check(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &key));
  check(napi_has_own_property(env, obj, key, &r));
  return r;
}

napi_value undefined(napi_env env) {
  napi_value r;
  check(napi_get_undefined(env, &r));
  return r;
}

napi_value null(napi_env env) {
  napi_value r;
  check(napi_get_null(env, &r));
  return r;
}

napi_value make_string(napi_env env, const std::string& s) {
  napi_value r;
  check(napi_create_string_utf8(env, s.data(), s.size(), &r));
  return r;
}

napi_value make_double(napi_env env, double d) {
  napi_value r;
  check(napi_create_double(env, d, &r));
  return r;
}

napi_value make_bool(napi_env env, bool b) {
  napi_value r;
  check(napi_get_boolean(env, b, &r));
  return r;
}

napi_value make_int(napi_env env, int64_t v) {
  constexpr int64_t kMaxExact = int64_t(1) << 53;
  napi_value r;
  if (v >= -kMaxExact && v <= kMaxExact) check(napi_create_int64(env, v, &r));
  else check(napi_create_bigint_int64(env, v, &r));
  return r;
}

napi_value make_object(napi_env env) {
  napi_value r;
  check(napi_create_object(env, &r));
  return r;
}

napi_value make_array(napi_env env, size_t n) {
  napi_value r;
  check(napi_create_array_with_length(env, n, &r));
  return r;
}

void set(napi_env env, napi_value obj, const char* name, napi_value v) {
  check(napi_set_named_property(env, obj, name, v));
}

void set_index(napi_env env, napi_value arr, uint32_t i, napi_value v) { check(napi_set_element(env, arr, i, v)); }

napi_value int_array(napi_env env, const int64_t* p, size_t n) {
  napi_value a = make_array(env, n);
  for (size_t i = 0; i < n; i++) set_index(env, a, uint32_t(i), make_int(env, p[i]));
  return a;
}

void add_function(napi_env env, napi_value obj, const char* name, napi_callback fn, void* data) {
  napi_value f;
  check(napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, data, &f));
  set(env, obj, name, f);
}

}  // namespace vt::node
