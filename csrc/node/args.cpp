#include "node/args.h"

#include <cmath>
#include <map>
#include <mutex>

#include "node/tensor.h"

namespace vt::node {

namespace {

std::mutex g_overloads_mu;
std::map<std::string, OpOverloads>* g_overloads = nullptr;  // built once; ops are never removed

std::map<std::string, OpOverloads>& overload_map() {
  std::lock_guard<std::mutex> g(g_overloads_mu);  // worker_threads may load the addon at the same time
  if (!g_overloads) {
    auto* m = new std::map<std::string, OpOverloads>();
    for (const OpEntry* op : Dispatcher::get().ops()) {
      OpOverloads& ov = (*m)[op->schema().name];
      ov.name = op->schema().name;
      ov.ops.push_back(op);
    }
    g_overloads = m;
  }
  return *g_overloads;
}

std::string type_str(const Arg& a) { return arg_type_str(a, "array"); }

bool is_bool(napi_env env, napi_value v) { return type_of(env, v) == napi_boolean; }

bool to_int(napi_env env, napi_value v, int64_t& out) { return !is_bool(env, v) && get_int(env, v, out); }

// A JS number (or boolean, or BigInt) as a core Scalar: integral numbers are ints, like Python's `2`.
bool to_scalar(napi_env env, napi_value v, Scalar& out) {
  napi_valuetype t = type_of(env, v);
  if (t == napi_boolean) { out = Scalar(get_bool(env, v)); return true; }
  int64_t i;
  if (t == napi_bigint) {
    if (!get_int(env, v, i)) return false;
    out = Scalar(i);
    return true;
  }
  if (t != napi_number) return false;
  double d = get_double(env, v);
  constexpr double kMaxExact = 9007199254740992.0;  // 2^53: beyond it a JS number is not an exact int
  if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= kMaxExact) out = Scalar(int64_t(d));
  else out = Scalar(d);
  return true;
}

bool to_float(napi_env env, napi_value v, double& out) {
  napi_valuetype t = type_of(env, v);
  if (t == napi_number) { out = get_double(env, v); return true; }
  int64_t i;
  if (t == napi_bigint && get_int(env, v, i)) { out = double(i); return true; }
  return false;
}

bool convert(napi_env env, const Arg& a, napi_value v, bool first_tensor, IValue& out) {
  if (is_nullish(env, v)) {
    if (!a.optional) return false;
    out = None{};
    return true;
  }
  switch (a.type) {
    case ArgType::Tensor: {
      if (const Tensor* t = unwrap_tensor(env, v)) { out = *t; return true; }
      Scalar s;
      if (first_tensor || !to_scalar(env, v, s)) return false;
      out = wrap_number(s);
      return true;
    }
    case ArgType::TensorList:
    case ArgType::OptTensorList: {
      if (!is_array(env, v)) return false;
      TensorList l;
      for (uint32_t i = 0, n = array_length(env, v); i < n; i++) {
        napi_value x = element(env, v, i);
        if (a.type == ArgType::OptTensorList && is_nullish(env, x)) { l.emplace_back(); continue; }
        const Tensor* t = unwrap_tensor(env, x);
        if (!t) return false;
        l.push_back(*t);
      }
      out = std::move(l);
      return true;
    }
    case ArgType::Int: {
      int64_t i;
      if (!to_int(env, v, i)) return false;
      out = i;
      return true;
    }
    case ArgType::IntList: {
      int64_t i;
      if (a.fixed_size && to_int(env, v, i)) { out = IntList(size_t(a.fixed_size), i); return true; }
      if (!is_array(env, v)) return false;
      IntList l;
      for (uint32_t k = 0, n = array_length(env, v); k < n; k++) {
        if (!to_int(env, element(env, v, k), i)) return false;
        l.push_back(i);
      }
      out = std::move(l);
      return true;
    }
    case ArgType::Float: {
      double d;
      if (!to_float(env, v, d)) return false;
      out = d;
      return true;
    }
    case ArgType::FloatList: {
      if (!is_array(env, v)) return false;
      FloatList l;
      double d;
      for (uint32_t k = 0, n = array_length(env, v); k < n; k++) {
        if (!to_float(env, element(env, v, k), d)) return false;
        l.push_back(d);
      }
      out = std::move(l);
      return true;
    }
    case ArgType::Bool:
      if (!is_bool(env, v)) return false;
      out = get_bool(env, v);
      return true;
    case ArgType::Scalar: {
      Scalar s;
      if (!to_scalar(env, v, s)) return false;
      out = s;
      return true;
    }
    case ArgType::DType: {
      DType d;
      if (type_of(env, v) != napi_string || !parse_dtype(get_string(env, v), d)) return false;
      out = d;
      return true;
    }
    case ArgType::Device: {
      int64_t i;
      if (to_int(env, v, i)) { out = Device(DeviceType::CUDA, int16_t(i)); return true; }
      if (type_of(env, v) != napi_string) return false;
      out = parse_device(get_string(env, v));  // a malformed name raises its own clear error
      return true;
    }
    case ArgType::Str:
      if (type_of(env, v) != napi_string) return false;
      out = get_string(env, v);
      return true;
  }
  return false;
}

// "keepDim" -> "keep_dim": JS callers may spell keyword arguments in camelCase.
std::string snake_case(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') { r += '_'; r += char(c - 'A' + 'a'); }
    else r += c;
  }
  return r;
}

