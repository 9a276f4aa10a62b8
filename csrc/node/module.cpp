// vibetensor.node: the native core for Node.js (js/ is its JS package). Context-aware: each worker_thread
// that loads it gets its own AddonState (classes, scheduler) over the one process-wide core.
#include <string>

#include "dispatch/dispatcher.h"
#include "node/bindings.h"
#include "node/state.h"

namespace vt::node {

AddonState& state(napi_env env) {
  void* p = nullptr;
  check(napi_get_instance_data(env, &p));
  return *static_cast<AddonState*>(p);
}

Scheduler& scheduler(napi_env env) { return state(env).scheduler; }

static napi_value init(napi_env env, napi_value exports) {
  return guarded(env, [&] {
    // Same rule as the Python module: a kernel that failed to register makes loading fail, loudly.
    std::vector<std::string> errors = registration_errors();
    if (!errors.empty()) {
      std::string msg = "vibetensor.node: kernel registration failed:";
      for (auto& e : errors) msg += "\n  " + e;
      throw Error(msg);
    }
    auto* st = new AddonState();
    check(napi_set_instance_data(env, st, [](napi_env e, void* p, void*) {
      auto* s = static_cast<AddonState*>(p);
      for (napi_ref r : {s->tensor_ctor, s->stream_ctor, s->event_ctor})
        if (r) napi_delete_reference(e, r);
      delete s;
    }, nullptr));
    bind_tensor(env, exports);
    bind_ops(env, exports);
    bind_cuda(env, exports);
    bind_kernel_compiler(env, exports);
    return exports;
  });
}

}  // namespace vt::node

NAPI_MODULE_INIT() { return vt::node::init(env, exports); }
