// The sum of exp(x - m) over a contiguous float row, as vector code (vexp, not libm): softmax's and
// cross-entropy's inner loop (cpu/softmax.cpp, cross_entropy.cpp); and exp over a block (attention.cpp). Exps
// are summed in float lanes over blocks of kSumBlock elements, the blocks in float64. Inline: each caller's
// AVX2 copy gets 32-byte vectors.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

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

// x <- exp(x) over n contiguous floats (vexp: -inf gives 0): attention's score blocks (cpu/attention.cpp),
// exponentiated whole rather than row by row, since its rows are short and a row's chain of max, exp and
// sum is latency-bound; cross-entropy's gradient rows.
template <int Bytes> VT_ALWAYS_INLINE void exp_inplace_vec(float* x, int64_t n) {
  using V = typename Simd<float, Bytes>::type;
  constexpr int64_t W = Bytes / sizeof(float);
  int64_t j = 0;
  for (; j + W <= n; j += W) {
    V e = vexp(vload<V>(x + j));
    std::memcpy(x + j, &e, sizeof(V));
  }
  if (j < n) {  // the tail in one padded vector
    V t = vsplat<V>(-INFINITY);
    std::memcpy(&t, x + j, size_t(n - j) * sizeof(float));
    V e = vexp(t);
    std::memcpy(x + j, &e, size_t(n - j) * sizeof(float));
  }
}
VT_TARGET_AVX2 inline void exp_inplace_avx2(float* x, int64_t n) { exp_inplace_vec<32>(x, n); }
inline void exp_inplace(float* x, int64_t n) {
  if (use_avx2()) exp_inplace_avx2(x, n);
  else exp_inplace_vec<16>(x, n);
}
inline void exp_inplace(double* x, int64_t n) {  // float64: libm
  for (int64_t j = 0; j < n; j++) x[j] = std::exp(x[j]);
}

// A row's max (NaN anywhere gives NaN) and sum by the vector folds: short rows folded by a scalar loop are
// one latency-bound chain each (and a scalar max compiles to branches).
template <class T> T row_max(const T* x, int64_t n) {
  const T inf = std::numeric_limits<T>::infinity();
  return fold_run<T, T>(-inf, -inf, reinterpret_cast<const char*>(x), sizeof(T), n, pick_max);
}
template <class T> T row_sum(const T* x, int64_t n) {
  return fold_run<T, T>(T(0), T(0), reinterpret_cast<const char*>(x), sizeof(T), n,
                        [](auto a, auto v) VT_FOLD { return a + v; });
}

}  // namespace vt::reduce
