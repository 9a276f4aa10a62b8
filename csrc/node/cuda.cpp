// vt.cuda in JS: devices, streams and events over csrc/cuda (the driver is loaded at run time, so without a
// GPU isAvailable() is false and everything else raises the core's one clear "CUDA is not available" error).
// Waiting for the GPU (synchronize) is a Job on the thread pool, never a block of the event loop.
#include <functional>
#include <iterator>
#include <memory>

#include "node/bindings.h"
#include "node/cuda_context.h"
#include "node/state.h"

namespace vt::node {

namespace {
using namespace vt::cuda;

int device_arg(napi_env env, napi_value v) {  // undefined/null -> -1, the current device
  if (is_nullish(env, v)) return -1;
  int64_t i;
  VT_CHECK_TYPE(get_int(env, v, i), "expected a device index, got ", js_type_name(env, v));
  return int(i);
}

template <class T>
T* unwrap_as(napi_env env, napi_value v, napi_ref ctor_ref, const char* what) {
  napi_value ctor;
  bool is = false;
  check(napi_get_reference_value(env, ctor_ref, &ctor));
  if (type_of(env, v) == napi_object) check(napi_instanceof(env, v, ctor, &is));
  void* p = nullptr;
  VT_CHECK_TYPE(is && napi_unwrap(env, v, &p) == napi_ok, "expected a cuda.", what, ", got ", js_type_name(env, v));
  return static_cast<T*>(p);
}

// ---- streams -----------------------------------------------------------------------------------------
napi_value wrap_stream(napi_env env, const Stream& s) {
  napi_value ctor, ext, obj;
  check(napi_get_reference_value(env, state(env).stream_ctor, &ctor));
  auto* held = new Stream(s);
  check(napi_create_external(env, held, [](napi_env, void* p, void*) { delete static_cast<Stream*>(p); }, nullptr, &ext));
  check(napi_new_instance(env, ctor, 1, &ext, &obj));
  return obj;
}
Stream& stream_of(napi_env env, napi_value v) { return *unwrap_as<Stream>(env, v, state(env).stream_ctor, "Stream"); }
Stream stream_or_current(napi_env env, napi_value v) {
  return is_nullish(env, v) ? current_stream(-1) : stream_of(env, v);
}

napi_value stream_construct(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    CallInfo ci(env, info);
    VT_CHECK_TYPE(ci.size() == 1 && type_of(env, ci.args[0]) == napi_external,
                  "cuda.Stream cannot be constructed directly: use cuda.streamFromPool() or cuda.currentStream()");
    void* p = nullptr;
    check(napi_get_value_external(env, ci.args[0], &p));
    // The external owns the copy it points at; the object gets its own.
    check(napi_wrap(env, ci.self, new Stream(*static_cast<Stream*>(p)),
                    [](napi_env, void* d, void*) { delete static_cast<Stream*>(d); }, nullptr, nullptr));
    return ci.self;
  });
}

// A Job that waits for the GPU on a pool thread.
struct WaitJob : Job {
  std::function<void()> wait;
  void execute() override { wait(); }
  napi_value result(napi_env env) override { return undefined(env); }
};
napi_value submit_wait(napi_env env, std::function<void()> wait) {
  auto job = std::make_unique<WaitJob>();
  job->wait = std::move(wait);
  return state(env).scheduler.submit(env, std::move(job), false);
}

template <class F>
napi_value stream_method(napi_env env, napi_callback_info info, F f) {
  return guarded(env, [&] {
    CallInfo ci(env, info);
    return f(ci, stream_of(env, ci.self));
  });
}

// ---- events ------------------------------------------------------------------------------------------
using EventPtr = std::shared_ptr<Event>;  // shared with a pending synchronize() job

EventPtr& event_of(napi_env env, napi_value v) { return *unwrap_as<EventPtr>(env, v, state(env).event_ctor, "Event"); }

// new cuda.Event({enableTiming, interprocess}); created on the device of its first record().
napi_value event_construct(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    CallInfo ci(env, info);
    bool timing = false, ipc = false;
    napi_value o = ci.arg(0);
    if (type_of(env, o) == napi_object) {
      napi_value t = property(env, o, "enableTiming"), i = property(env, o, "interprocess");
      if (!is_nullish(env, t)) timing = get_bool(env, t);
      if (!is_nullish(env, i)) ipc = get_bool(env, i);
    }
    check(napi_wrap(env, ci.self, new EventPtr(std::make_shared<Event>(timing, ipc)),
                    [](napi_env, void* d, void*) { delete static_cast<EventPtr*>(d); }, nullptr, nullptr));
    return ci.self;
  });
}

template <class F>
napi_value event_method(napi_env env, napi_callback_info info, F f) {
  return guarded(env, [&] {
    CallInfo ci(env, info);
    return f(ci, event_of(env, ci.self));
  });
}

napi_property_descriptor method(const char* name, napi_callback cb) {
  return {name, nullptr, cb, nullptr, nullptr, nullptr, napi_default, nullptr};
}
napi_property_descriptor prop(const char* name, napi_callback cb) {
  return {name, nullptr, nullptr, cb, nullptr, nullptr, napi_enumerable, nullptr};
}

