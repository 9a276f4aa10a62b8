// The CUDA driver, loaded at run time: the build needs no CUDA toolkit, and the same binary imports on a
// machine without a GPU (every CUDA call then raises one clear error).
//
// Only the driver API is used (libcuda.so.1, which the NVIDIA driver installs). Entry points are resolved
// through cuGetProcAddress for a fixed API version, so versioned symbols (cuMemAlloc_v2 ...) come out right.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace vt::cuda {

// The handful of driver types and constants we use (values from cuda.h, stable ABI).
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using cuuint64_t = uint64_t;
struct CUctx_st;
struct CUstream_st;
struct CUevent_st;
struct CUmod_st;
struct CUfunc_st;
struct CUgraph_st;
struct CUgraphExec_st;
using CUcontext = CUctx_st*;
using CUstream = CUstream_st*;
using CUevent = CUevent_st*;
using CUmodule = CUmod_st*;
using CUfunction = CUfunc_st*;
using CUgraph = CUgraph_st*;
using CUgraphExec = CUgraphExec_st*;
struct CUipcMemHandle { char reserved[64]; };

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_OUT_OF_MEMORY = 2;
constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;
constexpr CUresult CUDA_ERROR_NOT_READY = 600;
constexpr int CU_STREAM_NON_BLOCKING = 1;
constexpr unsigned CU_EVENT_DEFAULT = 0, CU_EVENT_DISABLE_TIMING = 2, CU_EVENT_INTERPROCESS = 4;
constexpr unsigned CU_MEMHOSTALLOC_PORTABLE = 1, CU_MEMHOSTALLOC_DEVICEMAP = 2;
constexpr int CU_POINTER_ATTRIBUTE_RANGE_START_ADDR = 11;
constexpr CUresult CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED = 704;
constexpr int CU_STREAM_CAPTURE_MODE_GLOBAL = 0, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
              CU_STREAM_CAPTURE_MODE_RELAXED = 2;
constexpr int CU_STREAM_CAPTURE_STATUS_NONE = 0, CU_STREAM_CAPTURE_STATUS_ACTIVE = 1;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID = 33,
              CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID = 34, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
              CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
              CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID = 50;
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8, CU_FUNC_ATTRIBUTE_NUM_REGS = 4;
constexpr int CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS = 1;

