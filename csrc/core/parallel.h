// A small thread pool for CPU kernels. Work below the grain size (or inside another parallel region)
// runs inline on the caller, so small ops never pay for a thread handoff.
#pragma once
#include <cstdint>
#include <functional>

namespace vt {

constexpr int64_t kParallelGrain = 32768;  // elements: below this an op stays single-threaded

int get_num_threads();
void set_num_threads(int n);  // 1 disables threading
bool in_parallel_region();
// Calls f(chunk_begin, chunk_end) over disjoint chunks covering [begin, end), possibly concurrently.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& f);

}  // namespace vt
