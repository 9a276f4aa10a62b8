// Per-environment state of the addon (the main thread and each worker_thread load it separately): the
// class constructors JS sees, the scheduler, and the inline threshold.
#pragma once
#include "node/work.h"

namespace vt::node {

// Calls whose tensors hold at most this many elements in all (on CPU) run inline on the event loop;
// larger ones go to the thread pool. The default matches the size above which the Python binding
// releases the GIL (csrc/python/args.cpp): the same "this is big enough to run elsewhere" line.
constexpr int64_t kDefaultInlineMaxElements = int64_t(1) << 16;

struct AddonState {
  napi_ref tensor_ctor = nullptr;
  napi_ref stream_ctor = nullptr;
  napi_ref event_ctor = nullptr;
  Scheduler scheduler;
  int64_t inline_max_elements = kDefaultInlineMaxElements;
};

AddonState& state(napi_env env);

}  // namespace vt::node
