// var, std, norm and logsumexp on CPU.
//   var/std: two passes over each contiguous run (exact mean, then squared deviations) merged with Chan's
//            formula; outer reductions use Welford per output. Accumulates in float64.
//   norm:    p = 2, 1, 0, inf, -inf or any p; float32 accumulates in float64 so squares cannot overflow.
//   logsumexp: max-shifted sums, merged by rescaling to the larger max.
// var, std and logsumexp check their arguments here for both devices and hand CUDA tensors to
// cuda/reduce_stats.cpp.
#include "cpu/reduce.h"
#include "cuda/reduce.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {
using namespace reduce;

// ---- var / std -------------------------------------------------------------------------------------
struct Moments {
  double mean, m2, n;
};
inline Moments merge_moments(Moments a, Moments b) {
  if (a.n == 0) return b;
  if (b.n == 0) return a;
  double n = a.n + b.n, d = b.mean - a.mean;
  return {a.mean + d * (b.n / n), a.m2 + b.m2 + d * d * (a.n * (b.n / n)), n};
}

template <class in_t, bool IsStd>
struct VarOps {
  using acc_t = Moments;
  double correction = 1;
  acc_t identity() const { return {0, 0, 0}; }
  acc_t run(acc_t a, const char* p, int64_t s, int64_t n, int64_t) const {
    if (n == 0) return a;
    // Generic lambdas: float64 runs take the vector loop (`x - mean` broadcasts the scalar).
    double mean = cascade_sum<double, in_t>(p, s, n, [](auto x) VT_FOLD { return x; }) / double(n);
    double m2 = cascade_sum<double, in_t>(p, s, n, [mean](auto x) VT_FOLD {
      auto d = x - mean;
      return d * d;
    });
    return merge_moments(a, {mean, m2, double(n)});
  }
  void lanes(acc_t* buf, const char* p, int64_t s, int64_t n, int64_t) const {
    fold_lanes<in_t>(buf, p, s, n, [](acc_t a, in_t xv) {
      double x = double(xv), n1 = a.n + 1, d = x - a.mean, mean = a.mean + d / n1;
      return acc_t{mean, a.m2 + d * (x - mean), n1};
    });
  }
  acc_t combine(acc_t a, acc_t b) const { return merge_moments(a, b); }
  void store(char* const* out, acc_t a) const {
    // PyTorch: divide by max(0, N - correction), so too large a correction gives inf (or nan for 0/0).
    double v = a.m2 / std::max(0.0, a.n - correction);
    *reinterpret_cast<in_t*>(out[0]) = in_t(IsStd ? std::sqrt(v) : v);
  }
};

template <bool IsStd>
Tensor var_std(const char* name, const Tensor& self, std::optional<IntArrayRef> dim, std::optional<bool> unbiased,
               bool keepdim, std::optional<Scalar> correction) {
  VT_CHECK_TYPE(is_floating(self.dtype()), name, "(): std and var only support floating point and complex dtypes, "
                "got ", dtype_name(self.dtype()));
  VT_CHECK_TYPE(!(unbiased && correction), name, "(): pass either unbiased or correction, not both");
  double corr = correction ? correction->to_double() : (unbiased.value_or(true) ? 1.0 : 0.0);
  if (self.device().is_cuda()) return cuda::var_std(IsStd, self, dim, corr, keepdim);
  return VT_DISPATCH_FLOATING(self.dtype(), name, [&] {
    return reduce1(name, VarOps<scalar_t, IsStd>{corr}, self, dim, keepdim, self.dtype());
  });
}
Tensor var_k(const Tensor& self, std::optional<IntArrayRef> dim, std::optional<bool> unbiased, bool keepdim,
             std::optional<Scalar> correction) {
  return var_std<false>("var", self, dim, unbiased, keepdim, correction);
}
Tensor std_k(const Tensor& self, std::optional<IntArrayRef> dim, std::optional<bool> unbiased, bool keepdim,
             std::optional<Scalar> correction) {
  return var_std<true>("std", self, dim, unbiased, keepdim, correction);
}