void define_classes(napi_env env, napi_value cuda) {
  napi_property_descriptor sp[] = {
      prop("device", [](napi_env e, napi_callback_info i) {
        return stream_method(e, i, [&](CallInfo&, Stream& s) { return make_int(e, s.device); });
      }),
      prop("priority", [](napi_env e, napi_callback_info i) {
        return stream_method(e, i, [&](CallInfo&, Stream& s) { return make_int(e, s.priority); });
      }),
      prop("id", [](napi_env e, napi_callback_info i) {
        return stream_method(e, i, [&](CallInfo&, Stream& s) {
          napi_value r;
          check(napi_create_bigint_uint64(e, s.id(), &r));
          return r;
        });
      }),
      method("query", [](napi_env e, napi_callback_info i) {
        return stream_method(e, i, [&](CallInfo&, Stream& s) { return make_bool(e, s.query()); });
      }),
      method("synchronize", [](napi_env e, napi_callback_info i) {
        return stream_method(e, i, [&](CallInfo&, Stream& s) {
          Stream copy = s;
          return submit_wait(e, [copy] { copy.synchronize(); });
        });
      }),
      method("equals", [](napi_env e, napi_callback_info i) {
        return stream_method(e, i, [&](CallInfo& ci, Stream& s) { return make_bool(e, s == stream_of(e, ci.arg(0))); });
      }),
  };
  napi_value stream_cls;
  check(napi_define_class(env, "Stream", NAPI_AUTO_LENGTH, &stream_construct, nullptr, std::size(sp), sp, &stream_cls));
  check(napi_create_reference(env, stream_cls, 1, &state(env).stream_ctor));
  set(env, cuda, "Stream", stream_cls);

  napi_property_descriptor ep[] = {
      prop("recorded", [](napi_env e, napi_callback_info i) {
        return event_method(e, i, [&](CallInfo&, EventPtr& ev) { return make_bool(e, ev->recorded()); });
      }),
      method("record", [](napi_env e, napi_callback_info i) {
        return event_method(e, i, [&](CallInfo& ci, EventPtr& ev) {
          ev->record(stream_or_current(e, ci.arg(0)));
          return ci.self;
        });
      }),
      method("wait", [](napi_env e, napi_callback_info i) {  // the stream waits; the caller does not
        return event_method(e, i, [&](CallInfo& ci, EventPtr& ev) {
          ev->wait(stream_or_current(e, ci.arg(0)));
          return undefined(e);
        });
      }),
      method("query", [](napi_env e, napi_callback_info i) {
        return event_method(e, i, [&](CallInfo&, EventPtr& ev) { return make_bool(e, ev->query()); });
      }),
      method("synchronize", [](napi_env e, napi_callback_info i) {
        return event_method(e, i, [&](CallInfo&, EventPtr& ev) {
          EventPtr keep = ev;
          return submit_wait(e, [keep] { keep->synchronize(); });
        });
      }),
      method("elapsedTime", [](napi_env e, napi_callback_info i) {
        return event_method(e, i, [&](CallInfo& ci, EventPtr& ev) {
          return make_double(e, ev->elapsed_ms(*event_of(e, ci.arg(0))));
        });
      }),
  };
  napi_value event_cls;
  check(napi_define_class(env, "Event", NAPI_AUTO_LENGTH, &event_construct, nullptr, std::size(ep), ep, &event_cls));
  check(napi_create_reference(env, event_cls, 1, &state(env).event_ctor));
  set(env, cuda, "Event", event_cls);
}

#define VT_NODE_FN(...)                                                               \
  [](napi_env env, napi_callback_info info) -> napi_value {                           \
    return guarded(env, [&]() -> napi_value { CallInfo ci(env, info); __VA_ARGS__ }); \
  }

}  // namespace

void bind_cuda(napi_env env, napi_value exports) {
  napi_value c = make_object(env);
  set(env, exports, "cuda", c);
  add_function(env, c, "isAvailable", VT_NODE_FN(return make_bool(env, is_available());));
  add_function(env, c, "deviceCount", VT_NODE_FN(return make_int(env, device_count());));
  add_function(env, c, "whyUnavailable", VT_NODE_FN(return make_string(env, driver().why_unavailable);));
  add_function(env, c, "currentDevice", VT_NODE_FN(require_driver(); return make_int(env, current_device());));
  add_function(env, c, "setDevice", VT_NODE_FN(set_device(device_arg(env, ci.arg(0))); return undefined(env);));
  add_function(env, c, "synchronize", [](napi_env env, napi_callback_info info) {
    return promise_guarded(env, [&] {
      CallInfo ci(env, info);
      int d = resolve(device_arg(env, ci.arg(0)));
      return submit_wait(env, [d] { synchronize_device(d); });
    });
  });
  add_function(env, c, "deviceProperties", VT_NODE_FN({
    const DeviceProperties& p = properties(resolve(device_arg(env, ci.arg(0))));
    napi_value o = make_object(env);
    set(env, o, "name", make_string(env, p.name));
    set(env, o, "major", make_int(env, p.major));
    set(env, o, "minor", make_int(env, p.minor));
    set(env, o, "multiProcessorCount", make_int(env, p.multiprocessor_count));
    set(env, o, "totalMemory", make_int(env, int64_t(p.total_memory)));
    set(env, o, "pciBusId", make_string(env, p.pci_bus_id));
    return o;
  }));
  add_function(env, c, "streamFromPool", VT_NODE_FN({
    int64_t prio = 0;
    if (!is_nullish(env, ci.arg(1))) VT_CHECK_TYPE(get_int(env, ci.arg(1), prio), "streamFromPool: priority must be an integer");
    return wrap_stream(env, stream_from_pool(device_arg(env, ci.arg(0)), int(prio)));
  }));
  add_function(env, c, "currentStream", VT_NODE_FN(return wrap_stream(env, current_stream(device_arg(env, ci.arg(0))));));
  add_function(env, c, "defaultStream", VT_NODE_FN(return wrap_stream(env, default_stream(device_arg(env, ci.arg(0))));));
  add_function(env, c, "setCurrentStream", VT_NODE_FN(set_current_stream(stream_of(env, ci.arg(0))); return undefined(env);));
  define_classes(env, c);
}

}  // namespace vt::node
