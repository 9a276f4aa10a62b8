#include "cuda/device.h"

#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

namespace vt::cuda {

namespace {
thread_local int tls_device = 0;

std::once_flag g_ctx_once;
std::vector<CUcontext>* g_contexts = nullptr;  // primary contexts, retained for the process
std::vector<std::unique_ptr<std::once_flag>>* g_ctx_flags = nullptr;

CUcontext primary_context(int index) {
  std::call_once(g_ctx_once, [] {
    int n = device_count();
    g_contexts = new std::vector<CUcontext>(size_t(n), nullptr);
    g_ctx_flags = new std::vector<std::unique_ptr<std::once_flag>>();
    for (int i = 0; i < n; i++) g_ctx_flags->push_back(std::make_unique<std::once_flag>());
  });
  std::call_once(*(*g_ctx_flags)[size_t(index)], [index] {
    CUdevice dev;
    VT_CU(cuDeviceGet(&dev, index));
    VT_CU(cuDevicePrimaryCtxRetain(&(*g_contexts)[size_t(index)], dev));
  });
  return (*g_contexts)[size_t(index)];
}
}  // namespace

int device_count() { return is_available() ? driver().device_count : 0; }

int current_device() { return tls_device; }

int resolve(int index) {
  require_driver();
  if (index < 0) index = tls_device;
  int n = device_count();
  VT_CHECK_VALUE(index < n, "CUDA device ", index, " does not exist: this process sees ", n, " device",
                 (n == 1 ? "" : "s"), " (CUDA_VISIBLE_DEVICES selects which)");
  return index;
}

void activate(int index) {
  CUcontext ctx = primary_context(resolve(index));
  // Ask the driver, not a cache of our own: another library in the process (torch, the CUDA runtime) may have
  // made another context current since our last call (a cache said "current" and vt's work went to torch's
  // device). A thread-local read in the driver.
  CUcontext cur = nullptr;
  VT_CU(cuCtxGetCurrent(&cur));
  if (cur != ctx) VT_CU(cuCtxSetCurrent(ctx));
}

void set_device(int index) {
  index = resolve(index);
  activate(index);
  tls_device = index;
}

const DeviceProperties& properties(int index) {
  index = resolve(index);
  static std::mutex mu;
  static std::vector<std::unique_ptr<DeviceProperties>>* cache = new std::vector<std::unique_ptr<DeviceProperties>>();
  std::lock_guard<std::mutex> g(mu);
  if (cache->size() < size_t(device_count())) cache->resize(size_t(device_count()));
  auto& slot = (*cache)[size_t(index)];
  if (!slot) {
    auto p = std::make_unique<DeviceProperties>();
    CUdevice dev;
    VT_CU(cuDeviceGet(&dev, index));
    char name[256] = {0};
    VT_CU(cuDeviceGetName(name, sizeof(name) - 1, dev));
    p->name = name;
    VT_CU(cuDeviceGetAttribute(&p->major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
    VT_CU(cuDeviceGetAttribute(&p->minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev));
    VT_CU(cuDeviceGetAttribute(&p->multiprocessor_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
    VT_CU(cuDeviceGetAttribute(&p->max_shared_memory_per_block_optin,
                               CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev));
    VT_CU(cuDeviceTotalMem(&p->total_memory, dev));
    int domain = 0, bus = 0, device = 0;
    VT_CU(cuDeviceGetAttribute(&domain, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, dev));
    VT_CU(cuDeviceGetAttribute(&bus, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, dev));
    VT_CU(cuDeviceGetAttribute(&device, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, dev));
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%08x:%02x:%02x.0", domain, bus, device);
    p->pci_bus_id = buf;
    slot = std::move(p);
  }
  return *slot;
}

}  // namespace vt::cuda
