// The sum of exp(x - m) over a contiguous float row, as vector code (vexp, not libm): softmax's,
// cross-entropy's and attention's inner loop (cpu/softmax.cpp, cross_entropy.cpp, attention.cpp). Exps are summed in float lanes
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
    if (j < end) {  // the tail in one vector, padded with -inf (whose exp is 0): short rows are mostly tail
      const int64_t r = end - j;
      V t = vsplat<V>(-INFINITY);
      std::memcpy(&t, x + j, size_t(r) * sizeof(float));
      V e = vexp(t - m);
      if constexpr (Store) std::memcpy(y + j, &e, size_t(r) * sizeof(float));
      acc += e;
    }
    sum += double(vfold_lanes(acc, [](V a, V c) VT_FOLD { return a + c; })[0]);
  }
  return sum;
}

// y = softmax(x) over a contiguous float row (y may be x), returning the row's log-sum-exp: attention's rows
// (cpu/attention.cpp). NaN anywhere gives NaN throughout.
template <int Bytes> VT_ALWAYS_INLINE double softmax_lse_vec(const float* x, float* y, int64_t n) {
  const float m = fold_run_vec<Bytes>(-INFINITY, -INFINITY, reinterpret_cast<const char*>(x), sizeof(float), n, pick_max);
  const double sum = exp_sum_vec<Bytes, true>(x, y, n, m);
  const float inv = float(1.0 / sum);
  for (int64_t j = 0; j < n; j++) y[j] *= inv;
  return double(m) + std::log(sum);
}
VT_TARGET_AVX2 inline double softmax_lse_avx2(const float* x, float* y, int64_t n) {
  return softmax_lse_vec<32>(x, y, n);
}
inline double softmax_lse(const float* x, float* y, int64_t n) {
  return use_avx2() ? softmax_lse_avx2(x, y, n) : softmax_lse_vec<16>(x, y, n);
}

}  // namespace vt::reduce
