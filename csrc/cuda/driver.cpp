#include "cuda/driver.h"

#include <dlfcn.h>

#include <mutex>

namespace vt::cuda {

namespace {

// CUDA 12.0's driver API: entry points with the semantics this code was written against.
constexpr int kApiVersion = 12000;
using GetProcAddress = CUresult (*)(const char*, void**, int, cuuint64_t, int*);

Driver load() {
  Driver d;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    d.why_unavailable = "no NVIDIA driver: libcuda.so.1 could not be loaded";
    return d;
  }
  auto get_proc = reinterpret_cast<GetProcAddress>(dlsym(lib, "cuGetProcAddress_v2"));
  if (!get_proc) get_proc = reinterpret_cast<GetProcAddress>(dlsym(lib, "cuGetProcAddress"));
  if (!get_proc) {
    d.why_unavailable = "the NVIDIA driver is too old (no cuGetProcAddress; need a CUDA 12 driver)";
    return d;
  }
  std::string missing;
#define VT_RESOLVE(name, args)                                                                   \
  {                                                                                              \
    void* fn = nullptr;                                                                          \
    int status = 0;                                                                              \
    if (get_proc(#name, &fn, kApiVersion, 0, &status) != CUDA_SUCCESS || !fn) missing += " " #name; \
    d.name = reinterpret_cast<decltype(d.name)>(fn);                                             \
  }
  VT_CUDA_DRIVER_FUNCS(VT_RESOLVE)
#undef VT_RESOLVE
  if (!missing.empty()) {
    d.why_unavailable = "the NVIDIA driver lacks entry points:" + missing;
    return d;
  }
  CUresult r = d.cuInit(0);
  if (r == CUDA_ERROR_NO_DEVICE) {
    d.why_unavailable = "the NVIDIA driver reports no CUDA device (check CUDA_VISIBLE_DEVICES)";
    d.loaded = true;
    return d;
  }
  if (r != CUDA_SUCCESS) {
    const char* msg = nullptr;
    d.cuGetErrorString(r, &msg);
    d.why_unavailable = std::string("cuInit failed: ") + (msg ? msg : "unknown error");
    return d;
  }
  d.loaded = true;
  d.cuDeviceGetCount(&d.device_count);
  if (d.device_count == 0) d.why_unavailable = "the NVIDIA driver reports no CUDA device";
  return d;
}

}  // namespace

const Driver& driver() {
  static Driver* d = new Driver(load());  // leaked: kernels may be freed during interpreter shutdown
  return *d;
}

bool is_available() { return driver().loaded && driver().device_count > 0; }

const Driver& require_driver() {
  const Driver& d = driver();
  if (!d.loaded || d.device_count == 0)
    VT_THROW(Error, "CUDA is not available: ", d.why_unavailable);
  return d;
}

void throw_cuda_error(CUresult r, const char* what) {
  const char *name = nullptr, *msg = nullptr;
  driver().cuGetErrorName(r, &name);
  driver().cuGetErrorString(r, &msg);
  std::string text = std::string("CUDA error ") + (name ? name : "?") + " (" + std::to_string(r) + ") in " +
                     what + ": " + (msg ? msg : "unknown error");
  if (r == CUDA_ERROR_OUT_OF_MEMORY) throw OutOfMemoryError(text);
  throw Error(text);
}

}  // namespace vt::cuda
