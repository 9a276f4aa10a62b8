#include "node/work.h"

namespace vt::node {

napi_value Scheduler::rejected(napi_env env, const CapturedError& e) {
  napi_deferred d;
  napi_value promise;
  check(napi_create_promise(env, &d, &promise));
  check(napi_reject_deferred(env, d, make_error(env, e)));
  return promise;
}

napi_value Scheduler::submit(napi_env env, std::unique_ptr<Job> job, bool run_inline) {
  napi_value promise;
  check(napi_create_promise(env, &job->deferred, &promise));
  // A small random job still waits behind random jobs already issued, to keep their order.
  if (job->random && (random_busy_ || !random_queue_.empty())) run_inline = false;
  if (run_inline) {
    try {
      job->execute();
    } catch (...) {
      job->failed = true;
      job->error = capture_current_exception();
    }
    settle(env, std::move(job));
    return promise;
  }
  if (job->random) random_queue_.push_back(std::move(job));
  else queue_.push_back(std::move(job));
  update_queued();
  pump(env);
  return promise;
}

void Scheduler::set_max_inflight(napi_env env, int64_t n) {
  VT_CHECK_VALUE(n >= 1, "the cap on in-flight operations must be at least 1, got ", n);
  stats_.max = n;
  pump(env);
}

void Scheduler::pump(napi_env env) {
  while (stats_.current < stats_.max) {
    std::unique_ptr<Job> next;
    if (!random_busy_ && !random_queue_.empty()) {
      next = std::move(random_queue_.front());
      random_queue_.pop_front();
      random_busy_ = true;
    } else if (!queue_.empty()) {
      next = std::move(queue_.front());
      queue_.pop_front();
    } else {
      break;
    }
    start(env, next.release());  // owned by the async work until run_complete
  }
  update_queued();
}

void Scheduler::start(napi_env env, Job* job) {
  napi_value name = make_string(env, "vibetensor");
  napi_status s = napi_create_async_work(env, nullptr, name, &run_execute, &run_complete, job, &job->work);
  if (s == napi_ok) s = napi_queue_async_work(env, job->work);
  if (s != napi_ok) {
    // Not started (the env is going away): answer the Promise now rather than leave it pending forever.
    if (job->work) napi_delete_async_work(env, job->work);
    job->work = nullptr;
    if (job->random) random_busy_ = false;
    job->failed = true;
    job->error = {ErrorKind::Error, "could not queue work on the Node thread pool"};
    settle(env, std::unique_ptr<Job>(job));
    return;
  }
  stats_.current++;
  if (stats_.current > stats_.peak) stats_.peak = stats_.current;
}

void Scheduler::run_execute(napi_env, void* data) {
  Job* job = static_cast<Job*>(data);
  try {
    job->execute();
  } catch (...) {
    job->failed = true;
    job->error = capture_current_exception();
  }
}

void Scheduler::run_complete(napi_env env, napi_status status, void* data) {
  std::unique_ptr<Job> job(static_cast<Job*>(data));
  napi_delete_async_work(env, job->work);
  job->work = nullptr;
  Scheduler& s = scheduler(env);
  s.stats_.current--;
  s.stats_.completed++;
  if (job->random) s.random_busy_ = false;
  if (status == napi_cancelled && !job->failed) {
    job->failed = true;
    job->error = {ErrorKind::Error, "the operation was cancelled"};
  }
  s.settle(env, std::move(job));
  s.pump(env);
}

void Scheduler::settle(napi_env env, std::unique_ptr<Job> job) {
  napi_value value = nullptr;
  if (!job->failed) {
    try {
      value = job->result(env);
    } catch (const NapiFailure&) {
      // A JS exception from building the result: hand it to the Promise instead of leaving it pending.
      napi_value exc;
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending && napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
        job->release(env);
        napi_reject_deferred(env, job->deferred, exc);
        return;
      }
      job->failed = true;
      job->error = {ErrorKind::Error, "internal Node-API call failed while building the result"};
    } catch (...) {
      job->failed = true;
      job->error = capture_current_exception();
    }
  }
  job->release(env);
  if (job->failed) napi_reject_deferred(env, job->deferred, make_error(env, job->error));
  else napi_resolve_deferred(env, job->deferred, value);
}

}  // namespace vt::node
