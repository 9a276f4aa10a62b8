// vt.autocast's native half: the thread's autocast state, the ops' cast policies (installed from
// vibetensor/amp/policy.py), the weight-cast cache hook, and the entry point of autocast ops written in
// Python (nn.functional's layer_norm, losses, attention), which cast like dispatcher ops do.
#include <nanobind/stl/string.h>

#include "dispatch/autocast.h"
#include "python/common.h"

namespace vt::py {

namespace {

nb::object& cache_hook() {
  static auto* f = new nb::object();  // process lifetime, like the other Python objects the core keeps
  return *f;
}

Tensor call_cache_hook(const Tensor& t, DType to) {
  nb::gil_scoped_acquire g;
  nb::object r = cache_hook()(wrap(t), dtype_object(to));
  VT_CHECK_TYPE(is_tensor(r), "autocast: the cast hook returned ", nb::cast<std::string>(nb::repr(r.type())),
                " instead of a tensor");
  return unwrap(r);
}

int device_type_of(const std::string& s) {
  if (s == "cpu") return int(DeviceType::CPU);
  if (s == "cuda") return int(DeviceType::CUDA);
  VT_THROW(ValueError, "autocast: unsupported device_type '", s, "' (expected 'cpu' or 'cuda')");
}

// The device type an op called with these arguments runs on: its first tensor's (-1 without tensors).
int device_type_of_call(const nb::tuple& args, const nb::dict& kwargs) {
  for (nb::handle h : args)
    if (is_tensor(h) && !unwrap(h).is_wrapped_number()) return int(unwrap(h).device().type);
  for (auto [k, v] : kwargs)
    if (is_tensor(v) && !unwrap(v).is_wrapped_number()) return int(unwrap(v).device().type);
  return -1;
}

// Runs a Python-level autocast op: casts its tensor arguments by its policy for the device it runs on,
// then runs it with autocast off, so the ops inside keep the dtypes chosen here (as inside a dispatcher
// op's autocast kernel). An op with no policy on that device still runs as one unit, uncast.
nb::object call(nb::handle fn, nb::handle args, nb::handle kwargs) {
  nb::object r = nb::steal(PyObject_Call(fn.ptr(), args.ptr(), kwargs.ptr()));
  if (!r.is_valid()) throw nb::python_error();
  return r;
}

nb::object autocast_call(CastPolicy cpu, CastPolicy cuda, nb::handle fn, nb::tuple args, nb::dict kwargs) {
  int dev = device_type_of_call(args, kwargs);
  if (dev < 0 || !(local_dispatch_state().autocast & (1u << dev))) return call(fn, args, kwargs);
  CastPolicy policy = dev == int(DeviceType::CPU) ? cpu : cuda;
  VT_CHECK_VALUE(policy != CastPolicy::Fp32SetOptDtype, "autocast: fp32_set_opt_dtype is for dispatcher ops");
  nb::list new_args;
  nb::dict new_kwargs;
  std::vector<Tensor> ts;  // the tensor arguments, args then kwargs, cast in place
  for (nb::handle h : args)
    if (is_tensor(h)) ts.push_back(unwrap(h));
  for (auto [k, v] : kwargs)
    if (is_tensor(v)) ts.push_back(unwrap(v));
  std::vector<Tensor*> ptrs;
  for (Tensor& t : ts) ptrs.push_back(&t);
  AutocastExcludeGuard off;
  autocast_tensors(policy, dev, ptrs);
  size_t i = 0;
  auto next = [&](nb::handle h) -> nb::object {
    if (!is_tensor(h)) return nb::borrow(h);
    const Tensor& t = ts[i++];
    return t.is_same(unwrap(h)) ? nb::borrow(h) : wrap(t);  // an uncast argument stays the very object
  };
  for (nb::handle h : args) new_args.append(next(h));
  for (auto [k, v] : kwargs) new_kwargs[k] = next(v);
  return call(fn, nb::tuple(new_args), new_kwargs);
}

}  // namespace

void bind_autocast(nb::module_& m) {
  nb::enum_<CastPolicy>(m, "CastPolicy")
      .value("none", CastPolicy::None)
      .value("lower_precision_fp", CastPolicy::LowerPrecisionFp)
      .value("fp32", CastPolicy::Fp32)
      .value("fp32_set_opt_dtype", CastPolicy::Fp32SetOptDtype)
      .value("promote", CastPolicy::Promote);
  m.def("_set_autocast_policy", [](const std::string& op, const std::string& device_type, CastPolicy p) {
    Dispatcher::get().set_autocast_policy(Dispatcher::get().op(op), DeviceType(device_type_of(device_type)), p);
  });
  m.def("_autocast_policy", [](const std::string& op, const std::string& device_type) {
    return Dispatcher::get().op(op).autocast_policy(device_type_of(device_type));
  });
  // The thread's state. The mask has a bit per device type (cpu 1, cuda 2); setting it returns the old one.
  m.def("_autocast_mask", [] { return int(local_dispatch_state().autocast); });
  m.def("_set_autocast_mask", [](int mask) {
    LocalDispatchState& s = local_dispatch_state();
    int prev = s.autocast;
    s.autocast = uint8_t(mask);
    return prev;
  });
  m.def("_autocast_device_bit", [](const std::string& device_type) { return 1 << device_type_of(device_type); });
  m.def("_autocast_dtype", [](const std::string& device_type) {
    return dtype_object(local_dispatch_state().autocast_dtype[device_type_of(device_type)]);
  });
  m.def("_set_autocast_dtype", [](const std::string& device_type, nb::handle dtype) {
    DType d;
    VT_CHECK_TYPE(to_dtype(dtype, d), "autocast: dtype must be a vibetensor dtype");
    local_dispatch_state().autocast_dtype[device_type_of(device_type)] = d;
  });
  m.def("_autocast_cache_enabled", [] { return local_dispatch_state().autocast_cache; });
  m.def("_set_autocast_cache_enabled", [](bool v) { local_dispatch_state().autocast_cache = v; });
  m.def("_set_autocast_cache_hook", [](nb::object fn) {
    set_autocast_cache_hook(nullptr);
    cache_hook() = std::move(fn);
    if (!cache_hook().is_none()) set_autocast_cache_hook(&call_cache_hook);
  });
  m.def("_autocast_call", &autocast_call);
}

}  // namespace vt::py
