// _C.TensorBase: the native half of vibetensor.Tensor (metadata, conversions, operators).
// Op methods (x.exp(), x.sum(dim=1) ...) are attached from the op table in ops.cpp.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "ops/views.h"
#include "python/common.h"

namespace vt::py {

namespace {
nb::handle g_tensor_type;
nb::handle g_size_type;  // vibetensor.Size (a tuple subclass), once tensor_core registers it

// Autograd state lives in Python (autograd/); the core keeps the flag it dispatches on, and a slot for
// the Python object. Released with the GIL held because tensors die on any thread.
struct PyAutogradMeta final : AutogradMeta {
  nb::object py;
  ~PyAutogradMeta() override {
    if (!py.is_valid() || !Py_IsInitialized()) {
      py.release();
      return;
    }
    nb::gil_scoped_acquire g;
    py.reset();
  }
};
PyAutogradMeta& meta_of(const Tensor& t) {
  if (!t.impl()->autograd()) t.impl()->set_autograd(std::make_unique<PyAutogradMeta>());
  return static_cast<PyAutogradMeta&>(*t.impl()->autograd());
}

// A tuple of the sizes, as `type` (a tuple subclass, filled as CPython's tuple_subtype_new does) or a plain
// tuple: no intermediate list, since autograd reads shapes several times per recorded op.
nb::object sizes_as(IntArrayRef s, PyTypeObject* type) {
  const Py_ssize_t n = Py_ssize_t(s.size());
  PyObject* t = type ? type->tp_alloc(type, n) : PyTuple_New(n);
  if (!t) throw nb::python_error();
  nb::object out = nb::steal(t);
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject* v = PyLong_FromLongLong(s[size_t(i)]);
    if (!v) throw nb::python_error();
    PyTuple_SET_ITEM(t, i, v);
  }
  return out;
}

nb::object shape_tuple(IntArrayRef s) {
  return sizes_as(s, g_size_type.ptr() ? reinterpret_cast<PyTypeObject*>(g_size_type.ptr()) : nullptr);
}

// Nested Python lists of the elements (any strides).
nb::object to_list(const Tensor& t, int64_t dim, const char* p) {
  if (dim == t.dim()) {
    return VT_DISPATCH_ALL(t.dtype(), "tolist", [&]() -> nb::object {
      scalar_t v = *reinterpret_cast<const scalar_t*>(p);
      if constexpr (std::is_same_v<scalar_t, bool>) return nb::bool_(v);
      else if constexpr (std::is_integral_v<scalar_t>) return nb::int_(int64_t(v));
      else return nb::float_(double(opmath_t<scalar_t>(v)));
    });
  }
  nb::list l;
  int64_t step = t.strides()[dim] * int64_t(t.itemsize());
  for (int64_t i = 0; i < t.sizes()[dim]; i++) l.append(to_list(t, dim + 1, p + i * step));
  return std::move(l);
}

}  // namespace

nb::handle tensor_type() { return g_tensor_type; }
void set_tensor_type(nb::handle t) { g_tensor_type = t; }

nb::object wrap(Tensor t) {
  if (!t.defined()) return nb::none();
  nb::object o = nb::inst_alloc(g_tensor_type);
  new (nb::inst_ptr<Tensor>(o)) Tensor(std::move(t));
  nb::inst_mark_ready(o);
  return o;
}

