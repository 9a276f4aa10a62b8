// vibetensor._C._fabric: native pieces of the fabric's CPU transport.
#include "fabric/shm_oneshot.h"
#include "python/common.h"

namespace vt::py {

void bind_fabric(nb::module_& m) {
  nb::module_ f = m.def_submodule("_fabric", "native pieces of the fabric's CPU transport");
  using vt::fabric::ShmOneshot;
  nb::class_<ShmOneshot>(f, "ShmOneshot",
                         "One rank's one-shot all-reduce over a shared-memory group's control block and buffers "
                         "(fabric/collectives/shm_fast.py drives it).")
      .def("__init__",
           [](ShmOneshot* self, uintptr_t ctl, int rank, int size, int64_t header, int64_t slot, int64_t ready,
              int64_t done, int64_t bufver, int64_t opseq) {
             new (self) ShmOneshot(ctl, rank, size, vt::fabric::ShmLayout{header, slot, ready, done, bufver, opseq});
           })
      .def("set_buffer", &ShmOneshot::set_buffer)
      .def("version", &ShmOneshot::version)
      .def("set_patience", &ShmOneshot::set_patience)
      .def("start", &ShmOneshot::start, nb::call_guard<nb::gil_scoped_release>())
      .def("finish", &ShmOneshot::finish, nb::call_guard<nb::gil_scoped_release>());
}

}  // namespace vt::py