int find_kwarg(const Schema& s, const std::string& key) {
  int idx = s.find_arg(key);
  if (idx < 0) idx = s.find_arg(snake_case(key));
  if (idx < 0 && key == "input") idx = s.find_arg("self");
  return idx;
}

// Fills `stack` for schema `s`; on failure returns false and, if `err`, says why.
bool parse(napi_env env, const Schema& s, const std::vector<napi_value>& args, napi_value kwargs, Stack& stack,
           std::string* err) {
  size_t n = s.args.size();
  stack.assign(n, None{});
  std::vector<bool> filled(n, false);
  int first_tensor = -1;
  for (size_t i = 0; i < n; i++)
    if (s.args[i].type == ArgType::Tensor) { first_tensor = int(i); break; }

  size_t nargs = args.size(), pos = 0;
  for (size_t i = 0; i < n && pos < nargs; i++) {
    const Arg& a = s.args[i];
    if (a.kwarg_only) break;
    int64_t v;
    // `ops.view(x, 2, 3)`: an int[] argument given as separate ints.
    if (a.type == ArgType::IntList && !a.fixed_size && to_int(env, args[pos], v)) {
      IntList l{v};
      for (pos++; pos < nargs && to_int(env, args[pos], v); pos++) l.push_back(v);
      stack[i] = std::move(l);
      filled[i] = true;
      continue;
    }
    if (!convert(env, a, args[pos], int(i) == first_tensor, stack[i])) {
      if (err)
        *err = s.name + "(): argument '" + a.name + "' (position " + std::to_string(pos + 1) + ") must be " +
               type_str(a) + ", not " + js_type_name(env, args[pos]);
      return false;
    }
    filled[i] = true;
    pos++;
  }
  if (pos < nargs) {
    if (err) *err = s.name + "() takes " + std::to_string(pos) + " positional arguments but " +
                    std::to_string(nargs) + " were given";
    return false;
  }
  if (kwargs) {
    napi_value keys;
    check(napi_get_all_property_names(env, kwargs, napi_key_own_only,
                                      napi_key_filter(napi_key_enumerable | napi_key_skip_symbols),
                                      napi_key_numbers_to_strings, &keys));
    for (uint32_t k = 0, nk = array_length(env, keys); k < nk; k++) {
      napi_value key_v = element(env, keys, k);
      std::string key = get_string(env, key_v);
      napi_value val;
      check(napi_get_property(env, kwargs, key_v, &val));
      int idx = find_kwarg(s, key);
      if (idx < 0) {
        if (err) *err = s.name + "() got an unexpected keyword argument '" + key + "'";
        return false;
      }
      if (filled[idx]) {
        if (err) *err = s.name + "() got multiple values for argument '" + s.args[idx].name + "'";
        return false;
      }
      if (!convert(env, s.args[idx], val, idx == first_tensor, stack[idx])) {
        if (err) *err = s.name + "(): argument '" + key + "' must be " + type_str(s.args[idx]) + ", not " +
                        js_type_name(env, val);
        return false;
      }
      filled[idx] = true;
    }
  }
  return fill_defaults(s, filled, stack, err);
}

}  // namespace