// Every driver entry point we call: X(name, (argument types)).
#define VT_CUDA_DRIVER_FUNCS(X)                                                                      \
  X(cuInit, (unsigned))                                                                              \
  X(cuDriverGetVersion, (int*))                                                                      \
  X(cuGetErrorName, (CUresult, const char**))                                                        \
  X(cuGetErrorString, (CUresult, const char**))                                                      \
  X(cuDeviceGetCount, (int*))                                                                        \
  X(cuDeviceGet, (CUdevice*, int))                                                                   \
  X(cuDeviceGetName, (char*, int, CUdevice))                                                         \
  X(cuDeviceGetAttribute, (int*, int, CUdevice))                                                     \
  X(cuDeviceTotalMem, (size_t*, CUdevice))                                                           \
  X(cuDeviceCanAccessPeer, (int*, CUdevice, CUdevice))                                               \
  X(cuDevicePrimaryCtxRetain, (CUcontext*, CUdevice))                                                \
  X(cuCtxSetCurrent, (CUcontext))                                                                    \
  X(cuCtxGetCurrent, (CUcontext*))                                                                   \
  X(cuCtxSynchronize, ())                                                                            \
  X(cuCtxGetStreamPriorityRange, (int*, int*))                                                       \
  X(cuCtxEnablePeerAccess, (CUcontext, unsigned))                                                    \
  X(cuMemGetInfo, (size_t*, size_t*))                                                                \
  X(cuMemAlloc, (CUdeviceptr*, size_t))                                                              \
  X(cuMemFree, (CUdeviceptr))                                                                        \
  X(cuMemHostAlloc, (void**, size_t, unsigned))                                                      \
  X(cuMemFreeHost, (void*))                                                                          \
  X(cuMemcpyAsync, (CUdeviceptr, CUdeviceptr, size_t, CUstream))                                     \
  X(cuMemcpyPeerAsync, (CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t, CUstream))           \
  X(cuMemsetD8Async, (CUdeviceptr, unsigned char, size_t, CUstream))                                 \
  X(cuStreamCreateWithPriority, (CUstream*, unsigned, int))                                          \
  X(cuStreamDestroy, (CUstream))                                                                     \
  X(cuStreamSynchronize, (CUstream))                                                                 \
  X(cuStreamQuery, (CUstream))                                                                       \
  X(cuStreamWaitEvent, (CUstream, CUevent, unsigned))                                                \
  X(cuStreamBeginCapture, (CUstream, int))                                                           \
  X(cuStreamEndCapture, (CUstream, CUgraph*))                                                        \
  X(cuStreamIsCapturing, (CUstream, int*))                                                           \
  X(cuThreadExchangeStreamCaptureMode, (int*))                                                       \
  X(cuEventCreate, (CUevent*, unsigned))                                                             \
  X(cuEventDestroy, (CUevent))                                                                       \
  X(cuEventRecord, (CUevent, CUstream))                                                              \
  X(cuEventQuery, (CUevent))                                                                         \
  X(cuEventSynchronize, (CUevent))                                                                   \
  X(cuEventElapsedTime, (float*, CUevent, CUevent))                                                  \
  X(cuModuleLoadData, (CUmodule*, const void*))                                                      \
  X(cuModuleUnload, (CUmodule))                                                                      \
  X(cuModuleGetFunction, (CUfunction*, CUmodule, const char*))                                       \
  X(cuFuncSetAttribute, (CUfunction, int, int))                                                      \
  X(cuFuncGetAttribute, (int*, int, CUfunction))                                                     \
  X(cuLaunchKernel, (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,       \
                     unsigned, CUstream, void**, void**))                                            \
  X(cuGraphInstantiateWithFlags, (CUgraphExec*, CUgraph, unsigned long long))                         \
  X(cuGraphLaunch, (CUgraphExec, CUstream))                                                          \
  X(cuGraphExecDestroy, (CUgraphExec))                                                               \
  X(cuGraphDestroy, (CUgraph))                                                                       \
  X(cuGraphGetNodes, (CUgraph, void**, size_t*))                                                     \
  X(cuIpcGetMemHandle, (CUipcMemHandle*, CUdeviceptr))                                               \
  X(cuIpcOpenMemHandle, (CUdeviceptr*, CUipcMemHandle, unsigned))                                    \
  X(cuIpcCloseMemHandle, (CUdeviceptr))                                                              \
  X(cuPointerGetAttribute, (void*, int, CUdeviceptr))

struct Driver {
#define VT_DECLARE_FN(name, args) CUresult(*name) args = nullptr;
  VT_CUDA_DRIVER_FUNCS(VT_DECLARE_FN)
#undef VT_DECLARE_FN
  bool loaded = false;
  int device_count = 0;
  std::string why_unavailable;  // set when not loaded, or loaded without devices
};

// Loads the driver on first use (thread-safe); never throws.
const Driver& driver();
bool is_available();
// The driver, or one clear error explaining why CUDA cannot be used here.
const Driver& require_driver();
[[noreturn]] void throw_cuda_error(CUresult r, const char* what);

}  // namespace vt::cuda

// Calls a driver function and raises a vt::Error naming the call and the driver's message on failure.
#define VT_CU(call)                                                                            \
  do {                                                                                         \
    ::vt::cuda::CUresult vt_cu_r = ::vt::cuda::require_driver().call;                          \
    if (vt_cu_r != ::vt::cuda::CUDA_SUCCESS) ::vt::cuda::throw_cuda_error(vt_cu_r, #call);     \
  } while (0)
