// Folding primitives the reduction ops are written with: fold a run (fold_run, cascade_sum), fold a row
// into per-output states (fold_lanes), and merge partial states pairwise (Cascade).
//
// Vector code uses the GCC/Clang vector extensions, so a fold written as a generic lambda serves scalars
// and vectors alike: `x * x`, `((x > a) | (x != x)) ? x : a`. Vectors are 16 bytes (SSE2, always there
// on x86-64); where the CPU has AVX2, the same code is compiled a second time for 32-byte vectors and
// chosen at run time, so one build serves every x86-64 machine.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/dtype.h"
#include "cpu/capability.h"

#if defined(__GNUC__) && defined(__x86_64__)
#pragma GCC diagnostic ignored "-Wpsabi"  // 32-byte vectors only cross calls inside AVX2 code
#define VT_TARGET_AVX2 __attribute__((target("avx2")))
#define VT_TARGET_AVX2_FMA __attribute__((target("avx2,fma")))
#define VT_TARGET_AVX512 __attribute__((target("avx512f,fma")))
#define VT_HAVE_AVX2_PATH 1
#else
#define VT_TARGET_AVX2
#define VT_TARGET_AVX2_FMA
#define VT_TARGET_AVX512
#define VT_HAVE_AVX2_PATH 0
#endif
#define VT_ALWAYS_INLINE inline __attribute__((always_inline))
// Put on every lambda handed to these folds: `[](auto x) VT_FOLD { return x * x; }`. Inside the AVX2
// copies a fold that stayed a call would take 32-byte vectors through a non-AVX function, whose stack
// is not aligned for them.
#define VT_FOLD __attribute__((always_inline))

