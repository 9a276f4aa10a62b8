// softmax and log_softmax along a dim on CPU, numerically stable: exp(x - max) / sum, and
// x - max - log(sum). Half types compute in float; sums accumulate in float64. A NaN anywhere in a line
// makes the whole line NaN, and a line of -inf gives NaN (0/0), as in PyTorch.
#include <cmath>

#include "cpu/reduce.h"
#include "cpu/reduce_lines.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {
using namespace reduce;

template <class M> inline M max_nan(M a, M x) { return (x > a || std::isnan(x)) ? x : a; }

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
