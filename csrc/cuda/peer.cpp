#include "cuda/peer.h"

#include <cstring>

#include "core/storage.h"
#include "cuda/device.h"

namespace vt::cuda {

namespace {

// Deleters run wherever the last reference drops; they must not throw. The device's work is finished
// first: a peer may have kernels in flight on this memory only through collectives that have completed
// (groups synchronize before freeing), but this process's own queued kernels may still use it.
void free_segment(void* p, void* ctx) {
  const Driver& d = driver();
  int device = int(reinterpret_cast<intptr_t>(ctx));
  try {
    activate(device);
  } catch (...) {
    return;
  }
  d.cuCtxSynchronize();
  d.cuMemFree(CUdeviceptr(uintptr_t(p)));
}

void close_mapping(void* p, void* ctx) {
  const Driver& d = driver();
  try {
    activate(int(reinterpret_cast<intptr_t>(ctx)));
  } catch (...) {
    return;
  }
  d.cuCtxSynchronize();
  d.cuIpcCloseMemHandle(CUdeviceptr(uintptr_t(p)));
}

void free_host(void* p, void*) { driver().cuMemFreeHost(p); }

Tensor byte_tensor(DataPtr data, int64_t nbytes) {
  Storage st = Storage::make(std::move(data), size_t(nbytes));
  return Tensor(Ref<TensorImpl>::make(std::move(st), DType::UInt8, DimVec{nbytes}, DimVec{1}, 0));
}

void check_size(int64_t nbytes, const char* what) {
  VT_CHECK_VALUE(nbytes > 0, what, ": nbytes must be positive, got ", nbytes);
}

}  // namespace

Tensor peer_segment(int64_t nbytes, int device) {
  check_size(nbytes, "peer_segment");
  device = resolve(device);
  activate(device);
  CUdeviceptr p = 0;
  VT_CU(cuMemAlloc(&p, size_t(nbytes)));
  CUresult r = driver().cuMemsetD8Async(p, 0, size_t(nbytes), nullptr);
  if (r == CUDA_SUCCESS) r = driver().cuCtxSynchronize();
  if (r != CUDA_SUCCESS) {
    driver().cuMemFree(p);
    throw_cuda_error(r, "peer_segment: zeroing the segment");
  }
  return byte_tensor(DataPtr(reinterpret_cast<void*>(uintptr_t(p)), reinterpret_cast<void*>(intptr_t(device)),
                             &free_segment, Device(DeviceType::CUDA, int16_t(device))),
                     nbytes);
}

std::string ipc_handle(const Tensor& t) {
  VT_CHECK_VALUE(t.defined() && t.device().is_cuda(), "ipc_handle: expected a CUDA tensor");
  CUdeviceptr p = CUdeviceptr(uintptr_t(t.data())), start = 0;
  activate(t.device().index);
  VT_CU(cuPointerGetAttribute(&start, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, p));
  VT_CHECK_VALUE(start == p, "ipc_handle: the tensor starts ", p - start, " bytes into its allocation; export "
                 "a peer_segment (IPC handles name whole allocations)");
  CUipcMemHandle h;
  VT_CU(cuIpcGetMemHandle(&h, p));
  return std::string(h.reserved, sizeof h.reserved);
}

Tensor ipc_open(const std::string& handle, int64_t nbytes, int device) {
  check_size(nbytes, "ipc_open");
  VT_CHECK_VALUE(handle.size() == sizeof(CUipcMemHandle), "ipc_open: a CUDA IPC handle has ",
                 sizeof(CUipcMemHandle), " bytes, got ", handle.size());
  device = resolve(device);
  activate(device);
  CUipcMemHandle h;
  std::memcpy(h.reserved, handle.data(), sizeof h.reserved);
  CUdeviceptr p = 0;
  CUresult r = driver().cuIpcOpenMemHandle(&p, h, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS);
  if (r != CUDA_SUCCESS)
    throw_cuda_error(r, "ipc_open: cuIpcOpenMemHandle (a handle from this same process, from a process that has "
                        "exited or freed it, or from another container cannot be opened)");
  return byte_tensor(DataPtr(reinterpret_cast<void*>(uintptr_t(p)), reinterpret_cast<void*>(intptr_t(device)),
                             &close_mapping, Device(DeviceType::CUDA, int16_t(device))),
                     nbytes);
}

Tensor host_mapped(int64_t nbytes, int device) {
  check_size(nbytes, "host_mapped");
  activate(resolve(device));  // a group may be the first thing a process puts on a GPU: no context is current yet
  void* p = nullptr;
  VT_CU(cuMemHostAlloc(&p, size_t(nbytes), CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP));
  std::memset(p, 0, size_t(nbytes));
  return byte_tensor(DataPtr(p, nullptr, &free_host, Device()), nbytes);
}

bool enable_peer_access(int device, int peer) {
  device = resolve(device);
  peer = resolve(peer);
  if (device == peer) return true;
  int ok = 0;
  CUdevice a, b;
  VT_CU(cuDeviceGet(&a, device));
  VT_CU(cuDeviceGet(&b, peer));
  VT_CU(cuDeviceCanAccessPeer(&ok, a, b));
  if (!ok) return false;
  activate(peer);
  CUcontext peer_ctx = nullptr;
  VT_CU(cuCtxGetCurrent(&peer_ctx));
  activate(device);
  CUresult r = driver().cuCtxEnablePeerAccess(peer_ctx, 0);
  if (r != CUDA_SUCCESS && r != CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED) throw_cuda_error(r, "cuCtxEnablePeerAccess");
  return true;
}

}  // namespace vt::cuda
