// Elementwise math that no compiler vectorises (libm calls: erf, exp, tanh), written once as generic vector
// code and run as SSE2, AVX2+FMA or AVX-512 vectors (cpu/capability.h).
//
// A math struct Fn (cpu/activations.h) gives
//   template <class V> static V value(V x), derivative(V x)    float vectors: the float32 and half paths
//   static double value64(double x), derivative64(double x)     float64: libm
// and Forward<Fn> / Backward<Fn> are the elementwise ops cpu/loops.h runs: the scalar form for any layout
// and dtype (a float goes through one vector lane, so strided, tail and contiguous elements of a tensor get
// the same values) and contiguous_f32, the vector form the loops hand contiguous float32 runs and gathered
// chunks of other layouts.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/reduce_fold.h"

namespace vt::vecmath {

template <class V> VT_ALWAYS_INLINE V splat(float x) {
  if constexpr (std::is_same_v<V, float>) return x;
  else return reduce::vsplat<V>(x);
}

// out = Fn(x), or (Grad) out = dy * Fn'(x), over n contiguous floats; the tail in one zero-padded vector.
template <class Fn, int Bytes, bool Grad>
VT_ALWAYS_INLINE void run_vec(float* out, const float* x, const float* dy, int64_t n) {
  using V = typename reduce::Simd<float, Bytes>::type;
  constexpr int64_t W = Bytes / sizeof(float);
  auto one = [](V v, V g) VT_FOLD { return Grad ? g * Fn::derivative(v) : Fn::value(v); };
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    V r = one(reduce::vload<V>(x + i), Grad ? reduce::vload<V>(dy + i) : V{});
    std::memcpy(out + i, &r, sizeof(V));
  }
  if (i < n) {
    const size_t bytes = size_t(n - i) * sizeof(float);
    V v = {}, g = {};
    std::memcpy(&v, x + i, bytes);
    if (Grad) std::memcpy(&g, dy + i, bytes);
    V r = one(v, g);
    std::memcpy(out + i, &r, bytes);
  }
}
// AVX2 with FMA: the polynomials are most of the work, and fused multiply-adds halve them. AVX-512 pays here
// (no lane shuffles in this code; the softmax rows' shuffles were slower at 64 bytes).
template <class Fn, bool Grad>
VT_TARGET_AVX2_FMA void run_avx2(float* out, const float* x, const float* dy, int64_t n) {
  run_vec<Fn, 32, Grad>(out, x, dy, n);
}
template <class Fn, bool Grad>
VT_TARGET_AVX512 void run_avx512(float* out, const float* x, const float* dy, int64_t n) {
  run_vec<Fn, 64, Grad>(out, x, dy, n);
}
template <class Fn, bool Grad> void run(float* out, const float* x, const float* dy, int64_t n) {
  if (reduce::use_avx512()) run_avx512<Fn, Grad>(out, x, dy, n);
  else if (reduce::use_avx2()) run_avx2<Fn, Grad>(out, x, dy, n);
  else run_vec<Fn, 16, Grad>(out, x, dy, n);
}

// One float through a 16-byte vector lane.
template <class Fn, bool Grad> inline float one_lane(float x, float g) {
  using V = reduce::Simd<float, 16>::type;
  V v = {}, w = {};
  v[0] = x;
  w[0] = g;
  return (Grad ? w * Fn::derivative(v) : Fn::value(v))[0];
}

template <class Fn> struct Forward {
  template <class T> T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>) return one_lane<Fn, false>(x, 0.0f);
    else return T(Fn::value64(double(x)));
  }
  void contiguous_f32(float* out, const float* const* in, int64_t n) const {
    run<Fn, false>(out, in[0], nullptr, n);
  }
};
template <class Fn> struct Backward {  // (grad, x) -> grad * Fn'(x)
  template <class T> T operator()(T g, T x) const {
    if constexpr (std::is_same_v<T, float>) return one_lane<Fn, true>(x, g);
    else return T(double(g) * Fn::derivative64(double(x)));
  }
  void contiguous_f32(float* out, const float* const* in, int64_t n) const {
    run<Fn, true>(out, in[1], in[0], n);
  }
};

}  // namespace vt::vecmath
