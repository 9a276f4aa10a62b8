// Process-level knobs: CPU allocator statistics, threads, grad mode.
#include <nanobind/stl/string.h>

#include "core/parallel.h"
#include "cpu/capability.h"
#include "python/common.h"

namespace vt::py {

nb::dict allocator_stats_dict(const AllocatorStats& s, const char* os_word) {
  nb::dict d;
  d["allocated_bytes"] = s.allocated_bytes;
  d["reserved_bytes"] = s.reserved_bytes;
  d["peak_allocated_bytes"] = s.peak_allocated_bytes;
  d["peak_reserved_bytes"] = s.peak_reserved_bytes;
  d["num_allocs"] = s.num_allocs;
  d["num_frees"] = s.num_frees;
  d["num_cache_hits"] = s.num_cache_hits;
  d[("num_" + std::string(os_word) + "_allocs").c_str()] = s.num_os_allocs;
  d[("num_" + std::string(os_word) + "_frees").c_str()] = s.num_os_frees;
  return d;
}

void bind_runtime(nb::module_& m) {
  m.def("_cpu_memory_stats", [] { return allocator_stats_dict(cpu_allocator().stats(), "os"); });
  m.def("_cpu_empty_cache", [] { cpu_allocator().empty_cache(); });
  m.def("_cpu_reset_peak_stats", [] { cpu_allocator().reset_peak_stats(); });
  m.def("_set_cpu_cache_limit", &set_cpu_cache_limit);
  m.def("get_num_threads", &get_num_threads);
  m.def("_cpu_capability", [] { return std::string(cpu::capability_name(cpu::capability())); });
  m.def("set_num_threads", [](int n) {
    VT_CHECK_VALUE(n > 0, "set_num_threads: expected a positive number of threads, got ", n);
    set_num_threads(n);
  });
  m.def("_grad_enabled", [] { return local_dispatch_state().grad_enabled; });
  m.def("_set_grad_enabled", [](bool v) { local_dispatch_state().grad_enabled = v; });
}

}  // namespace vt::py
