// The CPU thread pool driven from several threads at once (Python threads running big ops do this): every
// parallel_for must cover its range exactly once with its own function, whatever job ran just before it.
// Like test_dispatch_stress, also run under ThreadSanitizer by .ci/run.
#include <atomic>
#include <thread>
#include <vector>

#include "check.h"
#include "core/parallel.h"

using namespace vt;

TEST(concurrent_parallel_for_covers_each_range_once) {
  set_num_threads(4);  // workers even on a 2-core machine, so jobs overlap with stragglers of the last one
  std::atomic<int> bad{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; c++)
    callers.emplace_back([&, c] {
      for (int round = 0; round < 500; round++) {
        // sizes alternate between many chunks and two, so a late worker of a big job meets a small one
        int64_t n = (round + c) % 2 ? 8 * kParallelGrain : 2 * kParallelGrain;
        std::vector<uint8_t> hits(n, 0);
        parallel_for(0, n, kParallelGrain, [&](int64_t b, int64_t e) {
          if (b < 0 || e > n || b > e) { bad++; return; }
          for (int64_t i = b; i < e; i++) hits[i]++;
        });
        for (int64_t i = 0; i < n; i++)
          if (hits[i] != 1) { bad++; break; }
      }
    });
  for (auto& t : callers) t.join();
  CHECK(bad.load() == 0);
}
