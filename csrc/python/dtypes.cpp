// vt.dtype and vt.device objects, and converting Python numbers to Scalars.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "python/common.h"

namespace vt::py {

namespace {
// Handles, not objects: a C++ static holding a reference would release it after the interpreter is gone.
nb::handle g_dtypes[kNumDTypes];
}

nb::object dtype_object(DType d) { return nb::borrow(g_dtypes[int(d)]); }

bool to_dtype(nb::handle h, DType& out) {
  if (nb::isinstance<DTypeObj>(h)) {
    out = nb::inst_ptr<DTypeObj>(h)->d;
    return true;
  }
  // PyTorch accepts Python's own types: float -> float64, int -> int64, bool -> bool.
  if (h.ptr() == (PyObject*)&PyFloat_Type) { out = DType::Float64; return true; }
  if (h.ptr() == (PyObject*)&PyLong_Type) { out = DType::Int64; return true; }
  if (h.ptr() == (PyObject*)&PyBool_Type) { out = DType::Bool; return true; }
  return false;
}

bool to_device(nb::handle h, Device& out) {
  if (nb::isinstance<DeviceObj>(h)) {
    out = nb::inst_ptr<DeviceObj>(h)->d;
    return true;
  }
  if (nb::isinstance<nb::str>(h)) {
    out = parse_device(nb::cast<std::string>(h));
    return true;
  }
  if (PyLong_Check(h.ptr()) && !PyBool_Check(h.ptr())) {
    long i = PyLong_AsLong(h.ptr());
    VT_CHECK_VALUE(i >= 0 && i < 32768, "invalid device index ", i);
    out = Device(DeviceType::CUDA, int16_t(i));
    return true;
  }
  return false;
}

bool to_scalar(nb::handle h, Scalar& out, bool allow_tensor) {
  PyObject* o = h.ptr();
  if (PyBool_Check(o)) { out = Scalar(o == Py_True); return true; }
  if (PyLong_Check(o)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    VT_CHECK_VALUE(!overflow, "Python integer ", nb::cast<std::string>(nb::str(h)), " is out of range for int64");
    out = Scalar(int64_t(v));
    return true;
  }
  if (PyFloat_Check(o)) { out = Scalar(PyFloat_AS_DOUBLE(o)); return true; }
  if (is_tensor(h)) {
    if (!allow_tensor) return false;
    const Tensor& t = unwrap(h);
    if (t.numel() != 1 || t.dim() != 0) return false;
    out = item(t);
    return true;
  }
  // numpy scalars and other number-likes: integers through __index__, the rest through __float__.
  if (PyIndex_Check(o) && !PySequence_Check(o)) {
    nb::object i = nb::steal(PyNumber_Index(o));
    if (!i.is_valid()) { PyErr_Clear(); return false; }
    return to_scalar(i, out, false);
  }
  if (Py_TYPE(o)->tp_as_number && Py_TYPE(o)->tp_as_number->nb_float && !PySequence_Check(o)) {
    double d = PyFloat_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return false; }
    out = Scalar(d);
    return true;
  }
  return false;
}

nb::object scalar_to_py(const Scalar& s) {
  if (s.is_bool()) return nb::bool_(s.to<bool>());
  if (s.is_int()) return nb::int_(s.to_int());
  return nb::float_(s.to_double());
}

void bind_dtypes(nb::module_& m) {
  nb::class_<DTypeObj>(m, "dtype")
      .def_prop_ro("itemsize", [](const DTypeObj& d) { return itemsize(d.d); })
      .def_prop_ro("is_floating_point", [](const DTypeObj& d) { return is_floating(d.d); })
      .def_prop_ro("is_signed", [](const DTypeObj& d) { return is_signed(d.d); })
      .def_prop_ro("is_complex", [](const DTypeObj&) { return false; })
      .def_prop_ro("name", [](const DTypeObj& d) { return std::string(dtype_name(d.d)); })
      .def("__repr__", [](const DTypeObj& d) { return std::string("vibetensor.") + dtype_name(d.d); })
      .def("__reduce__", [](const DTypeObj& d) { return std::string(dtype_name(d.d)); })
      .def("__hash__", [](const DTypeObj& d) { return int(d.d); });
  for (int i = 0; i < kNumDTypes; i++) {
    g_dtypes[i] = nb::cast(DTypeObj{DType(i)}).release();
    m.attr(dtype_name(DType(i))) = g_dtypes[i];
  }

  nb::class_<DeviceObj>(m, "device")
      .def("__init__", [](DeviceObj* self, nb::handle spec, std::optional<int> index) {
             Device d;
             VT_CHECK_TYPE(to_device(spec, d), "device(): expected a string like 'cpu' or 'cuda:0', got ",
                           nb::cast<std::string>(nb::repr(spec)));
             if (index) {
               VT_CHECK_VALUE(d.index <= 0 && spec.type().is(&PyUnicode_Type), "device(): index given twice");
               VT_CHECK_VALUE(*index >= 0, "device(): negative index ", *index);
               d.index = int16_t(*index);
             }
             new (self) DeviceObj{d};
           }, nb::arg("type"), nb::arg("index") = nb::none())
      .def_prop_ro("type", [](const DeviceObj& d) { return std::string(d.d.is_cpu() ? "cpu" : "cuda"); })
      .def_prop_ro("index", [](const DeviceObj& d) -> nb::object {
        if (d.d.is_cpu() || d.d.index < 0) return nb::none();
        return nb::int_(int(d.d.index));
      })
      .def("__str__", [](const DeviceObj& d) { return d.d.is_cuda() && d.d.index < 0 ? std::string("cuda") : d.d.str(); })
      .def("__repr__", [](const DeviceObj& d) {
        if (d.d.is_cpu()) return std::string("device(type='cpu')");
        if (d.d.index < 0) return std::string("device(type='cuda')");
        return "device(type='cuda', index=" + std::to_string(d.d.index) + ")";
      })
      .def("__eq__", [](const DeviceObj& a, nb::handle b) {
        Device d;
        return to_device(b, d) && d == a.d;
      })
      .def("__hash__", [](const DeviceObj& d) { return int(d.d.type) * 65536 + d.d.index; });
}

}  // namespace vt::py
