// Finding and loading libcublasLt at run time (see blas_lt_api.h for the search order).
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "cuda/blas.h"
#include "cuda/blas_lt_api.h"

namespace vt::cuda {

namespace {

std::mutex g_dirs_mu;
std::vector<std::string> g_dirs;  // from Python's sys.path

// Where pip puts cuBLASLt inside site-packages: CUDA 13 wheels group every library under nvidia/cu13/lib,
// CUDA 12 wheels (nvidia-cublas-cu12) use nvidia/cublas/lib.
constexpr const char* kWheelPaths[] = {"nvidia/cu13/lib/libcublasLt.so.13", "nvidia/cublas/lib/libcublasLt.so.12",
                                       "nvidia/cublas/lib/libcublasLt.so.13"};
constexpr const char* kSonames[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};

// site-packages of this very module: <site-packages>/vibetensor/_C*.so -> <site-packages>.
std::string our_site_packages() {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&our_site_packages), &info) || !info.dli_fname) return {};
  std::string p = info.dli_fname;
  for (int up = 0; up < 2; up++) {
    size_t slash = p.rfind('/');
    if (slash == std::string::npos) return {};
    p.resize(slash);
  }
  return p;
}

// Opens `where` and resolves every entry point; on failure appends the reason to `why` and returns false.
bool try_load(const std::string& where, lt::Api& a, std::string& why) {
  void* lib = dlopen(where.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* err = dlerror();
    why += "\n  " + where + ": " + (err ? err : "cannot be opened");
    return false;
  }
  lt::Api t;
  std::string missing;
#define VT_RESOLVE_LT(name, args)                                     \
  t.name = reinterpret_cast<decltype(t.name)>(dlsym(lib, #name));     \
  if (!t.name) missing += " " #name;
  VT_CUBLASLT_FUNCS(VT_RESOLVE_LT)
#undef VT_RESOLVE_LT
  if (!missing.empty()) {
    why += "\n  " + where + ": lacks" + missing;
    dlclose(lib);
    return false;
  }
  t.cublasLtGetVersion = reinterpret_cast<decltype(t.cublasLtGetVersion)>(dlsym(lib, "cublasLtGetVersion"));
  t.cublasLtGetStatusName = reinterpret_cast<decltype(t.cublasLtGetStatusName)>(dlsym(lib, "cublasLtGetStatusName"));
  t.cublasLtGetStatusString =
      reinterpret_cast<decltype(t.cublasLtGetStatusString)>(dlsym(lib, "cublasLtGetStatusString"));
  t.loaded = true;
  t.path = where;
  char resolved[4096];
  if (dlinfo(lib, RTLD_DI_ORIGIN, resolved) == 0 && where.find('/') == std::string::npos)
    t.path = std::string(resolved) + "/" + where;
  if (t.cublasLtGetVersion) t.path += " (version " + std::to_string(t.cublasLtGetVersion()) + ")";
  a = std::move(t);
  return true;
}

lt::Api load() {
  lt::Api a;
  std::string why;
  if (const char* env = std::getenv("VIBETENSOR_CUBLASLT_LIBRARY"); env && *env) {  // the user's choice is final
    if (std::string(env) == "none") {
      a.why = "disabled by VIBETENSOR_CUBLASLT_LIBRARY=none";
    } else if (!try_load(env, a, why)) {
      a.why = "VIBETENSOR_CUBLASLT_LIBRARY=" + std::string(env) + " could not be loaded:" + why;
    }
    return a;
  }
  std::vector<std::string> roots;
  if (std::string site = our_site_packages(); !site.empty()) roots.push_back(site);
  {
    std::lock_guard<std::mutex> g(g_dirs_mu);
    for (const std::string& d : g_dirs)
      if (!d.empty() && std::find(roots.begin(), roots.end(), d) == roots.end()) roots.push_back(d);
  }
  for (const std::string& root : roots)
    for (const char* rel : kWheelPaths) {
      std::string path = root + "/" + rel;
      if (access(path.c_str(), R_OK) != 0) continue;  // only existing files are worth a line in `why`
      if (try_load(path, a, why)) return a;
    }
  for (const char* name : kSonames)
    if (try_load(name, a, why)) return a;
  a.why = "libcublasLt was not found (pip install nvidia-cublas-cu12, or set VIBETENSOR_CUBLASLT_LIBRARY); tried:" +
          why;
  return a;
}

}  // namespace

const lt::Api& lt::api() {
  static lt::Api* a = new lt::Api(load());  // leaked: plans may be destroyed during interpreter shutdown
  return *a;
}

void lt::throw_status(cublasStatus_t s, const char* call) {
  const Api& a = api();
  const char* name = a.cublasLtGetStatusName ? a.cublasLtGetStatusName(s) : nullptr;
  const char* text = a.cublasLtGetStatusString ? a.cublasLtGetStatusString(s) : nullptr;
  VT_THROW(Error, "cuBLASLt error ", name ? name : "CUBLAS_STATUS_?", " (", s, ") in ", call,
           text ? std::string(": ") + text : std::string());
}

bool cublaslt_available() { return lt::api().loaded; }
std::string cublaslt_path() { return lt::api().path; }
std::string cublaslt_unavailable_reason() { return lt::api().why; }

void set_blas_search_dirs(std::vector<std::string> dirs) {
  std::lock_guard<std::mutex> g(g_dirs_mu);
  g_dirs = std::move(dirs);
}

}  // namespace vt::cuda
