// Heavy calls off the event loop: each is a Job run through napi_async_work on libuv's thread pool and
// answered with a Promise. A cap on jobs in flight (VBT_NODE_MAX_INFLIGHT_OPS, set from js/lib/config.js)
// queues further jobs instead of failing; small CPU calls skip the pool and run inline.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>

#include "node/napi.h"

namespace vt::node {

struct Job {
  virtual ~Job() = default;
  // Worker thread (or the main thread for an inline job): no JS here. May throw a core error.
  virtual void execute() = 0;
  // Main thread, after execute() succeeded: the value the Promise resolves to.
  virtual napi_value result(napi_env env) = 0;
  // Main thread, before the job is deleted: drop JS references it held.
  virtual void release(napi_env) {}

  // Jobs that draw random numbers run one at a time in submission order, so a seeded sequence of
  // random calls gives the same tensors however many are in flight (the generator hands out counter
  // ranges in the order ops ask).
  bool random = false;

  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
  bool failed = false;
  CapturedError error;
};

struct InflightStats {
  int64_t current = 0;  // handed to the thread pool and not yet settled
  int64_t peak = 0;     // most ever at once (since the last reset)
  int64_t queued = 0;   // waiting for a slot
  int64_t max = 1024;   // the cap
  uint64_t completed = 0;
};

class Scheduler {
 public:
  // Returns a Promise for the job's result. Inline jobs run now, on this thread (their Promise is settled
  // before this returns); others go to the pool, or wait in the queue while the cap is reached.
  napi_value submit(napi_env env, std::unique_ptr<Job> job, bool run_inline);
  // A job that failed before it could be submitted (bad arguments): a rejected Promise, for the same
  // error-handling path as failures inside the op.
  static napi_value rejected(napi_env env, const CapturedError& e);

  void set_max_inflight(napi_env env, int64_t n);  // n >= 1; a larger cap starts queued jobs at once
  const InflightStats& stats() const { return stats_; }
  // Whether random jobs are in the pool or queued (a sync random call now would draw ahead of them).
  bool random_pending() const { return random_busy_ || !random_queue_.empty(); }
  void reset_peak() { stats_.peak = stats_.current; }

 private:
  static void run_execute(napi_env env, void* data);
  static void run_complete(napi_env env, napi_status status, void* data);
  void start(napi_env env, Job* job);
  void pump(napi_env env);
  void settle(napi_env env, std::unique_ptr<Job> job);
  void update_queued() { stats_.queued = int64_t(queue_.size() + random_queue_.size()); }

  std::deque<std::unique_ptr<Job>> queue_;
  std::deque<std::unique_ptr<Job>> random_queue_;
  bool random_busy_ = false;  // a random job is in the pool
  InflightStats stats_;
};

Scheduler& scheduler(napi_env env);  // this env's (see state.h)

// For bindings that return a Promise: an error before the job exists rejects it instead of throwing, so
// callers handle every failure of an async call in one place.
template <class F>
napi_value promise_guarded(napi_env env, F&& fn) {
  try {
    return fn();
  } catch (const NapiFailure&) {
    return nullptr;  // a JS exception is pending
  } catch (...) {
    return Scheduler::rejected(env, capture_current_exception());
  }
}

}  // namespace vt::node
