// Ops from the op table become Python functions (_C._ops.<name>) and TensorBase methods; Python can define
// ops and register kernels (the library API), and the table is readable from Python.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "python/common.h"

namespace vt::py {

namespace {

// Overload sets by base name, built once; bindings hold pointers into it.
std::unordered_map<std::string, OpOverloads*>& overloads() {
  static auto* m = new std::unordered_map<std::string, OpOverloads*>();
  return *m;
}
OpOverloads* overloads_for(const std::string& name) {
  auto& m = overloads();
  auto it = m.find(name);
  if (it != m.end()) return it->second;
  auto* ov = new OpOverloads{name, {}};
  m[name] = ov;
  return ov;
}

// ---- Python kernels --------------------------------------------------------------------------------
// A kernel written in Python: called with the schema's arguments positionally, returns the results.
// A fallback kernel (one Python function for every op, e.g. autograd's) also gets the op's full name first.
struct PyKernelState {
  nb::object fn;
  bool with_name;
};

void python_kernel_trampoline(const OpEntry& op, Stack& stack, const KernelFunction& k) {
  nb::gil_scoped_acquire g;
  auto* st = static_cast<PyKernelState*>(k.state.get());
  nb::list args;
  if (st->with_name) args.append(nb::str(op.name().c_str()));
  for (const IValue& v : stack) args.append(ivalue_to_py(v));
  nb::handle fn = st->fn;
  nb::object r = fn(*args);
  stack.clear();
  const auto& rets = op.schema().rets;
  auto take = [&](nb::handle h, const Ret& ret) {
    if (ret.type == ArgType::Tensor) {
      VT_CHECK_TYPE(is_tensor(h), op.name(), ": Python kernel returned ", nb::cast<std::string>(nb::repr(h.type())),
                    " where the schema says Tensor");
      stack.push_back(unwrap(h));
    } else if (ret.type == ArgType::TensorList) {
      TensorList l;
      for (nb::handle x : h) {
        VT_CHECK_TYPE(is_tensor(x), op.name(), ": Python kernel returned a non-tensor in its Tensor[] result");
        l.push_back(unwrap(x));
      }
      stack.push_back(std::move(l));
    } else {
      Scalar s;
      VT_CHECK_TYPE(to_scalar(h, s, true), op.name(), ": Python kernel returned a non-number");
      stack.push_back(s);
    }
  };
  if (rets.size() == 1) {
    take(r, rets[0]);
  } else if (!rets.empty()) {
    VT_CHECK_TYPE(nb::isinstance<nb::tuple>(r) && nb::len(r) == rets.size(), op.name(),
                  ": Python kernel must return a tuple of ", rets.size(), " values");
    for (size_t i = 0; i < rets.size(); i++) take(r[i], rets[i]);
  }
}

KernelFunction python_kernel(nb::object fn, bool with_name = false) {
  KernelFunction k;
  k.boxed = &python_kernel_trampoline;
  k.is_python = true;
  k.state = std::shared_ptr<void>(new PyKernelState{std::move(fn), with_name}, [](void* p) {
    auto* s = static_cast<PyKernelState*>(p);
    if (!Py_IsInitialized()) { s->fn.release(); delete s; return; }
    nb::gil_scoped_acquire g;
    delete s;
  });
  return k;
}

// What register_kernel replaced, so a Python override can be undone.
struct KernelHandle {
  const OpEntry* op;
  DispatchKey key;
  KernelFunction previous;
  bool active = true;
  void restore() {
    if (!active) return;
    Dispatcher::get().register_kernel(*op, key, previous);
    active = false;
  }
};

DispatchKey key_from(const std::string& s) {
  DispatchKey k;
  VT_CHECK_VALUE(parse_key(s, k), "unknown dispatch key '", s, "' (expected cpu, cuda, composite or autograd)");
  return k;
}

void add_binding(nb::module_& ops_mod, nb::handle tensor_cls, const OpEntry& op) {
  const std::string& base = op.schema().name;
  OpOverloads* ov = overloads_for(base);
  bool first = ov->ops.empty();
  ov->ops.push_back(&op);
  if (!first) return;
  ops_mod.def(base.c_str(), [ov](nb::args args, nb::kwargs kwargs) {
    return call_op(*ov, nb::handle(), args, kwargs);
  });
  if (op.flags() & kMethod)
    nb::cast<nb::class_<Tensor>>(tensor_cls).def(base.c_str(), [ov](nb::handle self, nb::args args, nb::kwargs kwargs) {
      return call_op(*ov, self, args, kwargs);
    });
}

}  // namespace

void bind_ops(nb::module_& m) {
  nb::module_ ops_mod = m.def_submodule("_ops", "every op of the op table, by name");
  for (const OpEntry* op : Dispatcher::get().ops()) add_binding(ops_mod, tensor_type(), *op);

  // Op names in Python: functions ("F"), methods ("M") and everything else about them.
  m.def("_op_table", [] {
    nb::list out;
    for (const OpEntry* op : Dispatcher::get().ops()) {
      nb::dict d;
      d["name"] = op->name();
      d["base"] = op->schema().name;
      d["schema"] = op->schema().text;
      d["function"] = bool(op->flags() & kFunction);
      d["method"] = bool(op->flags() & kMethod);
      d["differentiable"] = bool(op->flags() & kDifferentiable);
      d["factory"] = bool(op->flags() & kFactory);
      d["random"] = bool(op->flags() & kRandom);
      d["inplace"] = op->schema().is_inplace();
      d["view"] = op->schema().is_view();
      nb::list keys;
      const KernelTable* t = op->table();
      for (int k = 0; k < kNumDispatchKeys; k++)
        if (t->k[k]) keys.append(key_name(DispatchKey(k)));
      d["kernels"] = keys;
      nb::list args, types;
      for (const Arg& a : op->schema().args) {
        args.append(a.name);
        types.append(std::string(arg_type_name(a.type)) + (a.optional ? "?" : ""));
      }
      d["args"] = args;
      d["arg_types"] = types;
      nb::list rets;
      for (const Ret& r : op->schema().rets) rets.append(arg_type_name(r.type));
      d["rets"] = rets;
      out.append(d);
    }
    return out;
  });

  nb::class_<KernelHandle>(m, "KernelHandle")
      .def("restore", &KernelHandle::restore)
      .def_prop_ro("active", [](const KernelHandle& h) { return h.active; });

  // The library API: define an op from a schema, and give an op a Python kernel for a dispatch key.
  m.def("_define_op", [ops_mod, m](const std::string& schema, bool function, bool method, bool differentiable) {
    uint32_t flags = (function ? kFunction : 0) | (method ? kMethod : 0) | (differentiable ? kDifferentiable : 0);
    const OpEntry& op = Dispatcher::get().define(schema, flags);
    nb::module_ om = ops_mod;
    add_binding(om, tensor_type(), op);
    return op.name();
  });
  m.def("_register_python_kernel", [](const std::string& name, const std::string& key, nb::object fn) {
    VT_CHECK_TYPE(PyCallable_Check(fn.ptr()), "kernel for '", name, "' must be callable");
    const OpEntry& op = Dispatcher::get().op(name);
    DispatchKey k = key_from(key);
    KernelFunction prev = Dispatcher::get().register_kernel(op, k, python_kernel(std::move(fn)));
    return KernelHandle{&op, k, std::move(prev)};
  });
  m.def("_set_composite_under_autograd", [](const std::string& name, bool on) {
    Dispatcher::get().set_composite_under_autograd(Dispatcher::get().op(name), on);
  });
  m.def("_set_autograd_fallback", [](nb::object fn) {
    Dispatcher::get().set_autograd_fallback(fn.is_none() ? KernelFunction() : python_kernel(std::move(fn), true));
  });
  // Calls one op (full name, e.g. "max.dim") with every schema argument given positionally, skipping
  // the autograd key: autograd's own redispatch, which holds exactly what its kernel was called with.
  m.def("_call_below_autograd", [](const std::string& name, nb::args args) {
    return call_positional(Dispatcher::get().op(name), args, CallMode::BelowAutograd);
  });
  m.def("_call_composite", [](const std::string& name, nb::args args) {
    return call_positional(Dispatcher::get().op(name), args, CallMode::Composite);
  });
  m.def("_call_op", [](const std::string& name, nb::args args) {
    return call_positional(Dispatcher::get().op(name), args, CallMode::Normal);
  });
  m.def("_dispatcher_lock_count", [] { return Dispatcher::get().lock_count(); });
  m.def("_registration_errors", [] { return registration_errors(); });
}

}  // namespace vt::py
