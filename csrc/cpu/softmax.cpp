// softmax and log_softmax along a dim on CPU, numerically stable: exp(x - max) / sum, and
// x - max - log(sum). Half types compute in float; sums accumulate in float64. A NaN anywhere in a line
// makes the whole line NaN, and a line of -inf gives NaN (0/0), as in PyTorch.
#include <cmath>

#include "cpu/exp_sum.h"
#include "cpu/reduce.h"
#include "cpu/reduce_lines.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {
using namespace reduce;

template <class M> inline M max_nan(M a, M x) { return (x > a || std::isnan(x)) ? x : a; }

// ---- contiguous float lines (softmax over the last dim): vector code, vexp instead of libm ----------------
template <int Bytes, bool Log>
VT_ALWAYS_INLINE void softmax_row_vec(const float* x, float* y, int64_t n) {
  const float m = fold_run_vec<Bytes>(-INFINITY, -INFINITY, reinterpret_cast<const char*>(x), sizeof(float), n, pick_max);
  const double sum = exp_sum_vec<Bytes, !Log>(x, y, n, m);
  if constexpr (Log) {
    const float ls = float(std::log(sum));
    for (int64_t j = 0; j < n; j++) y[j] = (x[j] - m) - ls;
  } else {
    const float inv = float(1.0 / sum);
    for (int64_t j = 0; j < n; j++) y[j] *= inv;
  }
}
template <bool Log>
VT_TARGET_AVX2 void softmax_row_avx2(const float* x, float* y, int64_t n) {
  softmax_row_vec<32, Log>(x, y, n);
}
template <bool Log>
void softmax_row(const float* x, float* y, int64_t n) {
  if (use_avx2()) softmax_row_avx2<Log>(x, y, n);
  else softmax_row_vec<16, Log>(x, y, n);
}

// Blocks of c <= kLanes neighbouring contiguous float lines, swept row by row (softmax over an outer dim).
constexpr int64_t kLanes = 256;

template <int Bytes, bool Log>
VT_ALWAYS_INLINE void softmax_rows_vec(const Lines& L, int64_t first, int64_t c) {
  using V = typename Simd<float, Bytes>::type;
  constexpr int64_t W = Bytes / sizeof(float);
  alignas(64) float mx[kLanes], part[kLanes];
  double sum[kLanes];
  auto row_in = [&](int64_t k) { return reinterpret_cast<const float*>(L.in_at(first, k)); };
  auto row_out = [&](int64_t k) { return reinterpret_cast<float*>(L.out_at(first, k)); };
  for (int64_t j = 0; j < c; j++) mx[j] = -INFINITY, part[j] = 0, sum[j] = 0;
  for (int64_t k = 0; k < L.len; k++) fold_lanes_vec<Bytes>(mx, row_in(k), c, pick_max);
  for (int64_t k = 0; k < L.len; k++) {
    const float* x = row_in(k);
    float* y = row_out(k);
    int64_t j = 0;
    for (; j + W <= c; j += W) {
      V e = vexp(vload<V>(x + j) - vload<V>(mx + j));
      if constexpr (!Log) std::memcpy(y + j, &e, sizeof(V));
      V p = vload<V>(part + j) + e;
      std::memcpy(part + j, &p, sizeof(V));
    }
    for (; j < c; j++) {
      V t = vsplat<V>(-INFINITY);
      t[0] = x[j] - mx[j];
      float e = vexp(t)[0];
      if constexpr (!Log) y[j] = e;
      part[j] += e;
    }
    if ((k + 1) % kSumBlock == 0 || k + 1 == L.len)
      for (j = 0; j < c; j++) sum[j] += part[j], part[j] = 0;
  }
  for (int64_t j = 0; j < c; j++) part[j] = Log ? float(std::log(sum[j])) : float(1.0 / sum[j]);
  for (int64_t k = 0; k < L.len; k++) {
    const float* x = row_in(k);
    float* y = row_out(k);
    for (int64_t j = 0; j < c; j++) y[j] = Log ? (x[j] - mx[j]) - part[j] : y[j] * part[j];
  }
}
template <bool Log>
VT_TARGET_AVX2 void softmax_rows_avx2(const Lines& L, int64_t first, int64_t c) {
  softmax_rows_vec<32, Log>(L, first, c);
}
template <bool Log>
void softmax_rows(const Lines& L) {
  for (int64_t j0 = 0; j0 < L.count; j0 += kLanes) {
    int64_t c = std::min(kLanes, L.count - j0);
    if (use_avx2()) softmax_rows_avx2<Log>(L, j0, c);
    else softmax_rows_vec<16, Log>(L, j0, c);
  }
}

