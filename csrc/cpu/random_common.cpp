#include "cpu/random_common.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace vt::rnd {

namespace {
double max_finite(DType d) {
  switch (d) {
    case DType::Float16: return 65504.0;
    case DType::BFloat16: return 3.3895313892515355e38;
    case DType::Float32: return double(std::numeric_limits<float>::max());
    default: return std::numeric_limits<double>::max();
  }
}

template <class T> T next_down(T x) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::nextafter(x, -std::numeric_limits<T>::infinity());
  } else {  // half types: step the bit pattern one ulp towards -inf
    uint16_t b = x.x;
    b = (b & 0x7fff) == 0 ? uint16_t(0x8001) : (b & 0x8000) ? uint16_t(b + 1) : uint16_t(b - 1);
    T r;
    r.x = b;
    return r;
  }
}
}  // namespace

void check_floating(DType d, const char* op, const char* what) {
  VT_CHECK_TYPE(is_floating(d), op, ": expected a floating point ", what, ", got ", dtype_name(d));
}

void check_uniform_bounds(DType d, double from, double to, const char* op) {
  const double lim = max_finite(d);
  VT_CHECK_VALUE(std::isfinite(from) && std::isfinite(to) && std::abs(from) <= lim && std::abs(to) <= lim, op,
                 ": from=", from, " and to=", to, " must be finite values of ", dtype_name(d));
  VT_CHECK_VALUE(from <= to, op, " expects to return a [from, to) range, but found from=", from, " > to=", to);
  VT_CHECK_VALUE(to - from <= lim, op, " expects to-from <= ", lim, " (the largest ", dtype_name(d),
                 "), but found to=", to, " and from=", from);
}

void check_normal_std(double stddev) {
  VT_CHECK_VALUE(stddev >= 0.0, "normal_ expects std >= 0.0, but found std ", stddev);
}

void check_p(double p, const char* op) {
  VT_CHECK_VALUE(p >= 0.0 && p <= 1.0, op, " expects p to be in [0, 1], but got p=", p);
}

void check_dropout_p(double p) {
  VT_CHECK_VALUE(p >= 0.0 && p <= 1.0, "dropout probability has to be between 0 and 1, but got ", p);
}

double uniform_top(DType d, double from, double to) {
  double top = from;
  VT_DISPATCH_FLOATING(d, "uniform_", [&] {
    using M = opmath_t<scalar_t>;
    if (to > from) {
      scalar_t t = scalar_t(M(to));
      top = double(M(double(M(t)) >= to ? next_down(t) : t));
    } else {
      top = double(M(from));
    }
  });
  return top;
}

std::pair<int64_t, int64_t> exact_int_range(DType d) {
  static_assert(kNumDTypes == 10 && int(DType::Float64) == 9, "exact_int_range: the table follows DType's order");
  static constexpr std::pair<int64_t, int64_t> table[kNumDTypes] = {
      {0, 1}, {0, 255}, {-128, 127}, {-32768, 32767}, {INT32_MIN, INT32_MAX}, {INT64_MIN, INT64_MAX},
      {-(1 << 11), 1 << 11}, {-(1 << 8), 1 << 8}, {-(1 << 24), 1 << 24}, {-(int64_t(1) << 53), int64_t(1) << 53}};
  return table[int(d)];
}

void check_randint_range(int64_t low, int64_t high, DType d) {
  VT_CHECK_VALUE(low < high, "randint expects 'low' to be less than 'high', but got low=", low, " >= high=", high);
  const auto [lo, hi] = exact_int_range(d);
  VT_CHECK_VALUE(low >= lo && high - 1 <= hi, "randint: the range [", low, ", ", high, ") is out of bounds for ",
                 dtype_name(d), ", which holds every integer only in [", lo, ", ", hi, "]");
}

void check_randperm(int64_t n, DType d) {
  VT_CHECK_VALUE(n >= 0, "randperm: n must be non-negative, got ", n);
  VT_CHECK_TYPE(d != DType::Bool, "randperm: not implemented for bool");
  const int64_t largest = exact_int_range(d).second;
  VT_CHECK_VALUE(n == 0 || n - 1 <= largest, "randperm: n=", n, " is too large for ", dtype_name(d),
                 " (it holds every integer only up to ", largest, ")");
}

std::pair<int64_t, int64_t> check_multinomial(const Tensor& self, int64_t num_samples, bool replacement) {
  VT_CHECK_VALUE(self.dim() == 1 || self.dim() == 2, "multinomial: prob_dist must be 1 or 2 dim, got ", self.dim(),
                 " dims");
  VT_CHECK_TYPE(is_floating(self.dtype()), "multinomial only supports floating-point dtypes for input, got: ",
                dtype_name(self.dtype()));
  VT_CHECK_VALUE(num_samples > 0, "multinomial: cannot sample n_sample <= 0 samples (got ", num_samples, ")");
  const int64_t ncat = self.size(-1), rows = self.dim() == 2 ? self.size(0) : 1;
  VT_CHECK_VALUE(replacement || num_samples <= ncat, "multinomial: cannot sample n_sample > prob_dist.size(-1) "
                 "samples without replacement (n_sample=", num_samples, ", ", ncat, " categories)");
  return {rows, ncat};
}

}  // namespace vt::rnd
