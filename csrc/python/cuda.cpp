// _C._cuda: devices, streams, events and the caching allocator, for vibetensor.cuda (tensor_core/cuda.py).
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>

#include <nanobind/stl/vector.h>

#include "cuda/allocator.h"
#include "cuda/blas.h"
#include "cuda/graph.h"
#include "cuda/kernel_library.h"
#include "cuda/launch_plan.h"
#include "cuda/peer.h"
#include "python/common.h"

namespace vt::py {

namespace {
using namespace vt::cuda;

struct PyEvent {
  std::unique_ptr<Event> e;
};

// launch_kernel's (kind, value) pairs as kernel arguments.
std::vector<KernelArg> kernel_args(const std::vector<std::pair<std::string, nb::object>>& args) {
  std::vector<KernelArg> ka;
  ka.reserve(args.size());
  for (auto& [kind, v] : args) {
    if (kind == "ptr") ka.push_back(KernelArg::ptr(reinterpret_cast<const void*>(nb::cast<uintptr_t>(v))));
    else if (kind == "i32") ka.push_back(KernelArg::i32v(nb::cast<int32_t>(v)));
    else if (kind == "i64") ka.push_back(KernelArg::i64v(nb::cast<int64_t>(v)));
    else if (kind == "f32") ka.push_back(KernelArg::f32v(nb::cast<float>(v)));
    else if (kind == "f64") ka.push_back(KernelArg::f64v(nb::cast<double>(v)));
    else VT_THROW(ValueError, "a kernel argument's kind must be ptr, i32, i64, f32 or f64, got '", kind, "'");
  }
  return ka;
}

// The tensors of a LaunchPlan's call: the items of each list or tuple in `lists`, in order; false if one is not
// a sequence of tensors (the caller's general path then names what is wrong).
bool tensors_of(const nb::args& lists, std::vector<const Tensor*>& out) {
  for (nb::handle seq : lists) {
    PyObject* o = seq.ptr();
    bool list = PyList_Check(o);
    if (!list && !PyTuple_Check(o)) return false;
    Py_ssize_t n = list ? PyList_GET_SIZE(o) : PyTuple_GET_SIZE(o);
    for (Py_ssize_t i = 0; i < n; i++) {
      nb::handle h(list ? PyList_GET_ITEM(o, i) : PyTuple_GET_ITEM(o, i));
      if (!is_tensor(h)) return false;
      out.push_back(&unwrap(h));
    }
  }
  return true;
}

nb::dict stats_dict(const CudaAllocatorStats& s) {
  nb::dict d = allocator_stats_dict(s, "device");
  d["active_bytes"] = s.active_bytes;
  d["num_ooms"] = s.num_ooms;
  d["num_segments"] = s.num_segments;
  d["inactive_split_bytes"] = s.inactive_split_bytes;
  d["memory_cap_bytes"] = s.memory_cap_bytes;
  return d;
}
}  // namespace

void bind_cuda(nb::module_& m) {
  nb::module_ c = m.def_submodule("_cuda", "CUDA runtime (driver loaded at run time)");
  c.def("is_available", &is_available);
  c.def("device_count", &device_count);
  c.def("why_unavailable", [] { return driver().why_unavailable; });
  c.def("current_device", [] {
    require_driver();
    return current_device();
  });
  c.def("set_device", &set_device);
  c.def("synchronize", &synchronize_device, nb::arg("device") = -1);
  c.def("driver_version", [] {
    int v = 0;
    VT_CU(cuDriverGetVersion(&v));
    return v;
  });
  c.def("device_properties", [](int device) {
    const DeviceProperties& p = properties(device);
    nb::dict d;
    d["name"] = p.name;
    d["major"] = p.major;
    d["minor"] = p.minor;
    d["multi_processor_count"] = p.multiprocessor_count;
    d["total_memory"] = p.total_memory;
    d["max_shared_memory_per_block_optin"] = p.max_shared_memory_per_block_optin;
    d["pci_bus_id"] = p.pci_bus_id;
    return d;
  });
  c.def("mem_get_info", [](int device) {
    DeviceGuard g(device);
    size_t free_b = 0, total = 0;
    VT_CU(cuMemGetInfo(&free_b, &total));
    return std::make_pair(free_b, total);
  });

  nb::class_<Stream>(c, "Stream")
      .def_prop_ro("device_index", [](const Stream& s) { return int(s.device); })
      .def_prop_ro("priority", [](const Stream& s) { return s.priority; })
      .def_prop_ro("cuda_stream", [](const Stream& s) { return uintptr_t(s.handle); })
      .def("synchronize", &Stream::synchronize)
      .def("query", &Stream::query)
      .def("__eq__", [](const Stream& a, const Stream& b) { return a == b; })
      .def("__hash__", [](const Stream& s) { return uintptr_t(s.handle) ^ (uintptr_t(s.device) << 48); });
  c.def("stream_from_pool", &stream_from_pool, nb::arg("device") = -1, nb::arg("priority") = 0);
  c.def("current_stream", &current_stream, nb::arg("device") = -1);
  c.def("default_stream", &default_stream, nb::arg("device") = -1);
  c.def("set_current_stream", &set_current_stream);
  c.def("priority_range", &priority_range);

  nb::class_<PyEvent>(c, "Event")
      .def("__init__", [](PyEvent* self, bool enable_timing, bool interprocess) {
        new (self) PyEvent{std::make_unique<Event>(enable_timing, interprocess)};
      }, nb::arg("enable_timing") = false, nb::arg("interprocess") = false)
      .def("record", [](PyEvent& e, const Stream& s) { e.e->record(s); })
      .def("wait", [](PyEvent& e, const Stream& s) { e.e->wait(s); })
      .def("query", [](PyEvent& e) { return e.e->query(); })
      .def("synchronize", [](PyEvent& e) {
        nb::gil_scoped_release r;
        e.e->synchronize();
      })
      .def("elapsed_time", [](PyEvent& a, PyEvent& b) { return a.e->elapsed_ms(*b.e); })
      .def_prop_ro("recorded", [](PyEvent& e) { return e.e->recorded(); });

  c.def("memory_stats", [](int device) { return stats_dict(cuda_memory_stats(device)); }, nb::arg("device") = -1);
  c.def("memory_snapshot", [](int device) {
    nb::list out;
    for (const SegmentInfo& s : cuda_memory_snapshot(device)) {
      nb::dict d;
      d["address"] = s.address;
      d["total_size"] = s.total_size;
      d["allocated_size"] = s.allocated_size;
      d["stream"] = s.stream;
      d["segment_type"] = s.is_small ? "small" : "large";
      nb::list blocks;
      for (const BlockInfo& b : s.blocks) {
        nb::dict bd;
        bd["address"] = b.address;
        bd["size"] = b.size;
        bd["state"] = b.allocated ? "active_allocated" : "inactive";
        blocks.append(bd);
      }
      d["blocks"] = blocks;
      out.append(d);
    }
    return out;
  }, nb::arg("device") = -1);
  c.def("empty_cache", &cuda_empty_cache, nb::arg("device") = -1);
  c.def("reset_peak_memory_stats", &cuda_reset_peak_stats, nb::arg("device") = -1);
  c.def("set_per_process_memory_fraction", &set_memory_fraction, nb::arg("fraction"), nb::arg("device") = -1);

  nb::class_<Graph>(c, "Graph")
      .def(nb::init<>())
      .def("capture_begin", &Graph::capture_begin, nb::arg("stream"), nb::arg("pool") = 0, nb::arg("mode") = 1)
      .def("capture_end", &Graph::capture_end)
      .def("capture_abort", &Graph::capture_abort)
      .def("replay", [](Graph& g) {
        nb::gil_scoped_release r;
        g.replay();
      })
      .def("reset", &Graph::reset)
      .def_prop_ro("pool", &Graph::pool)
      .def_prop_ro("captured", &Graph::captured)
      .def_prop_ro("num_nodes", &Graph::num_nodes);
  c.def("new_pool_id", &new_pool_id);
  c.def("is_capturing", [](int device) { return is_available() && capturing(device); }, nb::arg("device") = -1);

  // The kernel library: Python compiles (vibetensor.kernels), C++ loads and launches.
  c.def("register_kernel", [](const std::string& key, const std::string& name, nb::bytes cubin, int num_warps,
                              int shared_bytes, int trailing_null_ptrs) {
    KernelSpec s;
    s.key = key;
    s.name = name;
    s.cubin.assign(cubin.c_str(), cubin.size());
    s.num_warps = num_warps;
    s.shared_bytes = shared_bytes;
    s.trailing_null_ptrs = trailing_null_ptrs;
    register_kernel(std::move(s));
  });
  c.def("set_compile_hook", [](nb::object fn) {
    static nb::handle hook;  // kept for the process (see module.cpp on static Python objects)
    hook = fn.release();
    set_compile_hook([](const std::string& key) {
      nb::gil_scoped_acquire g;
      try {
        hook(key);
      } catch (nb::python_error& e) {  // carried as a C++ error: the GIL may be released further up
        throw Error("compiling GPU kernel '" + key + "' failed: " + e.what());
      }
    });
  });
  c.def("kernel_keys", &kernel_keys);
  // Launches a registered kernel (compiling it on first use) from Python, for code whose kernels are not an
  // op of the table (the fabric's collectives, benchmarks' tile sweeps). args: (kind, value) pairs, kind "ptr",
  // "i32", "i64", "f32" or "f64".
  c.def("launch_kernel", [](const std::string& key, std::tuple<uint32_t, uint32_t, uint32_t> grid,
                            const std::vector<std::pair<std::string, nb::object>>& args, std::optional<Stream> stream) {
    std::vector<KernelArg> ka = kernel_args(args);
    const Kernel& k = kernel(key);
    Stream s = stream ? *stream : current_stream(-1);
    k.launch(std::get<0>(grid), std::get<1>(grid), std::get<2>(grid), std::move(ka), s);
  }, nb::arg("key"), nb::arg("grid"), nb::arg("args"), nb::arg("stream") = nb::none());

  // launch_kernel with everything converted once: a call passes base addresses (two, or more up to the leading
  // pointers: the direct all-reduce takes one per member), added to the first arguments (pointers, given as
  // offsets), and launches on the current stream. A GPU collective issued over and over on tensors of one shape
  // (the fabric's one- and two-shot) pays cuLaunchKernel and the integers instead of the conversion of its argument
  // list and the registry lookup (6-9 us of a ~30 us eager call on an H200 host).
  nb::class_<PreparedLaunch>(c, "PreparedLaunch")
      .def("__call__", [](const PreparedLaunch& p, uint64_t base0, uint64_t base1, nb::args more) {
        uint64_t bases[PreparedLaunch::kMaxBases] = {base0, base1};
        size_t n = 2 + more.size();
        VT_CHECK_VALUE(n <= size_t(PreparedLaunch::kMaxBases), "PreparedLaunch: ", n, " bases, ",
                       PreparedLaunch::kMaxBases, " at most");
        for (size_t i = 2; i < n; i++) bases[i] = nb::cast<uint64_t>(more[i - 2]);
        p.launch(bases, n, current_stream(-1));
      }, nb::arg("base0"), nb::arg("base1"), nb::arg("more"))
      .def_prop_ro("key", [](const PreparedLaunch& p) { return p.kernel->spec().key; })
      .def_prop_ro("grid", [](const PreparedLaunch& p) { return std::make_tuple(p.gx, p.gy, p.gz); });
  c.def("prepare_launch", [](const std::string& key, std::tuple<uint32_t, uint32_t, uint32_t> grid,
                             const std::vector<std::pair<std::string, nb::object>>& args) {
    return std::make_shared<PreparedLaunch>(prepare_launch(key, std::get<0>(grid), std::get<1>(grid), std::get<2>(grid),
                                                           kernel_args(args), 2));
  }, nb::arg("key"), nb::arg("grid"), nb::arg("args"));

  // A collective of one process driving several GPUs as one call (cuda/launch_plan.h): built once by the fabric's
  // LocalGroup from the tensors' (device, dtype, shape), then called with lists of tensors like those: False (and
  // nothing issued) when they differ, else every record, wait and launch issued on their addresses.
  nb::class_<LaunchPlan>(c, "LaunchPlan")
      .def("__init__", [](LaunchPlan* self, const std::vector<std::tuple<int, nb::handle, std::vector<int64_t>>>& ts) {
        std::vector<LaunchPlan::TensorSpec> specs;
        for (auto& [device, dtype, shape] : ts) {
          DType d;
          VT_CHECK_T(to_dtype(dtype, d), TypeError, "LaunchPlan: expected a dtype, got ",
                     nb::type_name(dtype.type()).c_str());
          DimVec sizes(shape.size());
          for (size_t i = 0; i < shape.size(); i++) sizes[i] = shape[i];
          specs.push_back({device, d, std::move(sizes)});
        }
        new (self) LaunchPlan(std::move(specs));
      }, nb::arg("tensors"))
      .def("stream", &LaunchPlan::add_stream, nb::arg("stream").none(), nb::arg("device"),
           "index of a stream: `stream`, or None for the calling thread's current stream of GPU `device` at each call")
      .def("event", &LaunchPlan::add_event)
      .def("record", &LaunchPlan::record, nb::arg("event"), nb::arg("stream"))
      .def("wait", &LaunchPlan::wait, nb::arg("stream"), nb::arg("event"))
      .def("launch", [](LaunchPlan& p, int stream, std::shared_ptr<PreparedLaunch> launch, std::vector<int> bases) {
        p.launch(stream, std::move(launch), std::move(bases));
      }, nb::arg("stream"), nb::arg("launch"), nb::arg("bases"),
           "bases[i]: the call's tensor whose address adds to argument i (-1: none), in the order of __init__'s")
      .def("__call__", [](const LaunchPlan& p, nb::args lists) {
        std::vector<const Tensor*> ts;
        std::vector<uint64_t> addrs;
        if (!tensors_of(lists, ts) || !p.bind(ts, addrs)) return false;
        p.run(addrs);
        return true;
      })
      .def_prop_ro("num_steps", &LaunchPlan::num_steps);

  c.def("load_kernel", [](const std::string& key, int device) { kernel(key).load(resolve(device)); },
        nb::arg("key"), nb::arg("device") = -1);

  // Peer memory for the fabric's GPU transport (cuda/peer.h).
  c.def("peer_segment", [](int64_t nbytes, int device) { return wrap(peer_segment(nbytes, device)); },
        nb::arg("nbytes"), nb::arg("device") = -1);
  c.def("ipc_handle", [](const Tensor& t) { return nb::bytes(ipc_handle(t).data(), sizeof(CUipcMemHandle)); });
  c.def("ipc_open", [](nb::bytes h, int64_t nbytes, int device) {
    return wrap(ipc_open(std::string(h.c_str(), h.size()), nbytes, device));
  }, nb::arg("handle"), nb::arg("nbytes"), nb::arg("device") = -1);
  c.def("host_mapped", [](int64_t nbytes, int device) { return wrap(host_mapped(nbytes, device)); }, nb::arg("nbytes"),
        nb::arg("device") = -1);
  c.def("enable_peer_access", &enable_peer_access, nb::arg("device"), nb::arg("peer"));

  // GEMM settings, for vibetensor/backends.py: float32 precision (0 highest, 1 high, 2 medium) and backend.
  c.def("set_float32_matmul_precision", &set_float32_matmul_precision);
  c.def("float32_matmul_precision", &float32_matmul_precision);
  c.def("set_preferred_blas_backend", [](bool cublaslt) {
    set_preferred_blas_backend(cublaslt ? BlasBackend::CublasLt : BlasBackend::Triton);
  });
  c.def("blas_backend", [] { return blas_backend() == BlasBackend::CublasLt ? "cublaslt" : "triton"; });
  c.def("cublaslt_info", [] { return std::make_pair(cublaslt_path(), cublaslt_unavailable_reason()); });
  c.def("set_blas_search_dirs", &set_blas_search_dirs);

  nb::class_<Tensor> cls = nb::borrow<nb::class_<Tensor>>(tensor_type());
  cls.def("record_stream", [](const Tensor& t, const Stream& s) {
    VT_CHECK_VALUE(t.device().is_cuda(), "record_stream: expected a CUDA tensor, got one on ", t.device().str());
    record_stream(t.impl()->storage()->data_ptr(), s);
  });
}

}  // namespace vt::py
