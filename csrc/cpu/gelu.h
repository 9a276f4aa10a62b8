// Exact (erf) GELU and its derivative in float32 without erf: x * Phi(x) and Phi(x) + x * phi(x), where Phi
// is the standard normal CDF, from two fitted polynomials and one exp. libm's erff is a call per element that
// no loop vectorises (our float GELU ran at ~7.5 ns an element, 13x slower than PyTorch's vectorised one);
// this runs as SSE2, AVX2+FMA or AVX-512 vectors (cpu/capability.h) and is as accurate as float32 needs:
// against float64 on 0.7M points over [-16, 16], GELU within 1.5e-6 relative where |GELU| > 1e-3, and both
// within 9% (GELU) and 18% (its derivative) of the tests' float32 tolerance (rtol 1e-5, atol 1e-6). On an
// AVX-512 EPYC, one thread: 0.76 ns an element (was 7.5; PyTorch 0.65-0.72).
//
//   |x| <= 1:  Phi(x) = 1/2 + x * A(x^2)             A: degree 4, least squares on [0, 1] (rel. error 1.2e-7)
//   |x| > 1:   Phi(-|x|) = e^(-x^2/2) * t * B(s)      t = 1 / (|x| + 3), s = t mapped from [1/17, 1/4] onto
//                                                    [-1, 1]; B: degree 6, Chebyshev fit of Phi(-a) e^(a^2/2)
//                                                    (a + 3) over a in [1, 14] (rel. error 1.3e-6, of a tail
//                                                    that is at most 0.16: 2e-7 of Phi)
//              Phi(|x|) = 1 - Phi(-|x|)
// Beyond |x| = 13.2 the exp gives 0 (vexp's floor), so GELU is exactly -0 or x there. The same generic code
// serves vectors and scalars (one lane), so strided, tail and contiguous elements of a float tensor get the same
// values. Float64 keeps libm's erf; half types compute in float and round once.
#pragma once
#include <cstdint>
#include <type_traits>

#include "cpu/reduce_fold.h"

namespace vt::gelu {

template <class V> VT_ALWAYS_INLINE V splat(float x) {
  if constexpr (std::is_same_v<V, float>) return x;
  else return reduce::vsplat<V>(x);
}

// Phi(x), and e^(-x^2/2) (the caller's phi(x) up to 1/sqrt(2 pi)).
template <class V> VT_ALWAYS_INLINE V cdf(V x, V& gauss) {
  V ax = x < splat<V>(0.0f) ? -x : x;  // NaN stays NaN (a comparison with NaN is false)
  V u = x * x;
  V a = splat<V>(9.535451681585982e-05f);
  a = a * u - 1.1713947169482708e-03f;
  a = a * u + 9.968344122171402e-03f;
  a = a * u - 6.648978590965271e-02f;
  a = a * u + 3.989422619342804e-01f;
  const V inner = 0.5f + x * a;
  const V t = 1.0f / (ax + 3.0f);
  const V s = (t - 0.15441176470588236f) * 10.461538461538462f;
  V b = splat<V>(6.3497936935164034e-06f);
  b = b * s - 4.179732932243496e-04f;
  b = b * s - 8.358795894309878e-04f;
  b = b * s + 9.409293532371521e-03f;
  b = b * s + 7.212573289871216e-02f;
  b = b * s + 2.7316680550575256e-01f;
  b = b * s + 6.928575038909912e-01f;
  gauss = reduce::vexp(u * -0.5f);
  const V tail = gauss * t * b;  // Phi(-|x|)
  const V outer = x < splat<V>(0.0f) ? tail : 1.0f - tail;
  return ax <= splat<V>(1.0f) ? inner : outer;
}

template <class V> VT_ALWAYS_INLINE V value(V x) {
  V gauss;
  return x * cdf(x, gauss);
}

template <class V> VT_ALWAYS_INLINE V derivative(V x) {
  V gauss;
  V p = cdf(x, gauss);
  return p + x * (gauss * 0.3989422804014327f);  // Phi(x) + x phi(x)
}

// Contiguous runs: y = gelu(x), and dx = dy * gelu'(x). Tails go through a vector with one live lane, so
// every element sees the same arithmetic.
template <int Bytes, bool Grad>
VT_ALWAYS_INLINE void run_vec(float* out, const float* x, const float* dy, int64_t n) {
  using V = typename reduce::Simd<float, Bytes>::type;
  constexpr int64_t W = Bytes / sizeof(float);
  auto one = [](V v, V g) VT_FOLD { return Grad ? g * derivative(v) : value(v); };
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    V r = one(reduce::vload<V>(x + i), Grad ? reduce::vload<V>(dy + i) : V{});
    std::memcpy(out + i, &r, sizeof(V));
  }
  for (; i < n; i++) {
    V v = {}, g = {};
    v[0] = x[i];
    if (Grad) g[0] = dy[i];
    out[i] = one(v, g)[0];
  }
}
// AVX2 with FMA: the polynomials are most of the work, and fused multiply-adds halve them.
template <bool Grad>
VT_TARGET_AVX2_FMA void run_avx2(float* out, const float* x, const float* dy, int64_t n) {
  run_vec<32, Grad>(out, x, dy, n);
}
template <bool Grad> VT_TARGET_AVX512 void run_avx512(float* out, const float* x, const float* dy, int64_t n) {
  run_vec<64, Grad>(out, x, dy, n);
}
template <bool Grad> void run(float* out, const float* x, const float* dy, int64_t n) {
  if (reduce::use_avx512()) run_avx512<Grad>(out, x, dy, n);
  else if (reduce::use_avx2()) run_avx2<Grad>(out, x, dy, n);
  else run_vec<16, Grad>(out, x, dy, n);
}

// One float through a 16-byte vector lane: the scalar (strided) path gets the vector path's exp too.
template <bool Grad> inline float one_lane(float x, float g) {
  using V = reduce::Simd<float, 16>::type;
  V v = {}, w = {};
  v[0] = x;
  w[0] = g;
  return (Grad ? w * derivative(v) : value(v))[0];
}

// The elementwise ops (cpu/loops.h): the scalar form for any layout and dtype, and a vector form that the
// loops hand contiguous float32 runs.
struct Forward {
  template <class T> T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>) return one_lane<false>(x, 0.0f);
    else return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  }
  void contiguous_f32(float* out, const float* const* in, int64_t n) const { run<false>(out, in[0], nullptr, n); }
};
struct Backward {  // (grad, x) -> grad * gelu'(x)
  template <class T> T operator()(T g, T x) const {
    if constexpr (std::is_same_v<T, float>) return one_lane<true>(x, g);
    else
      return g * (T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440))) +
                  x * std::exp(T(-0.5) * x * x) * T(0.39894228040143267794));
  }
  void contiguous_f32(float* out, const float* const* in, int64_t n) const { run<true>(out, in[1], in[0], n); }
};

}  // namespace vt::gelu
