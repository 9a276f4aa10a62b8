#include "cuda/kernel_library.h"

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace vt::cuda {

namespace {

// Registered kernels live for the process; the map is read far more than written.
struct Library {
  std::shared_mutex mu;
  std::unordered_map<std::string, std::unique_ptr<Kernel>> kernels;
};
Library& lib() {
  static Library* l = new Library();
  return *l;
}
std::atomic<CompileHook> g_hook{nullptr};
std::mutex g_load_mu;  // module loads (rare) are serialised

}  // namespace

const Kernel* find_kernel(const std::string& key) {
  Library& l = lib();
  std::shared_lock<std::shared_mutex> g(l.mu);
  auto it = l.kernels.find(key);
  return it == l.kernels.end() ? nullptr : it->second.get();
}

void register_kernel(KernelSpec spec) {
  VT_CHECK_VALUE(!spec.cubin.empty() && !spec.name.empty(), "register_kernel: '", spec.key,
                 "' needs a cubin and an entry point name");
  Library& l = lib();
  std::unique_lock<std::shared_mutex> g(l.mu);
  std::string key = spec.key;
  if (!l.kernels.count(key)) l.kernels[key] = std::make_unique<Kernel>(std::move(spec));
}

void set_compile_hook(CompileHook hook) { g_hook.store(hook); }

const Kernel& kernel(const std::string& key) {
  if (const Kernel* k = find_kernel(key)) return *k;
  // No lock around compiling: the hook takes the GIL, which serialises it, and holding a lock while
  // waiting for the GIL could deadlock with a thread that holds the GIL. A duplicate compile is harmless.
  CompileHook hook = g_hook.load();
  VT_CHECK(hook, "no GPU kernel '", key, "' is registered and no compiler is available (import vibetensor.kernels)");
  hook(key);
  const Kernel* k = find_kernel(key);
  VT_CHECK(k, "compiling GPU kernel '", key, "' did not register it");
  return *k;
}

std::vector<std::string> kernel_keys() {
  Library& l = lib();
  std::shared_lock<std::shared_mutex> g(l.mu);
  std::vector<std::string> out;
  for (auto& [k, v] : l.kernels) out.push_back(k);
  return out;
}

CUfunction Kernel::function(int device) const {
  VT_CHECK(device >= 0 && device < kMaxDevices, "device index ", device, " out of range");
  if (CUfunction f = functions_[size_t(device)].load(std::memory_order_acquire)) return f;
  activate(device);
  std::lock_guard<std::mutex> g(g_load_mu);  // only the first launch on a device gets here
  if (CUfunction f = functions_[size_t(device)].load(std::memory_order_relaxed)) return f;
  CUmodule mod;
  VT_CU(cuModuleLoadData(&mod, spec_.cubin.data()));
  CUfunction fn;
  VT_CU(cuModuleGetFunction(&fn, mod, spec_.name.c_str()));
  int regs = 0;  // querying an attribute makes a lazily loaded function resident (see load())
  VT_CU(cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, fn));
  if (spec_.shared_bytes > 48 * 1024)
    VT_CU(cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, spec_.shared_bytes));
  modules_[size_t(device)] = mod;
  functions_[size_t(device)].store(fn, std::memory_order_release);
  return fn;
}

void Kernel::launch(uint32_t gx, uint32_t gy, uint32_t gz, std::vector<KernelArg> args, const Stream& s) const {
  if (!gx || !gy || !gz) return;
  CUfunction fn = function(s.device);
  // cuLaunchKernel takes a pointer to each argument's value.
  for (int i = 0; i < spec_.trailing_null_ptrs; i++) args.push_back(KernelArg::ptr(nullptr));
  std::vector<void*> params(args.size());
  for (size_t i = 0; i < args.size(); i++) params[i] = &args[i].u;
  activate(s.device);
  VT_CU(cuLaunchKernel(fn, gx, gy, gz, uint32_t(32 * spec_.num_warps), 1, 1, uint32_t(spec_.shared_bytes),
                       s.handle, params.data(), nullptr));
}

}  // namespace vt::cuda
