// vibetensor._C: the native core's Python module.
#include <nanobind/stl/string.h>

#include "python/common.h"

namespace vt::py {
void bind_operators(nb::module_& m);
}

NB_MODULE(_C, m) {
  using namespace vt::py;
  // dtype objects, named-tuple types and op handles live as long as the process, by design.
  nb::set_leak_warnings(false);
  // Core errors surface as the Python exception a user expects.
  // A raw pointer, kept for the process: a static nb::object would be released after Python finalizes.
  static PyObject* oom = PyErr_NewException("vibetensor.OutOfMemoryError", PyExc_RuntimeError, nullptr);
  m.attr("OutOfMemoryError") = nb::borrow(oom);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const vt::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const vt::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const vt::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const vt::NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const vt::OutOfMemoryError& e) {
      PyErr_SetString(oom, e.what());
    } catch (const vt::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  auto errors = vt::registration_errors();
  if (!errors.empty()) {
    std::string msg = "vibetensor._C: kernel registration failed:";
    for (auto& e : errors) msg += "\n  " + e;
    throw nb::import_error(msg.c_str());
  }
  bind_dtypes(m);
  bind_tensor(m);
  bind_ops(m);
  bind_operators(m);
  bind_indexing(m);
  bind_dlpack(m);
  bind_runtime(m);
  bind_optim(m);
  bind_cuda(m);
  bind_random(m);
  bind_autocast(m);
  bind_fabric(m);
}
