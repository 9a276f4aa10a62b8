#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#ifdef __linux__
#include <sched.h>
#endif

namespace vt {
namespace {

thread_local bool tls_in_parallel = false;

int default_threads() {
  if (const char* s = std::getenv("VIBETENSOR_NUM_THREADS")) {
    int n = std::atoi(s);
    if (n > 0) return n;
  }
#ifdef __linux__
  // The CPUs this process may run on (taskset, cgroups, a launcher's pinning), not every core of the machine.
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spin-then-sleep: a thread asleep on a condition variable takes tens of microseconds to wake (a futex round
// trip), as long as a small op's whole run (two threads made a 256K-element add 40% slower than one). So a
// worker polls for the next job, and the caller for the workers to finish, up to kSpin before blocking.
constexpr auto kSpin = std::chrono::microseconds(50);
template <class Done> void spin_until(Done done) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1; !done(); i++) {
    cpu_relax();
    if (i % 256 == 0 && std::chrono::steady_clock::now() - start > kSpin) return;
  }
}

// One job at a time: parallel regions do not nest (inner ones run inline), and concurrent callers from
// different Python threads take turns through job_mu_.
class Pool {
 public:
  explicit Pool(int n) : nthreads_(n) {
    for (int i = 1; i < n; i++) workers_.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return nthreads_; }

  void run(int64_t nchunks, const std::function<void(int64_t)>& chunk) {
    std::lock_guard<std::mutex> job(job_mu_);
    {
      std::lock_guard<std::mutex> g(mu_);
      fn_ = &chunk;
      next_.store(0);
      total_ = nchunks;
      pending_ = nchunks;
      error_ = nullptr;
      generation_++;
      published_.store(generation_, std::memory_order_release);
    }
    cv_.notify_all();
    drain();
    spin_until([&] {
      return pending_.load(std::memory_order_acquire) == 0 && active_.load(std::memory_order_acquire) == 0;
    });
    std::unique_lock<std::mutex> g(mu_);
    // Also wait for the workers that joined to leave drain(): one still looping there would read the next
    // job's next_/total_ while they are reset, and could take a chunk against this job's count (a data race,
    // found by ThreadSanitizer on csrc/tests/test_parallel_stress.cpp).
    done_cv_.wait(g, [&] { return pending_ == 0 && active_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void drain() {
    tls_in_parallel = true;
    for (;;) {
      int64_t i = next_.fetch_add(1);
      if (i >= total_) break;
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> g(mu_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard<std::mutex> g(mu_);
      if (--pending_ == 0) done_cv_.notify_all();
    }
    tls_in_parallel = false;
  }
  void work() {
    uint64_t seen = 0;
    for (;;) {
      spin_until([&] { return published_.load(std::memory_order_acquire) != seen || stop_.load(); });
      {
        std::unique_lock<std::mutex> g(mu_);
        cv_.wait(g, [&] { return stop_ || (generation_ != seen && fn_ != nullptr); });
        if (stop_) return;
        seen = generation_;
        active_++;
      }
      drain();
      std::lock_guard<std::mutex> g(mu_);
      if (--active_ == 0) done_cv_.notify_all();
    }
  }

  int nthreads_;
  std::vector<std::thread> workers_;
  std::mutex job_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  std::atomic<int64_t> next_{0};
  int64_t total_ = 0;
  // changed under mu_ (the condition variables' predicates read them there); atomic so spinners can poll them
  std::atomic<int64_t> pending_{0};
  std::atomic<int> active_{0};  // workers inside drain()
  uint64_t generation_ = 0;
  std::atomic<uint64_t> published_{0};  // generation_, for the spinning workers
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
};

std::mutex g_pool_mu;
Pool* g_pool = nullptr;  // leaked at exit: joining threads during static destruction can deadlock
int g_requested = 0;

Pool& pool() {
  std::lock_guard<std::mutex> g(g_pool_mu);
  if (!g_pool) g_pool = new Pool(g_requested > 0 ? g_requested : default_threads());
  return *g_pool;
}

}  // namespace

int get_num_threads() {
  std::lock_guard<std::mutex> g(g_pool_mu);
  return g_pool ? g_pool->size() : (g_requested > 0 ? g_requested : default_threads());
}

void set_num_threads(int n) {
  std::lock_guard<std::mutex> g(g_pool_mu);
  g_requested = std::max(1, n);
  // The old pool is left idle, not destroyed: another thread may be inside it right now.
  if (g_pool && g_pool->size() != g_requested) g_pool = nullptr;
}

bool in_parallel_region() { return tls_in_parallel; }

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& f) {
  int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (n <= grain || tls_in_parallel) {
    f(begin, end);
    return;
  }
  Pool& p = pool();
  int64_t nchunks = std::min<int64_t>(p.size(), (n + grain - 1) / grain);
  if (nchunks <= 1) {
    f(begin, end);
    return;
  }
  int64_t step = (n + nchunks - 1) / nchunks;
  p.run(nchunks, [&](int64_t i) {
    int64_t b = begin + i * step, e = std::min(end, b + step);
    if (b < e) f(b, e);
  });
}

}  // namespace vt
