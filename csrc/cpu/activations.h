// Activations and transcendentals as vector math (cpu/vector_unary.h runs them): GELU (exact and tanh), SiLU,
// sigmoid, exp and tanh.
//
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
// Beyond |x| = 13.2 the exp gives 0 (vexp's floor), so GELU is exactly -0 or x there. Float64 keeps libm's
// erf; half types compute in float and round once.
//
// The sigmoid family, from one vector exp: sigmoid(x) = 1 / (1 + e^-x), silu(x) = x sigmoid(x), and the
// tanh GELU as x sigmoid(2u) with u = sqrt(2/pi) (x + 0.044715 x^3) (0.5 (1 + tanh u) = sigmoid(2u): no
// cancellation near -1, unlike 1 + tanh). Where e^-x overflows to inf the result is the limit (0 or -0).
#pragma once
#include <cmath>

#include "cpu/vector_unary.h"

namespace vt::vecmath {

using reduce::vexp;

// Phi(x), and e^(-x^2/2) (the caller's phi(x) up to 1/sqrt(2 pi)).
template <class V> VT_ALWAYS_INLINE V normal_cdf(V x, V& gauss) {
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
  gauss = vexp(u * -0.5f);
  const V tail = gauss * t * b;  // Phi(-|x|)
  const V outer = x < splat<V>(0.0f) ? tail : 1.0f - tail;
  return ax <= splat<V>(1.0f) ? inner : outer;
}

struct Gelu {
  template <class V> static VT_ALWAYS_INLINE V value(V x) {
    V gauss;
    return x * normal_cdf(x, gauss);
  }
  template <class V> static VT_ALWAYS_INLINE V derivative(V x) {
    V gauss;
    V p = normal_cdf(x, gauss);
    return p + x * (gauss * 0.3989422804014327f);  // Phi(x) + x phi(x)
  }
  static double value64(double x) { return 0.5 * x * (1 + std::erf(x * 0.70710678118654752440)); }
  static double derivative64(double x) {
    return 0.5 * (1 + std::erf(x * 0.70710678118654752440)) + x * std::exp(-0.5 * x * x) * 0.39894228040143267794;
  }
};

template <class V> VT_ALWAYS_INLINE V logistic(V x) { return 1.0f / (1.0f + vexp(-x)); }

struct Sigmoid {
  template <class V> static VT_ALWAYS_INLINE V value(V x) { return logistic(x); }
  template <class V> static VT_ALWAYS_INLINE V derivative(V x) {
    V s = logistic(x);
    return s * (1.0f - s);
  }
  static double value64(double x) { return 1 / (1 + std::exp(-x)); }
  static double derivative64(double x) {
    double s = value64(x);
    return s * (1 - s);
  }
};

struct Silu {
  template <class V> static VT_ALWAYS_INLINE V value(V x) { return x * logistic(x); }
  template <class V> static VT_ALWAYS_INLINE V derivative(V x) {
    V s = logistic(x);
    return s * (1.0f + x * (1.0f - s));
  }
  static double value64(double x) { return x * Sigmoid::value64(x); }
  static double derivative64(double x) {
    double s = Sigmoid::value64(x);
    return s * (1 + x * (1 - s));
  }
};

struct GeluTanh {
  static constexpr double kK = 0.79788456080286535588, kC = 0.044715;  // sqrt(2/pi), the cubic's weight
  template <class V> static VT_ALWAYS_INLINE V value(V x) {
    return x * logistic(float(2 * kK) * (x + float(kC) * x * x * x));
  }
  template <class V> static VT_ALWAYS_INLINE V derivative(V x) {  // s + 2 x s (1 - s) u'
    V x2 = x * x;
    V s = logistic(float(2 * kK) * (x + float(kC) * x2 * x));
    return s + 2.0f * x * s * (1.0f - s) * (float(kK) * (1.0f + float(3 * kC) * x2));
  }
  static double value64(double x) { return 0.5 * x * (1 + std::tanh(kK * (x + kC * x * x * x))); }
  static double derivative64(double x) {
    double t = std::tanh(kK * (x + kC * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * kK * (1 + 3 * kC * x * x);
  }
};

// e^x over the whole float range: inf beyond 88.72, subnormal results down to -103.97, 0 below, NaN kept.
// 2^n is applied as two factors 2^(n/2) (each a normal float), so a subnormal result is rounded once.
template <class V> VT_ALWAYS_INLINE V exp_full(V x) {
  typedef int32_t VI __attribute__((vector_size(sizeof(V))));
  V xc = x < splat<V>(-104.0f) ? splat<V>(-104.0f) : x;  // e^-104 rounds to 0, e^89 overflows: n stays small
  xc = xc > splat<V>(89.0f) ? splat<V>(89.0f) : xc;
  VI n;
  const V p = reduce::exp_reduced(xc, n);
  const VI half = n >> 1, rest = n - half;
  const V e = p * (V)((half + 127) << 23) * (V)((rest + 127) << 23);
  return x != x ? x : e;
}

struct Exp {
  template <class V> static VT_ALWAYS_INLINE V value(V x) { return exp_full(x); }
  template <class V> static VT_ALWAYS_INLINE V derivative(V x) { return exp_full(x); }
  static double value64(double x) { return std::exp(x); }
  static double derivative64(double x) { return std::exp(x); }
};

// tanh: x (1 + x^2 P(x^2)) for |x| <= 0.625 (P: degree 4, least squares, rel. error 5e-8), else
// sign(x) (1 - 2 / (e^(2|x|) + 1)).
struct Tanh {
  template <class V> static VT_ALWAYS_INLINE V value(V x) {
    const V ax = x < splat<V>(0.0f) ? -x : x;
    const V z = x * x;
    V p = splat<V>(-0.006221796851605177f);
    p = p * z + 0.021085888147354126f;
    p = p * z - 0.053870271891355515f;
    p = p * z + 0.13332901895046234f;
    p = p * z - 0.3333333134651184f;
    const V small = x * (1.0f + z * p);  // keeps the sign of -0
    const V large = 1.0f - 2.0f / (exp_full(2.0f * ax) + 1.0f);
    return ax <= splat<V>(0.625f) ? small : (x < splat<V>(0.0f) ? -large : large);
  }
  template <class V> static VT_ALWAYS_INLINE V derivative(V x) {
    const V t = value(x);
    return 1.0f - t * t;
  }
  static double value64(double x) { return std::tanh(x); }
  static double derivative64(double x) {
    const double t = std::tanh(x);
    return 1 - t * t;
  }
};

}  // namespace vt::vecmath