namespace vt::reduce {

template <class T> inline T load(const char* p) { return *reinterpret_cast<const T*>(p); }

// The AVX2 copies run where cpu/capability.h allows them (the CPU has AVX2 and FMA, and
// VIBETENSOR_CPU_CAPABILITY does not cap it lower).
inline bool use_avx2() { return VT_HAVE_AVX2_PATH && cpu::has_avx2(); }
inline bool use_avx512() { return VT_HAVE_AVX2_PATH && cpu::has_avx512(); }

template <class T, int Bytes> struct Simd {
  static constexpr bool ok = false;
};
template <int Bytes> struct Simd<float, Bytes> {
  typedef float type __attribute__((vector_size(Bytes)));
  static constexpr bool ok = true;
};
template <int Bytes> struct Simd<double, Bytes> {
  typedef double type __attribute__((vector_size(Bytes)));
  static constexpr bool ok = true;
};
template <class V, class T> VT_ALWAYS_INLINE V vload(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class V, class T> VT_ALWAYS_INLINE V vsplat(T x) {
  V v;
  for (size_t l = 0; l < sizeof(V) / sizeof(T); l++) v[l] = x;
  return v;
}
// Reduces the lanes of v with f, pairwise through shuffles (no branches, even for NaN-aware max).
template <class V, class F> VT_ALWAYS_INLINE V vfold_lanes(V r, F f) {
  constexpr int64_t W = sizeof(V) / sizeof(r[0]);
  for (int64_t w = W / 2; w > 0; w /= 2) {
    V t;
    for (int64_t l = 0; l < W; l++) t[l] = r[l ^ w];
    r = f(r, t);
  }
  return r;
}

// Whether a run of in_t folded into acc_t by f (taking `arity` vectors) can take the vector loop.
template <class in_t, class acc_t, class F, int arity>
constexpr bool vector_fold() {
  if constexpr (!Simd<in_t, 16>::ok || !std::is_same_v<in_t, acc_t>) return false;
  else if constexpr (arity == 1) return std::is_invocable_v<F, typename Simd<in_t, 16>::type>;
  else return std::is_invocable_v<F, typename Simd<in_t, 16>::type, typename Simd<in_t, 16>::type>;
}

// NaN-propagating max / min of an accumulator and an element, or of two vectors: branch-free, since
// `x != x` picks a NaN and once a is NaN `x > a` is false, so it stays. A is the accumulator's type.
template <bool IsMax> struct PickExtreme {
  template <class A, class X> VT_ALWAYS_INLINE A operator()(A a, X xv) const {
    A x = A(xv);
    if constexpr (IsMax) return A(((x > a) | (x != x)) ? x : a);
    else return A(((x < a) | (x != x)) ? x : a);
  }
};
inline constexpr PickExtreme<true> pick_max{};
inline constexpr PickExtreme<false> pick_min{};

// e^r for x = n ln2 + r, |r| <= ln2/2, on a float vector: Cephes' degree-6 polynomial (within 1.5 ulp) and n
// as an int vector. x must be clamped so that n fits (|x| < 2^22 ln2).
template <class V, class VI> VT_ALWAYS_INLINE V exp_reduced(V x, VI& ni) {
  const V magic = vsplat<V>(12582912.0f);
  V t = x * 1.44269504f + magic;  // round(x / ln2) in the low mantissa bits
  V n = t - magic;
  ni = (VI)t - (VI)magic;
  V r = x - n * 0.693359375f - n * -2.12194440e-4f;  // Cody-Waite: ln2 in two parts
  V p = vsplat<V>(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * (r * r) + r + 1.0f;
}

// e^x on a float vector, vectorisable (the libm call is not), 2^n through the exponent bits. Meant for
// x <= 0 (softmax and logsumexp shift by the max): below -87.3, where results turn subnormal, it gives 0, and
// above 88.37 (2^127.5) inf; NaN propagates. Scalars and double vectors use libm. (exp_full in
// cpu/activations.h covers the whole float range, subnormal results included.)
template <class V> VT_ALWAYS_INLINE V vexp(V x) {
  if constexpr (std::is_floating_point_v<V>) {
    return std::exp(x);
  } else if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x[0])>, double>) {
    for (size_t l = 0; l < sizeof(V) / sizeof(double); l++) x[l] = std::exp(x[l]);
    return x;
  } else {
    typedef int32_t VI __attribute__((vector_size(sizeof(V))));
    const V lo = vsplat<V>(-87.3365447f), hi = vsplat<V>(88.3762626f);
    V xc = x < lo ? lo : x;
    xc = xc > hi ? hi : xc;
    VI ni;
    V e = exp_reduced(xc, ni);
    e *= (V)((ni + 127) << 23);
    e = x > hi ? vsplat<V>(INFINITY) : e;
    return x < lo ? vsplat<V>(0.0f) : e;
  }
}

// ---- fold_run ----------------------------------------------------------------------------------------
template <int Bytes, class in_t, class F>
VT_ALWAYS_INLINE in_t fold_run_vec(in_t a, in_t id, const char* p, int64_t s, int64_t n, F f) {
  using V = typename Simd<in_t, Bytes>::type;
  constexpr int64_t W = Bytes / sizeof(in_t);
  V r0 = vsplat<V>(id), r1 = r0, r2 = r0, r3 = r0;
  int64_t i = 0;
  if (s == int64_t(sizeof(in_t))) {
    const in_t* x = reinterpret_cast<const in_t*>(p);
    for (; i + 4 * W <= n; i += 4 * W) {
      r0 = f(r0, vload<V>(x + i));
      r1 = f(r1, vload<V>(x + i + W));
      r2 = f(r2, vload<V>(x + i + 2 * W));
      r3 = f(r3, vload<V>(x + i + 3 * W));
    }
    for (; i + W <= n; i += W) r0 = f(r0, vload<V>(x + i));
  } else {
    for (; i + W <= n; i += W) {  // gather W strided elements into one vector
      V t;
      for (int64_t l = 0; l < W; l++) t[l] = load<in_t>(p + (i + l) * s);
      r0 = f(r0, t);
    }
  }
  const V ids = vsplat<V>(id);
  for (; i < n; i++) {  // the last few, one lane each (the others hold the identity)
    V t = ids;
    t[0] = load<in_t>(p + i * s);
    r1 = f(r1, t);
  }
  return f(a, vfold_lanes(f(f(r0, r1), f(r2, r3)), f)[0]);
}
template <class in_t, class F>
VT_TARGET_AVX2 in_t fold_run_avx2(in_t a, in_t id, const char* p, int64_t s, int64_t n, F f) {
  return fold_run_vec<32>(a, id, p, s, n, f);
}

// Folds a run with independent accumulators (short dependency chains); only for order-insensitive folds
// (prod, max ...). f(acc, x) must also merge two accs. When f takes vectors, every element goes through
// vector code, which keeps NaN-aware max/min free of branches.
template <class in_t, class acc_t, class F>
inline acc_t fold_run(acc_t a, acc_t id, const char* p, int64_t s, int64_t n, F f) {
  if constexpr (vector_fold<in_t, acc_t, F, 2>()) {
    if (use_avx2()) return fold_run_avx2(a, id, p, s, n, f);
    return fold_run_vec<16>(a, id, p, s, n, f);
  } else {
    constexpr int kAcc = 8;
    int64_t i = 0;
    if (s == int64_t(sizeof(in_t)) && n >= kAcc) {
      const in_t* x = reinterpret_cast<const in_t*>(p);
      acc_t r[kAcc];
      for (int l = 0; l < kAcc; l++) r[l] = id;
      for (; i + kAcc <= n; i += kAcc)
        for (int l = 0; l < kAcc; l++) r[l] = f(r[l], x[i + l]);
      for (int l = 0; l < kAcc; l++) a = f(a, r[l]);
    }
    for (; i < n; i++) a = f(a, load<in_t>(p + i * s));
    return a;
  }
}

// ---- fold_lanes ----------------------------------------------------------------------------------------
template <int Bytes, class in_t, class F>
VT_ALWAYS_INLINE void fold_lanes_vec(in_t* buf, const in_t* x, int64_t n, F f) {
  using V = typename Simd<in_t, Bytes>::type;
  constexpr int64_t W = Bytes / sizeof(in_t);
  int64_t j = 0;
  for (; j + W <= n; j += W) {
    V r = f(vload<V>(buf + j), vload<V>(x + j));
    std::memcpy(buf + j, &r, sizeof(V));
  }
  for (; j < n; j++) buf[j] = f(buf[j], x[j]);
}
template <class in_t, class F>
VT_TARGET_AVX2 void fold_lanes_avx2(in_t* buf, const in_t* x, int64_t n, F f) {
  fold_lanes_vec<32>(buf, x, n, f);
}

// buf[j] = f(buf[j], element j) for one row of an outer reduction.
template <class in_t, class acc_t, class F>
inline void fold_lanes(acc_t* buf, const char* p, int64_t s, int64_t n, F f) {
  if (s == int64_t(sizeof(in_t))) {
    const in_t* x = reinterpret_cast<const in_t*>(p);
    if constexpr (vector_fold<in_t, acc_t, F, 2>()) {
      if (use_avx2()) return fold_lanes_avx2(buf, x, n, f);
      return fold_lanes_vec<16>(buf, x, n, f);
    }
    for (int64_t j = 0; j < n; j++) buf[j] = f(buf[j], x[j]);
  } else {
    for (int64_t j = 0; j < n; j++) buf[j] = f(buf[j], load<in_t>(p + j * s));
  }
}

// ---- Cascade and cascade_sum --------------------------------------------------------------------------
// Merges a stream of partial states pairwise (a binary counter: level l holds 2^l merged parts), so
// rounding error grows with log(parts) rather than parts. Order is kept: earlier parts merge on the left.
template <class acc_t>
struct Cascade {
  acc_t level[64];
  uint64_t count = 0;
  template <class Ops> void push(acc_t s, const Ops& ops) {
    int l = 0;
    for (uint64_t c = count; c & 1; c >>= 1, l++) s = ops.combine(level[l], s);
    level[l] = s;
    count++;
  }
  template <class Ops> acc_t finish(acc_t tail, const Ops& ops) const {
    for (int l = 0; l < 64 && (count >> l) != 0; l++)
      if (count >> l & 1) tail = ops.combine(level[l], tail);
    return tail;
  }
};

constexpr int64_t kCascadeBlock = 1024;  // elements summed by plain accumulators before a cascade merge

// Sum of f(x) over one block: four vector accumulators, or eight scalar ones.
template <int Bytes, class acc_t, class in_t, class F>
VT_ALWAYS_INLINE acc_t block_sum(const char* p, int64_t s, int64_t n, F f) {
  acc_t sum = acc_t(0);
  int64_t i = 0;
  if constexpr (Bytes > 0) {
    using V = typename Simd<in_t, Bytes>::type;
    constexpr int64_t W = Bytes / sizeof(in_t);
    if (s == int64_t(sizeof(in_t)) && n >= W) {
      const in_t* x = reinterpret_cast<const in_t*>(p);
      V r0 = {}, r1 = {}, r2 = {}, r3 = {};
      for (; i + 4 * W <= n; i += 4 * W) {
        r0 += f(vload<V>(x + i));
        r1 += f(vload<V>(x + i + W));
        r2 += f(vload<V>(x + i + 2 * W));
        r3 += f(vload<V>(x + i + 3 * W));
      }
      for (; i + W <= n; i += W) r1 += f(vload<V>(x + i));
      sum = vfold_lanes((r0 + r1) + (r2 + r3), [](V a, V b) VT_FOLD { return a + b; })[0];
    }
  } else {
    constexpr int kAcc = 8;
    if (s == int64_t(sizeof(in_t)) && n >= kAcc) {
      const in_t* x = reinterpret_cast<const in_t*>(p);
      acc_t r[kAcc] = {};
      for (; i + kAcc <= n; i += kAcc)
        for (int l = 0; l < kAcc; l++) r[l] += f(x[i + l]);
      for (int w = kAcc / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) r[l] += r[l + w];
      sum = r[0];
    }
  }
  for (; i < n; i++) sum += f(load<in_t>(p + i * s));
  return sum;
}

template <int Bytes, class acc_t, class in_t, class F>
VT_ALWAYS_INLINE acc_t cascade_sum_impl(const char* p, int64_t s, int64_t n, F f) {
  if (n <= kCascadeBlock) return block_sum<Bytes, acc_t, in_t>(p, s, n, f);
  struct Add { acc_t combine(acc_t a, acc_t b) const { return a + b; } } add;
  Cascade<acc_t> c;
  int64_t b = 0;
  for (; b + kCascadeBlock <= n; b += kCascadeBlock) c.push(block_sum<Bytes, acc_t, in_t>(p + b * s, s, kCascadeBlock, f), add);
  return c.finish(block_sum<Bytes, acc_t, in_t>(p + b * s, s, n - b, f), add);
}
template <class acc_t, class in_t, class F>
VT_TARGET_AVX2 acc_t cascade_sum_avx2(const char* p, int64_t s, int64_t n, F f) {
  return cascade_sum_impl<32, acc_t, in_t>(p, s, n, f);
}

// Sum of f(x) over a run, accurate like pairwise summation: error ~ (kCascadeBlock/lanes + log2(n)) ulps
// instead of n ulps for a plain loop.
template <class acc_t, class in_t, class F>
inline acc_t cascade_sum(const char* p, int64_t s, int64_t n, F f) {
  if constexpr (vector_fold<in_t, acc_t, F, 1>()) {
    if (use_avx2()) return cascade_sum_avx2<acc_t, in_t>(p, s, n, f);
    return cascade_sum_impl<16, acc_t, in_t>(p, s, n, f);
  } else {
    return cascade_sum_impl<0, acc_t, in_t>(p, s, n, f);
  }
}

}  // namespace vt::reduce