void bind_tensor(nb::module_& m) {
  auto cls = nb::class_<Tensor>(m, "TensorBase", nb::dynamic_attr());
  g_tensor_type = cls;
  cls.def_prop_ro("shape", [](const Tensor& t) { return shape_tuple(t.sizes()); })
      .def("size", [](const Tensor& t, std::optional<int64_t> d) -> nb::object {
        if (d) return nb::int_(t.size(*d));
        return shape_tuple(t.sizes());
      }, nb::arg("dim") = nb::none())
      .def("stride", [](const Tensor& t, std::optional<int64_t> d) -> nb::object {
        if (d) return nb::int_(t.stride(*d));
        return nb::tuple(nb::cast(t.strides().vec()));
      }, nb::arg("dim") = nb::none())
      // What autograd records of every input and output, in one call: (shape as a plain tuple, dtype, device).
      .def("_shape_dtype_device", [](const Tensor& t) {
        return nb::make_tuple(sizes_as(t.sizes(), nullptr), dtype_object(t.dtype()), DeviceObj{t.device()});
      })
      .def_prop_ro("dtype", [](const Tensor& t) { return dtype_object(t.dtype()); })
      .def_prop_ro("device", [](const Tensor& t) { return DeviceObj{t.device()}; })
      .def_prop_ro("ndim", &Tensor::dim)
      .def("dim", &Tensor::dim)
      .def("ndimension", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("nelement", &Tensor::numel)
      .def("element_size", [](const Tensor& t) { return t.itemsize(); })
      .def_prop_ro("itemsize", [](const Tensor& t) { return t.itemsize(); })
      .def_prop_ro("nbytes", [](const Tensor& t) { return t.numel() * int64_t(t.itemsize()); })
      .def("storage_offset", &Tensor::storage_offset)
      .def("is_contiguous", [](const Tensor& t) { return t.is_contiguous(); })
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data()); })
      .def("untyped_storage_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl()->storage()->data()); })
      .def("_storage_nbytes", [](const Tensor& t) { return t.impl()->storage()->nbytes(); })
      .def("_is_view_of", [](const Tensor& a, const Tensor& b) { return a.impl()->storage().get() == b.impl()->storage().get(); })
      .def_prop_ro("is_cuda", [](const Tensor& t) { return t.device().is_cuda(); })
      .def_prop_ro("is_cpu", [](const Tensor& t) { return t.device().is_cpu(); })
      .def("is_floating_point", [](const Tensor& t) { return is_floating(t.dtype()); })
      .def("is_signed", [](const Tensor& t) { return is_signed(t.dtype()); })
      .def_prop_ro("_version", [](const Tensor& t) { return t.impl()->version(); })
      .def_prop_ro("_writable", [](const Tensor& t) { return t.impl()->storage()->writable(); })
      // No other handle shares this tensor or its memory (no view, no second handle of the impl): autograd may
      // keep it as a leaf's .grad instead of a copy. The caller checks the Python object's own references.
      .def_prop_ro("_sole_owner", [](const Tensor& t) {
        const auto& st = t.impl()->storage();
        return t.impl()->use_count() == 1 && st->use_count() == 1 && st->writable();
      })
      .def_prop_ro("_is_wrapped_number", [](const Tensor& t) { return t.is_wrapped_number(); })
      // autograd seam: the flag dispatch reads, and the Python object that autograd/ keeps per tensor.
      .def_prop_rw("_requires_grad",
                   [](const Tensor& t) { return t.requires_grad(); },
                   [](const Tensor& t, bool v) { meta_of(t).requires_grad = v; })
      .def_prop_rw("_autograd_meta",
                   [](const Tensor& t) -> nb::object {
                     auto* m = static_cast<PyAutogradMeta*>(t.impl()->autograd());
                     return m && m->py.is_valid() ? m->py : nb::none();
                   },
                   [](const Tensor& t, nb::object o) { meta_of(t).py = std::move(o); })
      .def("item", [](const Tensor& t) { return scalar_to_py(host_item(t)); })
      .def("tolist", [](const Tensor& t) {
        Tensor h = to_host(t);
        return to_list(h, 0, static_cast<const char*>(h.data()));
      })
      .def("__len__", [](const Tensor& t) {
        VT_CHECK_TYPE(t.dim() > 0, "len() of a 0-d tensor");
        return t.sizes()[0];
      })
      .def("__bool__", [](const Tensor& t) {
        VT_CHECK_VALUE(t.numel() == 1, "Boolean value of Tensor with ", (t.numel() ? "more than one" : "no"),
                       " values is ambiguous");
        return host_item(t).to<bool>();
      })
      .def("__float__", [](const Tensor& t) {
        VT_CHECK_TYPE(t.numel() == 1, "only one element tensors can be converted to Python scalars");
        return host_item(t).to_double();
      })
      .def("__int__", [](const Tensor& t) {
        VT_CHECK_TYPE(t.numel() == 1, "only one element tensors can be converted to Python scalars");
        return host_item(t).to_int();
      })
      .def("__index__", [](const Tensor& t) {
        VT_CHECK_TYPE(t.numel() == 1 && is_integral(t.dtype(), true),
                      "only integer tensors of a single element can be converted to an index");
        return item(t).to_int();
      })
      .def("__hash__", [](nb::handle self) { return reinterpret_cast<intptr_t>(self.ptr()); })
      // A shallow alias with its own autograd state (Parameter(data), x.detach()).
      .def("_alias", [](const Tensor& t) {
        return wrap(make_view(t, t.sizes(), t.strides(), t.storage_offset()));
      });

  m.def("_set_tensor_class", [](nb::handle cls) { set_tensor_type(cls); });
  m.def("_set_size_class", [](nb::handle cls) { g_size_type = cls; });
  // Instances of a Python subclass (Parameter) aliasing an existing tensor's storage.
  m.def("_make_subclass", [](nb::handle cls, const Tensor& t) {
    nb::object o = nb::inst_alloc(cls);
    new (nb::inst_ptr<Tensor>(o)) Tensor(make_view(t, t.sizes(), t.strides(), t.storage_offset()));
    nb::inst_mark_ready(o);
    return o;
  });
}

}  // namespace vt::py