const OpOverloads& overloads(const std::string& base) {
  auto& m = overload_map();
  auto it = m.find(base);
  VT_CHECK_TYPE(it != m.end(), "unknown op '", base, "' (vt.opNames() lists them)");
  return it->second;
}

std::vector<std::string> op_base_names() {
  std::vector<std::string> r;
  for (auto& [name, ov] : overload_map()) r.push_back(name);
  return r;
}

ParsedCall parse_call(napi_env env, const OpOverloads& ov, const std::vector<napi_value>& args, napi_value kwargs) {
  ParsedCall c;
  for (const OpEntry* op : ov.ops)
    if (parse(env, op->schema(), args, kwargs, c.stack, nullptr)) {
      c.op = op;
      break;
    }
  if (!c.op) {
    // Second pass, only on failure, to say why.
    std::string msg;
    if (ov.ops.size() == 1) {
      parse(env, ov.ops[0]->schema(), args, kwargs, c.stack, &msg);
    } else {
      msg = ov.name + "() received an invalid combination of arguments. Expected one of:";
      for (const OpEntry* op : ov.ops) {
        std::string why;
        parse(env, op->schema(), args, kwargs, c.stack, &why);
        msg += "\n * " + op->schema().text + "\n      " + why;
      }
    }
    throw TypeError(msg);
  }
  if (!args.empty() && unwrap_tensor(env, args[0])) c.self = args[0];
  return c;
}

napi_value ivalue_to_js(napi_env env, const IValue& v) {
  return std::visit([&](const auto& x) -> napi_value {
    using T = std::decay_t<decltype(x)>;
    if constexpr (std::is_same_v<T, None>) return null(env);
    else if constexpr (std::is_same_v<T, Tensor>) return x.defined() ? wrap_tensor(env, x) : null(env);
    else if constexpr (std::is_same_v<T, int64_t>) return make_int(env, x);
    else if constexpr (std::is_same_v<T, double>) return make_double(env, x);
    else if constexpr (std::is_same_v<T, bool>) return make_bool(env, x);
    else if constexpr (std::is_same_v<T, Scalar>)
      return x.is_bool() ? make_bool(env, x.template to<bool>())
             : x.is_int() ? make_int(env, x.to_int()) : make_double(env, x.to_double());
    else if constexpr (std::is_same_v<T, DType>) return make_string(env, dtype_name(x));
    else if constexpr (std::is_same_v<T, Device>) return make_string(env, x.str());
    else if constexpr (std::is_same_v<T, std::string>) return make_string(env, x);
    else {
      napi_value a = make_array(env, x.size());
      for (size_t i = 0; i < x.size(); i++) set_index(env, a, uint32_t(i), ivalue_to_js(env, IValue(x[i])));
      return a;
    }
  }, v);
}

napi_value results_to_js(napi_env env, const OpEntry& op, const Stack& stack, napi_value self) {
  const auto& rets = op.schema().rets;
  if (rets.empty()) return undefined(env);
  if (rets.size() == 1) {
    // In-place ops hand back the very object they were called on.
    if (self && op.mutates_self())
      if (auto* t = std::get_if<Tensor>(&stack[0]))
        if (const Tensor* s = unwrap_tensor(env, self); s && t->is_same(*s)) return self;
    return ivalue_to_js(env, stack[0]);
  }
  napi_value a = make_array(env, rets.size());
  for (size_t i = 0; i < rets.size(); i++) {
    napi_value v = ivalue_to_js(env, stack[i]);
    set_index(env, a, uint32_t(i), v);
    if (!rets[i].name.empty()) set(env, a, rets[i].name.c_str(), v);
  }
  return a;
}

}  // namespace vt::node