template <class T, bool Log>
struct Softmax {
  using M = opmath_t<T>;
  // exp(x - max) can be parked in the output between passes when it holds it exactly.
  static constexpr bool kPark = std::is_same_v<T, M>;
  static M x(const Lines& L, int64_t line, int64_t k) { return M(load<T>(L.in_at(line, k))); }

  static void finish(const Lines& L, int64_t line, int64_t k, M mx, double sum) {
    T* o = reinterpret_cast<T*>(L.out_at(line, k));
    if constexpr (Log) *o = T(x(L, line, k) - mx - M(std::log(sum)));
    else if constexpr (kPark) *o = T(*o * M(1.0 / sum));
    else *o = T(std::exp(x(L, line, k) - mx) * M(1.0 / sum));
  }

  // One line at a time: max, sum of exp, write.
  static void along(const Lines& L) {
    if constexpr (std::is_same_v<T, float>) {
      if (L.in_step == sizeof(float) && L.out_step == sizeof(float)) {
        for (int64_t i = 0; i < L.count; i++)
          softmax_row<Log>(reinterpret_cast<const float*>(L.in_at(i, 0)), reinterpret_cast<float*>(L.out_at(i, 0)), L.len);
        return;
      }
    }
    for (int64_t i = 0; i < L.count; i++) {
      M mx = -std::numeric_limits<M>::infinity();
      for (int64_t k = 0; k < L.len; k++) mx = max_nan(mx, x(L, i, k));
      double sum = 0;
      for (int64_t k = 0; k < L.len; k++) {
        M e = std::exp(x(L, i, k) - mx);
        if constexpr (kPark && !Log) *reinterpret_cast<T*>(L.out_at(i, k)) = e;
        sum += double(e);
      }
      for (int64_t k = 0; k < L.len; k++) finish(L, i, k, mx, sum);
    }
  }

  // Blocks of neighbouring lines, row by row (the dim is not the innermost in memory).
  static void across(const Lines& L) {
    if constexpr (std::is_same_v<T, float>)
      if (L.in_next == sizeof(float) && L.out_next == sizeof(float)) return softmax_rows<Log>(L);
    M mx[kLinesBlock];
    double sum[kLinesBlock];
    for (int64_t j0 = 0; j0 < L.count; j0 += kLinesBlock) {
      int64_t c = std::min(kLinesBlock, L.count - j0);
      for (int64_t j = 0; j < c; j++) mx[j] = -std::numeric_limits<M>::infinity(), sum[j] = 0;
      for (int64_t k = 0; k < L.len; k++)
        for (int64_t j = 0; j < c; j++) mx[j] = max_nan(mx[j], x(L, j0 + j, k));
      for (int64_t k = 0; k < L.len; k++)
        for (int64_t j = 0; j < c; j++) {
          M e = std::exp(x(L, j0 + j, k) - mx[j]);
          if constexpr (kPark && !Log) *reinterpret_cast<T*>(L.out_at(j0 + j, k)) = e;
          sum[j] += double(e);
        }
      for (int64_t k = 0; k < L.len; k++)
        for (int64_t j = 0; j < c; j++) finish(L, j0 + j, k, mx[j], sum[j]);
    }
  }
};

template <bool Log>
Tensor softmax_impl(const char* name, const Tensor& self, int64_t dim, std::optional<DType> dtype) {
  int64_t d = wrap_dim(dim, self.dim(), name);
  Tensor in = to_dtype(self, dtype.value_or(self.dtype()));
  VT_CHECK_TYPE(is_floating(in.dtype()), name, "(): expected a floating point input, got ", dtype_name(in.dtype()),
                " (pass dtype= to compute in a floating type)");
  Tensor out = empty(in.sizes(), in.dtype(), in.device());
  VT_DISPATCH_FLOATING(in.dtype(), name, [&] {
    for_each_lines(name, out, in, d, [](const Lines& L) {
      if (L.across()) Softmax<scalar_t, Log>::across(L);
      else Softmax<scalar_t, Log>::along(L);
    });
  });
  return out;
}

Tensor softmax_k(const Tensor& self, int64_t dim, std::optional<DType> dtype) {
  return softmax_impl<false>("softmax", self, dim, dtype);
}
Tensor log_softmax_k(const Tensor& self, int64_t dim, std::optional<DType> dtype) {
  return softmax_impl<true>("log_softmax", self, dim, dtype);
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("softmax", &softmax_k);
  m.impl("log_softmax", &log_softmax_k);
}

}  // namespace
}  // namespace vt
