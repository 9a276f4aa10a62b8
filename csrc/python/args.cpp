// Python arguments -> a boxed stack, by schema; overload resolution; results -> Python.
//
// One parser serves every op: positional and keyword arguments, defaults, `int[]` given as varargs
// (`x.view(2, 3)`), `int[1]` given as one int, Python numbers for Tensor arguments (after the first), and
// PyTorch-style errors naming the argument. Overloads are tried in declaration order.
#include <nanobind/stl/string.h>

#include "python/common.h"

namespace vt::py {

namespace {

const char* py_type_name(nb::handle h) {
  if (is_tensor(h)) return "Tensor";
  return Py_TYPE(h.ptr())->tp_name;
}

bool to_int(nb::handle h, int64_t& out) {
  PyObject* o = h.ptr();
  if (PyLong_Check(o)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow) return false;
    out = v;
    return true;
  }
  if (is_tensor(h)) {
    const Tensor& t = unwrap(h);
    if (t.dim() != 0 || !is_integral(t.dtype(), false)) return false;
    out = item(t).to_int();
    return true;
  }
  if (PyIndex_Check(o) && !PySequence_Check(o) && !PyFloat_Check(o)) {
    nb::object i = nb::steal(PyNumber_Index(o));
    if (!i.is_valid()) { PyErr_Clear(); return false; }
    return to_int(i, out);
  }
  return false;
}

bool to_float(nb::handle h, double& out) {
  Scalar s;
  if (PyBool_Check(h.ptr()) || !to_scalar(h, s, true)) return false;
  out = s.to_double();
  return true;
}

// Converts one Python value for argument `a`; `first_tensor` says whether this is the op's first
// Tensor argument (which must be a real tensor, not a number).
bool convert(const Arg& a, nb::handle h, bool first_tensor, IValue& out) {
  if (h.is_none()) {
    if (!a.optional) return false;
    out = None{};
    return true;
  }
  switch (a.type) {
    case ArgType::Tensor: {
      if (is_tensor(h)) { out = unwrap(h); return true; }
      Scalar s;
      if (first_tensor || !to_scalar(h, s, false)) return false;
      out = wrap_number(s);
      return true;
    }
    case ArgType::TensorList:
    case ArgType::OptTensorList: {
      if (!nb::isinstance<nb::list>(h) && !nb::isinstance<nb::tuple>(h)) return false;
      TensorList l;
      for (nb::handle x : h) {
        if (x.is_none() && a.type == ArgType::OptTensorList) l.emplace_back();
        else if (is_tensor(x)) l.push_back(unwrap(x));
        else return false;
      }
      out = std::move(l);
      return true;
    }
    case ArgType::Int: {
      int64_t v;
      if (PyBool_Check(h.ptr()) || !to_int(h, v)) return false;
      out = v;
      return true;
    }
    case ArgType::IntList: {
      int64_t v;
      if (a.fixed_size && !PyBool_Check(h.ptr()) && to_int(h, v)) {
        out = IntList(size_t(a.fixed_size), v);
        return true;
      }
      if (!nb::isinstance<nb::list>(h) && !nb::isinstance<nb::tuple>(h)) return false;
      IntList l;
      for (nb::handle x : h) {
        if (!to_int(x, v)) return false;
        l.push_back(v);
      }
      out = std::move(l);
      return true;
    }
    case ArgType::Float: {
      double d;
      if (!to_float(h, d)) return false;
      out = d;
      return true;
    }
    case ArgType::FloatList: {
      if (!nb::isinstance<nb::list>(h) && !nb::isinstance<nb::tuple>(h)) return false;
      FloatList l;
      double d;
      for (nb::handle x : h) {
        if (!to_float(x, d)) return false;
        l.push_back(d);
      }
      out = std::move(l);
      return true;
    }
    case ArgType::Bool:
      if (!PyBool_Check(h.ptr())) return false;
      out = h.ptr() == Py_True;
      return true;
    case ArgType::Scalar: {
      Scalar s;
      if (!to_scalar(h, s, true)) return false;
      out = s;
      return true;
    }
    case ArgType::DType: {
      DType d;
      if (!to_dtype(h, d)) return false;
      out = d;
      return true;
    }
    case ArgType::Device: {
      Device d;
      if (!to_device(h, d)) return false;
      out = d;
      return true;
    }
    case ArgType::Str:
      if (!nb::isinstance<nb::str>(h)) return false;
      out = nb::cast<std::string>(h);
      return true;
  }
  return false;
}

std::string type_str(const Arg& a) { return arg_type_str(a, "tuple"); }

// Fills `stack` for schema `s`; on failure returns false and, if `err`, explains why.
bool parse(const Schema& s, nb::handle self_obj, nb::args args, nb::kwargs kwargs, Stack& stack, bool factory,
           std::string* err) {
  size_t n = s.args.size();
  stack.assign(n, None{});
  std::vector<bool> filled(n, false);
  int self_idx = self_obj.ptr() ? s.find_arg("self") : -1;
  if (self_obj.ptr() && self_idx < 0) self_idx = 0;
  if (self_idx >= 0) {
    stack[self_idx] = unwrap(self_obj);
    filled[self_idx] = true;
  }
  int first_tensor = -1;
  for (size_t i = 0; i < n; i++)
    if (s.args[i].type == ArgType::Tensor) { first_tensor = int(i); break; }

  size_t nargs = args.size(), pos = 0;
  for (size_t i = 0; i < n && pos < nargs; i++) {
    const Arg& a = s.args[i];
    if (int(i) == self_idx) continue;
    if (a.kwarg_only) break;
    nb::handle h = args[pos];
    // `x.view(2, 3)`: an int[] argument given as separate ints.
    int64_t v;
    if (a.type == ArgType::IntList && !a.fixed_size && !PyBool_Check(h.ptr()) && to_int(h, v)) {
      IntList l{v};
      pos++;
      while (pos < nargs && !PyBool_Check(args[pos].ptr()) && to_int(args[pos], v)) {
        l.push_back(v);
        pos++;
      }
      stack[i] = std::move(l);
      filled[i] = true;
      continue;
    }
    if (!convert(a, h, int(i) == first_tensor, stack[i])) {
      if (err)
        *err = s.name + "(): argument '" + a.name + "' (position " + std::to_string(pos + 1) + ") must be " +
               type_str(a) + ", not " + py_type_name(h);
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
  for (auto [k, v] : kwargs) {
    std::string key = nb::cast<std::string>(k);
    if (factory && (key == "requires_grad" || key == "pin_memory" || key == "layout")) continue;
    int idx = s.find_arg(key);
    if (idx < 0 && key == "input") idx = s.find_arg("self");  // torch.f(input=...) spelling
    if (idx < 0 || idx == self_idx) {
      if (err) *err = s.name + "() got an unexpected keyword argument '" + key + "'";
      return false;
    }
    if (filled[idx]) {
      if (err) *err = s.name + "() got multiple values for argument '" + key + "'";
      return false;
    }
    if (!convert(s.args[idx], v, idx == first_tensor, stack[idx])) {
      if (err) *err = s.name + "(): argument '" + key + "' must be " + type_str(s.args[idx]) + ", not " +
                      py_type_name(v);
      return false;
    }
    filled[idx] = true;
  }
  return fill_defaults(s, filled, stack, err);
}

// Python's named tuple type for ops with several results, made once per op.
nb::object named_tuple_type(const OpEntry& op) {
  static std::unordered_map<const OpEntry*, nb::object>* cache = new std::unordered_map<const OpEntry*, nb::object>();
  auto it = cache->find(&op);
  if (it != cache->end()) return it->second;
  nb::list fields;
  for (const Ret& r : op.schema().rets) fields.append(nb::str(r.name.empty() ? "result" : r.name.c_str()));
  std::string type_name = op.schema().name;
  for (size_t p; (p = type_name.find("::")) != std::string::npos;) type_name.replace(p, 2, "_");
  nb::object nt = nb::module_::import_("collections").attr("namedtuple")(type_name, fields);
  nt.attr("__module__") = "vibetensor.return_types";
  (*cache)[&op] = nt;
  return nt;
}

// Python-visible numel of the tensor arguments: large calls release the GIL.
int64_t work_size(const Stack& s) {
  int64_t n = 0;
  for (const IValue& v : s)
    if (auto* t = std::get_if<Tensor>(&v)) n += t->numel();
    else if (auto* l = std::get_if<TensorList>(&v))
      for (const Tensor& x : *l)
        if (x.defined()) n += x.numel();
  return n;
}
constexpr int64_t kReleaseGilAbove = 1 << 16;

}  // namespace

nb::object ivalue_to_py(const IValue& v) {
  return std::visit([](const auto& x) -> nb::object {
    using T = std::decay_t<decltype(x)>;
    if constexpr (std::is_same_v<T, None>) return nb::none();
    else if constexpr (std::is_same_v<T, Tensor>) return wrap(x);
    else if constexpr (std::is_same_v<T, int64_t>) return nb::int_(x);
    else if constexpr (std::is_same_v<T, double>) return nb::float_(x);
    else if constexpr (std::is_same_v<T, bool>) return nb::bool_(x);
    else if constexpr (std::is_same_v<T, Scalar>) return scalar_to_py(x);
    else if constexpr (std::is_same_v<T, DType>) return dtype_object(x);
    else if constexpr (std::is_same_v<T, Device>) return nb::cast(DeviceObj{x});
    else if constexpr (std::is_same_v<T, std::string>) return nb::str(x.c_str());
    else {
      nb::list l;
      for (const auto& e : x) {
        if constexpr (std::is_same_v<T, TensorList>) l.append(e.defined() ? wrap(e) : nb::none());
        else l.append(e);
      }
      return std::move(l);
    }
  }, v);
}

nb::object results_to_py(const OpEntry& op, Stack& stack, nb::handle self_obj) {
  const auto& rets = op.schema().rets;
  if (rets.empty()) return nb::none();
  if (rets.size() == 1) {
    IValue& v = stack[0];
    // In-place ops hand back the very object they were called on.
    if (self_obj.ptr() && op.mutates_self())
      if (auto* t = std::get_if<Tensor>(&v); t && t->is_same(unwrap(self_obj))) return nb::borrow(self_obj);
    if (auto* l = std::get_if<TensorList>(&v)) return nb::tuple(ivalue_to_py(*l));
    return ivalue_to_py(v);
  }
  nb::list items;
  for (size_t i = 0; i < rets.size(); i++) items.append(ivalue_to_py(stack[i]));
  return named_tuple_type(op)(*items);
}

nb::object call_positional(const OpEntry& op, nb::args args, CallMode mode) {
  const Schema& s = op.schema();
  VT_CHECK_TYPE(args.size() == s.args.size(), op.name(), ": expected ", s.args.size(), " arguments, got ", args.size());
  Stack stack(s.args.size());
  for (size_t i = 0; i < s.args.size(); i++)
    VT_CHECK_TYPE(convert(s.args[i], args[i], false, stack[i]), op.name(), ": argument '", s.args[i].name,
                  "' must be ", type_str(s.args[i]), ", not ", py_type_name(args[i]));
  if (mode == CallMode::BelowAutograd) call_boxed_below_autograd(op, stack);
  else if (mode == CallMode::Composite) call_boxed_composite(op, stack);
  else call_boxed(op, stack);
  return results_to_py(op, stack, nb::handle());
}

nb::object call_op(const OpOverloads& ov, nb::handle self_obj, nb::args args, nb::kwargs kwargs, bool below_autograd) {
  Stack stack;
  const OpEntry* chosen = nullptr;
  for (const OpEntry* op : ov.ops)
    if (parse(op->schema(), self_obj, args, kwargs, stack, op->flags() & kFactory, nullptr)) {
      chosen = op;
      break;
    }
  if (!chosen) {
    // Second pass, only on failure, to say why.
    std::string msg;
    if (ov.ops.size() == 1) {
      parse(ov.ops[0]->schema(), self_obj, args, kwargs, stack, ov.ops[0]->flags() & kFactory, &msg);
    } else {
      msg = ov.name + "() received an invalid combination of arguments. Expected one of:";
      for (const OpEntry* op : ov.ops) {
        std::string why;
        parse(op->schema(), self_obj, args, kwargs, stack, op->flags() & kFactory, &why);
        msg += "\n * " + op->schema().text + "\n      " + why;
      }
    }
    throw TypeError(msg);
  }
  auto run = [&] { below_autograd ? call_boxed_below_autograd(*chosen, stack) : call_boxed(*chosen, stack); };
  if (work_size(stack) > kReleaseGilAbove) {
    nb::gil_scoped_release release;
    run();
  } else {
    run();
  }
  nb::object result = results_to_py(*chosen, stack, self_obj);
  if ((chosen->flags() & kFactory) && kwargs.contains("requires_grad") && nb::cast<bool>(kwargs["requires_grad"]))
    result.attr("requires_grad_")(true);
  return result;
}

}  // namespace vt::py