// ---- norm ------------------------------------------------------------------------------------------
enum class NormKind { L2, L1, L0, Inf, NegInf, P };

template <class in_t, NormKind K>
struct NormOps {
  using acc_t = std::conditional_t<std::is_same_v<in_t, float>, double, opmath_t<in_t>>;
  static constexpr bool kExtreme = K == NormKind::Inf || K == NormKind::NegInf;
  acc_t p = 2;
  acc_t term(in_t xv) const {
    acc_t x = acc_t(xv);
    if constexpr (K == NormKind::L2) return x * x;
    else if constexpr (K == NormKind::L0) return acc_t(x != acc_t(0));
    else if constexpr (K == NormKind::P) return std::pow(std::abs(x), p);
    else return std::abs(x);
  }
  // inf / -inf: the max / min of |x|, NaN propagating.
  static acc_t pick(acc_t a, acc_t x) {
    if constexpr (K == NormKind::Inf) return (x > a || std::isnan(x)) ? x : a;
    else return (x < a || std::isnan(x)) ? x : a;
  }
  acc_t fold(acc_t a, acc_t t) const {
    if constexpr (kExtreme) return pick(a, t);
    else return a + t;
  }
  acc_t identity() const { return K == NormKind::NegInf ? std::numeric_limits<acc_t>::infinity() : acc_t(0); }
  acc_t run(acc_t a, const char* pp, int64_t s, int64_t n, int64_t) const {
    if constexpr (kExtreme)
      return fold_run<in_t>(a, identity(), pp, s, n, [](acc_t a, auto x) { return pick(a, std::abs(acc_t(x))); });
    else return a + cascade_sum<acc_t, in_t>(pp, s, n, [this](in_t x) { return term(x); });
  }
  void lanes(acc_t* buf, const char* pp, int64_t s, int64_t n, int64_t) const {
    fold_lanes<in_t>(buf, pp, s, n, [this](acc_t a, in_t x) { return fold(a, term(x)); });
  }
  acc_t combine(acc_t a, acc_t b) const { return fold(a, b); }
  void store(char* const* out, acc_t a) const {
    if constexpr (K == NormKind::L2) a = std::sqrt(a);
    else if constexpr (K == NormKind::P) a = std::pow(a, acc_t(1) / p);
    *reinterpret_cast<in_t*>(out[0]) = in_t(a);
  }
};

template <NormKind K>
Tensor norm_with(const Tensor& in, std::optional<IntArrayRef> dim, bool keepdim, double p) {
  return VT_DISPATCH_FLOATING(in.dtype(), "norm", [&] {
    NormOps<scalar_t, K> ops;
    ops.p = typename NormOps<scalar_t, K>::acc_t(p);
    return reduce1("norm", ops, in, dim, keepdim, in.dtype());
  });
}

Tensor norm_k(const Tensor& self, std::optional<Scalar> p, std::optional<IntArrayRef> dim, bool keepdim,
              std::optional<DType> dtype) {
  VT_CHECK_TYPE(is_floating(self.dtype()), "norm(): expected a floating point tensor as input, got ",
                dtype_name(self.dtype()));
  if (dtype) {
    VT_CHECK_TYPE(is_floating(*dtype), "norm(): dtype should be floating point, but got ", dtype_name(*dtype));
    VT_CHECK_TYPE(promote_types(self.dtype(), *dtype) == *dtype, "norm(): the dtype of the input (",
                  dtype_name(self.dtype()), ") should be convertible without narrowing to the specified dtype (",
                  dtype_name(*dtype), ")");
  }
  Tensor in = to_dtype(self, dtype.value_or(self.dtype()));
  double pv = p ? p->to_double() : 2.0;
  if (std::isinf(pv) && in.numel() == 0) {  // max/min of |x| over nothing has no value
    ReduceDims rd = make_reduce_dims(in, dim, keepdim, "norm");
    for (size_t d = 0; d < rd.mask.size(); d++)
      VT_CHECK_VALUE(!rd.mask[d] || in.sizes()[d] != 0, "norm(): cannot compute the ", pv > 0 ? "inf" : "-inf",
                     " norm over the empty dimension ", d, " because the operation does not have an identity");
  }
  if (pv == 2) return norm_with<NormKind::L2>(in, dim, keepdim, pv);
  if (pv == 1) return norm_with<NormKind::L1>(in, dim, keepdim, pv);
  if (pv == 0) return norm_with<NormKind::L0>(in, dim, keepdim, pv);
  if (std::isinf(pv)) return pv > 0 ? norm_with<NormKind::Inf>(in, dim, keepdim, pv)
                                    : norm_with<NormKind::NegInf>(in, dim, keepdim, pv);
  return norm_with<NormKind::P>(in, dim, keepdim, pv);
}

