// The sum of exp(x - m) over a contiguous float row, as vector code (vexp, not libm): softmax's and
// cross-entropy's inner loop (cpu/softmax.cpp, cpu/cross_entropy.cpp). Exps are summed in float lanes
// over blocks of kSumBlock elements, the blocks in float64. Inline: each caller's AVX2 copy gets 32-byte
// vectors.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/reduce_fold.h"

namespace vt::reduce {

constexpr int64_t kSumBlock = 1024;

// sum of exp(x[j] - m), j < n; with Store, y[j] receives each exp(x[j] - m)
template <int Bytes, bool Store>
VT_ALWAYS_INLINE double exp_sum_vec(const float* x, float* y, int64_t n, float m) {
  using V = typename Simd<float, Bytes>::type;
  constexpr int64_t W = Bytes / sizeof(float);
  double sum = 0;
  for (int64_t b = 0; b < n; b += kSumBlock) {
    int64_t end = std::min(n, b + kSumBlock), j = b;
    V acc = {};
    for (; j + W <= end; j += W) {
      V e = vexp(vload<V>(x + j) - m);
      if constexpr (Store) std::memcpy(y + j, &e, sizeof(V));
      acc += e;
    }
    for (; j < end; j++) {  // one lane; exp(-inf) = 0 in the others
      V t = vsplat<V>(-INFINITY);
      t[0] = x[j] - m;
      V e = vexp(t);
      if constexpr (Store) y[j] = e[0];
      acc += e;
    }
    sum += double(vfold_lanes(acc, [](V a, V c) VT_FOLD { return a + c; })[0]);
  }
  return sum;
}

}  // namespace vt::reduce
