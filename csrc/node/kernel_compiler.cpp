// GPU kernels for ops called from Node. The core compiles a kernel it lacks through a hook, which Python's
// vibetensor.kernels installs in a Python process; the kernels are Triton's, and Triton lives in Python. Here
// the hook runs `PYTHON -m vibetensor.kernels KEY --arch N --out FILE` and registers the cubin it writes
// (Triton's disk cache makes a key compile once per machine). js/lib/python.js picks PYTHON.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/device.h"
#include "cuda/kernel_library.h"
#include "node/bindings.h"
#include "node/state.h"

extern char** environ;

namespace vt::node {

namespace {

std::mutex g_mu;
std::string g_python;  // the interpreter with vibetensor installed; empty: no compiler

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string last_line(const std::string& text) {
  size_t end = text.find_last_not_of("\n ");
  if (end == std::string::npos) return "";
  size_t start = text.rfind('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  return text.substr(start, end + 1 - start);
}

struct TempFile {  // a file name for the child to write, removed when done
  std::string path;
  TempFile() {
    char name[] = "/tmp/vibetensor-kernel-XXXXXX";
    int fd = mkstemp(name);
    VT_CHECK(fd >= 0, "compiling a GPU kernel: cannot create a temporary file in /tmp");
    close(fd);
    path = name;
  }
  ~TempFile() { unlink(path.c_str()); }
};

// Runs the compiler for `key` and sm_`arch`: the kernel's spec (cubin included), or a core error with the
// compiler's last words.
cuda::KernelSpec run_compiler(const std::string& key, int arch) {
  std::string python;
  {
    std::lock_guard<std::mutex> g(g_mu);
    python = g_python;
  }
  VT_CHECK(!python.empty(), "no GPU kernel '", key, "' is registered and no compiler is set (the JS package ",
           "sets one when it loads; VBT_NODE_PYTHON names the Python with vibetensor installed)");
  TempFile cubin, log;
  int out[2];
  // close-on-exec: a compile running beside this one must not inherit our pipe (its end would hold ours open)
  VT_CHECK(pipe2(out, O_CLOEXEC) == 0, "compiling GPU kernel '", key, "': pipe() failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log.path.c_str(), O_WRONLY | O_TRUNC, 0600);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  std::string arch_s = std::to_string(arch);
  std::vector<std::string> words = {python, "-m", "vibetensor.kernels", key, "--arch", arch_s, "--out", cubin.path};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, python.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  std::string stdout_text;
  if (rc == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) stdout_text.append(buf, size_t(n));
  }
  close(out[0]);
  VT_CHECK(rc == 0, "compiling GPU kernel '", key, "': cannot run ", python, " (", std::strerror(rc), ")");
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string last = last_line(read_file(log.path));
    VT_CHECK(false, "compiling GPU kernel '", key, "' with ", python, " failed",
             WIFEXITED(status) ? " (exit code " + std::to_string(WEXITSTATUS(status)) + ")" : " (killed)", ": ",
             last.empty() ? "no message" : last);
  }
  // The last line: "entry num_warps shared_bytes scratch_pointers"
  std::istringstream line(last_line(stdout_text));
  cuda::KernelSpec s;
  s.key = key;
  VT_CHECK(line >> s.name >> s.num_warps >> s.shared_bytes >> s.trailing_null_ptrs, "compiling GPU kernel '", key,
           "': the compiler printed '", stdout_text, "', not 'entry num_warps shared scratch'");
  s.cubin = read_file(cubin.path);
  VT_CHECK(!s.cubin.empty(), "compiling GPU kernel '", key, "': the compiler wrote no cubin");
  return s;
}

void compile_hook(const std::string& key) {
  const cuda::DeviceProperties& p = cuda::properties(cuda::current_device());
  cuda::register_kernel(run_compiler(key, p.major * 10 + p.minor));
}

struct CompileJob : Job {
  std::string key;
  int arch = 0;
  cuda::KernelSpec spec;
  void execute() override { spec = run_compiler(key, arch); }
  napi_value result(napi_env env) override {
    napi_value o = make_object(env);
    set(env, o, "name", make_string(env, spec.name));
    set(env, o, "numWarps", make_int(env, spec.num_warps));
    set(env, o, "sharedBytes", make_int(env, spec.shared_bytes));
    set(env, o, "scratchPointers", make_int(env, spec.trailing_null_ptrs));
    set(env, o, "cubinBytes", make_int(env, int64_t(spec.cubin.size())));
    return o;
  }
};

}  // namespace

void bind_kernel_compiler(napi_env env, napi_value exports) {
  // _setKernelCompiler(python): CUDA ops compile their missing kernels with that interpreter.
  add_function(env, exports, "_setKernelCompiler", [](napi_env env, napi_callback_info info) -> napi_value {
    return guarded(env, [&] {
      CallInfo ci(env, info);
      std::string python = get_string(env, ci.arg(0));
      VT_CHECK_VALUE(!python.empty(), "_setKernelCompiler: expected the path of a Python interpreter");
      {
        std::lock_guard<std::mutex> g(g_mu);
        g_python = python;
      }
      cuda::set_compile_hook(&compile_hook);
      return undefined(env);
    });
  });
  // _compileKernel(key, arch): the compiler's result for sm_<arch> without registering it (no GPU needed):
  // a Promise of {name, numWarps, sharedBytes, scratchPointers, cubinBytes}.
  add_function(env, exports, "_compileKernel", [](napi_env env, napi_callback_info info) -> napi_value {
    return promise_guarded(env, [&] {
      CallInfo ci(env, info);
      auto job = std::make_unique<CompileJob>();
      job->key = get_string(env, ci.arg(0));
      int64_t arch = 0;
      VT_CHECK_TYPE(get_int(env, ci.arg(1), arch) && arch > 0, "_compileKernel: expected an architecture such as 90");
      job->arch = int(arch);
      return state(env).scheduler.submit(env, std::move(job), false);
    });
  });
}

}  // namespace vt::node