// ---- logsumexp -------------------------------------------------------------------------------------
// State: sum of exp(x - m). m is finite (or -inf while nothing is folded); an inf or NaN input makes s
// inf or NaN with m = 0, which then dominates every merge.
template <class in_t>
struct LseOps {
  using value_t = opmath_t<in_t>;
  struct acc_t {
    value_t m, s;
  };
  static value_t scaled(value_t s, value_t d) { return s == value_t(0) ? s : s * std::exp(d); }
  static acc_t merge(acc_t a, acc_t b) {
    if (a.m >= b.m) return {a.m, a.s + scaled(b.s, b.m - a.m)};
    return {b.m, scaled(a.s, a.m - b.m) + b.s};
  }
  static acc_t single(value_t x) {
    if (std::isfinite(x)) return {x, value_t(1)};
    if (x == -std::numeric_limits<value_t>::infinity()) return {x, value_t(0)};
    return {value_t(0), std::exp(x)};  // inf -> inf, nan -> nan
  }
  acc_t identity() const { return {-std::numeric_limits<value_t>::infinity(), value_t(0)}; }
  acc_t run(acc_t a, const char* p, int64_t s, int64_t n, int64_t) const {
    const value_t ninf = -std::numeric_limits<value_t>::infinity();
    value_t m = fold_run<in_t>(ninf, ninf, p, s, n, pick_max);
    if (m == ninf) return a;  // nothing but -inf: adds nothing
    value_t shift = std::isfinite(m) ? m : value_t(0);
    value_t sum = cascade_sum<value_t, in_t>(p, s, n, [shift](auto x) VT_FOLD { return vexp(x - shift); });
    return merge(a, {shift, sum});
  }
  void lanes(acc_t* buf, const char* p, int64_t s, int64_t n, int64_t) const {
    fold_lanes<in_t>(buf, p, s, n, [](acc_t a, in_t x) { return merge(a, single(value_t(x))); });
  }
  acc_t combine(acc_t a, acc_t b) const { return merge(a, b); }
  void store(char* const* out, acc_t a) const { *reinterpret_cast<in_t*>(out[0]) = in_t(std::log(a.s) + a.m); }
};

Tensor logsumexp_k(const Tensor& self, IntArrayRef dim, bool keepdim) {
  Tensor in = is_floating(self.dtype()) ? self : to_dtype(self, kDefaultFloat);  // integers: like PyTorch
  if (in.device().is_cuda()) return cuda::logsumexp(in, dim, keepdim);
  return VT_DISPATCH_FLOATING(in.dtype(), "logsumexp", [&] {
    return reduce1("logsumexp", LseOps<scalar_t>{}, in, dim, keepdim, in.dtype());
  });
}

VT_REGISTER_KERNELS(CPU, m) { m.impl("norm", &norm_k); }
VT_REGISTER_KERNELS_ALL(m) {
  m.impl("var", &var_k);
  m.impl("std", &std_k);
  m.impl("logsumexp", &logsumexp_k);
}

}  // namespace
}  // namespace vt
