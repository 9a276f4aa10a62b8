// Random number generators in Python: _C.Generator (a handle on a PhiloxGenerator), the default generators,
// the per-thread generator behind vt.random.use_generator, and the raw Philox block function (for tests
// and for checking other devices' implementations of the stream).
#include <cstring>

#include <nanobind/stl/string.h>

#include "core/philox.h"
#include "cpu/generator.h"
#include "cuda/device.h"
#include "cuda/driver.h"
#include "python/common.h"

namespace vt::py {

namespace {

struct GeneratorObj {
  GeneratorPtr g;
};

// Any Python integer (or __index__ object) in [-2**63, 2**64); negative seeds wrap like PyTorch's.
uint64_t to_seed(nb::handle h) {
  nb::object i = nb::steal(PyNumber_Index(h.ptr()));
  if (!i.is_valid()) {
    PyErr_Clear();
    VT_THROW(TypeError, "manual_seed: expected an integer seed, got ", Py_TYPE(h.ptr())->tp_name);
  }
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow == 0) return uint64_t(v);
  if (overflow > 0) {
    unsigned long long u = PyLong_AsUnsignedLongLong(i.ptr());
    if (!PyErr_Occurred()) return u;
    PyErr_Clear();
  }
  VT_THROW(ValueError, "manual_seed: the seed must be in [-2**63, 2**64), got ", nb::str(i).c_str());
}

// The state as a uint8 tensor of PhiloxGenerator::kStateSize bytes, like torch.get_rng_state().
nb::object state_tensor(const PhiloxGenerator& g) {
  PhiloxGenerator::State s = g.get_state();
  Tensor t = empty(DimVec{int64_t(s.size())}, DType::UInt8);
  std::memcpy(t.data(), s.data(), s.size());
  return wrap(std::move(t));
}

// Accepts what get_state() returned, or its bytes (bytes, bytearray, memoryview, numpy ...).
void set_state_from(PhiloxGenerator& g, nb::handle state) {
  if (is_tensor(state)) {
    const Tensor& t = unwrap(state);
    VT_CHECK_TYPE(t.dtype() == DType::UInt8 && t.device().is_cpu(), "set_state: expected a CPU uint8 tensor, got ",
                  dtype_name(t.dtype()), " on ", t.device().str());
    VT_CHECK_VALUE(t.dim() == 1, "set_state: expected a 1-D uint8 tensor, got shape ", shape_str(t.sizes()));
    std::vector<uint8_t> bytes(size_t(t.numel()));
    for (int64_t i = 0; i < t.numel(); i++) bytes[size_t(i)] = t.data_as<uint8_t>()[i * t.strides()[0]];
    g.set_state(bytes.data(), bytes.size());
    return;
  }
  VT_CHECK_TYPE(PyObject_CheckBuffer(state.ptr()), "set_state: expected a uint8 tensor or bytes, got ",
                Py_TYPE(state.ptr())->tp_name);
  Py_buffer view;
  if (PyObject_GetBuffer(state.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0) throw nb::python_error();
  struct Release {
    Py_buffer* v;
    ~Release() { PyBuffer_Release(v); }
  } release{&view};
  g.set_state(static_cast<const uint8_t*>(view.buf), size_t(view.len));
}

Device generator_device(nb::handle spec) {
  Device d;
  VT_CHECK_TYPE(to_device(spec, d), "Generator: expected a device like 'cpu' or 'cuda:0', got ",
                nb::str(spec).c_str());
  VT_CHECK_TYPE(d.is_cpu() || (d.is_cuda() && cuda::is_available()), "Generator: device ", d.str(),
                " is not available", d.is_cuda() ? " (no CUDA runtime)" : "");
  if (d.is_cuda()) return Device(DeviceType::CUDA, int16_t(cuda::resolve(d.index)));
  return d;
}

}  // namespace

void bind_random(nb::module_& m) {
  nb::class_<GeneratorObj>(m, "Generator",
                           "A Philox4x32-10 random number generator: a 64-bit seed and a counter offset.\n\n"
                           "Random ops draw from the device's default generator, or from one installed with "
                           "vibetensor.random.use_generator(g).")
      .def("__init__", [](GeneratorObj* self, nb::handle device) {
        new (self) GeneratorObj{std::make_shared<PhiloxGenerator>(generator_device(device))};
      }, nb::arg("device") = "cpu")
      .def("manual_seed", [](GeneratorObj& self, nb::handle seed) -> GeneratorObj& {
        self.g->manual_seed(to_seed(seed));
        return self;
      }, nb::arg("seed"), nb::rv_policy::reference)
      .def("seed", [](GeneratorObj& self) { return self.g->seed(); })
      .def("initial_seed", [](const GeneratorObj& self) { return self.g->initial_seed(); })
      .def("get_state", [](const GeneratorObj& self) { return state_tensor(*self.g); })
      .def("set_state", [](GeneratorObj& self, nb::handle state) -> GeneratorObj& {
        set_state_from(*self.g, state);
        return self;
      }, nb::arg("new_state"), nb::rv_policy::reference)
      .def_prop_ro("device", [](const GeneratorObj& self) { return nb::cast(DeviceObj{self.g->device()}); })
      .def("__eq__", [](const GeneratorObj& a, nb::handle b) {
        return nb::isinstance<GeneratorObj>(b) && nb::inst_ptr<GeneratorObj>(b)->g == a.g;
      })
      .def("__hash__", [](const GeneratorObj& self) { return std::hash<const void*>()(self.g.get()); })
      .def("__repr__", [](const GeneratorObj& self) {
        return "<vibetensor.Generator device=" + self.g->device().str() +
               " seed=" + std::to_string(self.g->initial_seed()) + ">";
      });

  m.def("_default_generator", [](nb::handle device) { return GeneratorObj{default_generator(generator_device(device))}; },
        nb::arg("device") = "cpu");
  m.def("_manual_seed_all", [](nb::handle seed) { manual_seed_all(to_seed(seed)); });
  // Returns what was installed before (None or a Generator), so Python can restore it.
  m.def("_exchange_thread_generator", [](nb::handle gen) -> nb::object {
    GeneratorPtr g;
    if (!gen.is_none()) {
      VT_CHECK_TYPE(nb::isinstance<GeneratorObj>(gen), "use_generator: expected a Generator, got ",
                    Py_TYPE(gen.ptr())->tp_name);
      g = nb::inst_ptr<GeneratorObj>(gen)->g;
    }
    GeneratorPtr prev = exchange_thread_generator(std::move(g));
    return prev ? nb::cast(GeneratorObj{std::move(prev)}) : nb::none();
  }, nb::arg("generator").none());
  m.def("_philox4x32_10", [](uint64_t block, uint64_t sub, uint64_t seed) {
    philox::Block b = philox::philox4x32_10(block, sub, seed);
    return nb::make_tuple(b[0], b[1], b[2], b[3]);
  }, nb::arg("block"), nb::arg("sub"), nb::arg("seed"));
}

}  // namespace vt::py
