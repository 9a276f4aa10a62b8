// vibetensor._C._fabric: native pieces of the fabric's CPU transport.
#include "fabric/shm_direct.h"
#include "python/common.h"

#include <nanobind/stl/tuple.h>

namespace vt::py {

void bind_fabric(nb::module_& m) {
  nb::module_ f = m.def_submodule("_fabric", "native pieces of the fabric's CPU transport");
  using vt::fabric::ShmDirect;
  nb::class_<ShmDirect>(f, "ShmDirect",
                        "One rank's one-shot and two-shot all-reduces over a shared-memory group's control block "
                        "and buffers (fabric/collectives/shm_direct.py drives them).")
      .def("__init__",
           [](ShmDirect* self, uintptr_t ctl, int rank, int size, int64_t header, int64_t slot, int64_t ready,
              int64_t done, int64_t bufver, int64_t opseq, int64_t piped, int64_t consumed, int64_t reduced) {
             new (self) ShmDirect(ctl, rank, size, vt::fabric::ShmLayout{header, slot, ready, done, bufver, opseq,
                                                                         piped, consumed, reduced});
           })
      .def("set_buffer", &ShmDirect::set_buffer)
      .def("version", &ShmDirect::version)
      .def("set_patience", &ShmDirect::set_patience)
      .def("start", &ShmDirect::start, nb::call_guard<nb::gil_scoped_release>())
      .def("finish", &ShmDirect::finish, nb::call_guard<nb::gil_scoped_release>())
      .def("reduce_chunk", &ShmDirect::reduce_chunk, nb::call_guard<nb::gil_scoped_release>())
      .def("gather", &ShmDirect::gather, nb::call_guard<nb::gil_scoped_release>())
      .def("run", &ShmDirect::run, nb::call_guard<nb::gil_scoped_release>())
      .def("pipe", &ShmDirect::pipe, nb::call_guard<nb::gil_scoped_release>());
  // The direct all-reduce's hot path asks this of every tensor: one call, not five attribute reads (~1 us
  // of a 4 KB all-reduce's few).
  f.def(
      "dense_cpu",
      [](nb::handle obj) -> nb::object {
        Tensor t;
        if (!nb::try_cast<Tensor>(obj, t) || !t.device().is_cpu() || !t.is_contiguous()) return nb::none();
        int code = 0;
        switch (t.dtype()) {
          case DType::Int32: code = vt::fabric::kShmInt32; break;
          case DType::Int64: code = vt::fabric::kShmInt64; break;
          case DType::Float32: code = vt::fabric::kShmFloat32; break;
          case DType::Float64: code = vt::fabric::kShmFloat64; break;
          default: return nb::none();
        }
        return nb::make_tuple(uintptr_t(t.data()), t.numel(), code);
      },
      "(address, numel, ShmDtype code) of a contiguous CPU tensor of a type the native side reduces, else None");
}

}  // namespace vt::py
