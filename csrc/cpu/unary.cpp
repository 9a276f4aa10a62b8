// Unary elementwise ops on CPU and CUDA. Float ops promote integer inputs to the default float dtype, like
// PyTorch. On CUDA the same iterator (promotion, output allocation, in-place checks) launches the generated
// Triton kernel of the op's name in kernels/triton/elementwise.py OPS.
#include <array>
#include <cmath>
#include <string>

#include "cpu/activations.h"
#include "cpu/loops.h"
#include "cpu/math.h"
#include "cuda/elementwise.h"
#include "dispatch/dispatcher.h"
#include "dispatch/op_table.h"
#include "ops/views.h"

namespace vt {
namespace {

// The CUDA kernel of an op: its OPS name (default: the op's own name, without the in-place '_') and its
// float parameters.
struct GpuOp {
  const char* op = nullptr;
  std::array<double, 3> params{};
  size_t nparams = 0;
};
GpuOp gpu(const char* op, std::initializer_list<double> ps = {}) {
  GpuOp g{op};
  for (double p : ps) g.params[g.nparams++] = p;
  return g;
}

// Runs the op over the built iterator: `f` on CPU, the generated kernel on CUDA.
template <class scalar_t, class out_t = scalar_t, class F>
void run(TensorIterator& it, const char* name, F f, const GpuOp& g) {
  if (cuda::on_cuda(it)) {
    std::string op = g.op ? g.op : name;
    if (!g.op && op.back() == '_') op.pop_back();
    cuda::launch_elementwise(it, op, std::span<const double>(g.params.data(), g.nparams));
  } else {
    cpu_kernel<scalar_t, out_t>(it, f);
  }
}

// Runs `f` over self into out (undefined: allocate; self: in place); integer inputs compute in float32.
// The dispatch macro chooses which dtypes the op accepts.
template <class F>
Tensor unary_float(const char* name, const Tensor& self, const Tensor& out, F f, const GpuOp& g = {}) {
  TensorIterator it = TensorIteratorConfig(name).add_output(out).add_input(self).promote_integer_inputs_to_float(true).build();
  VT_DISPATCH_FLOATING(it.common_dtype(), name, [&] { run<scalar_t>(it, name, f, g); });
  return it.output();
}
template <class F>
Tensor unary_numeric(const char* name, const Tensor& self, const Tensor& out, F f, const GpuOp& g = {}) {
  TensorIterator it = TensorIteratorConfig(name).add_output(out).add_input(self).build();
  VT_DISPATCH_NUMERIC(it.common_dtype(), name, [&] { run<scalar_t>(it, name, f, g); });
  return it.output();
}
template <class F>
Tensor unary_predicate(const char* name, const Tensor& self, F f) {
  TensorIterator it = TensorIteratorConfig(name).add_output(Tensor()).add_input(self).output_dtype(DType::Bool).build();
  VT_DISPATCH_ALL(it.common_dtype(), name, [&] { run<scalar_t, bool>(it, name, f, GpuOp{}); });
  return it.output();
}

// ---- the float math ops: one line each --------------------------------------------------------------
#define VT_FLOAT_UNARY(name, expr)                                                                 \
  Tensor name##_k(const Tensor& s) { return unary_float(#name, s, Tensor(), [](auto x) { return expr; }); } \
  Tensor name##_ik(const Tensor& s) { unary_float(#name "_", s, s, [](auto x) { return expr; }); return s; }
VT_FLOAT_UNARY(sqrt, std::sqrt(x))
VT_FLOAT_UNARY(rsqrt, decltype(x)(1) / std::sqrt(x))
VT_FLOAT_UNARY(exp2, std::exp2(x))
VT_FLOAT_UNARY(expm1, std::expm1(x))
VT_FLOAT_UNARY(log, std::log(x))
VT_FLOAT_UNARY(log2, std::log2(x))
VT_FLOAT_UNARY(log10, std::log10(x))
VT_FLOAT_UNARY(log1p, std::log1p(x))
VT_FLOAT_UNARY(sin, std::sin(x))
VT_FLOAT_UNARY(cos, std::cos(x))
VT_FLOAT_UNARY(tan, std::tan(x))
VT_FLOAT_UNARY(asin, std::asin(x))
VT_FLOAT_UNARY(acos, std::acos(x))
VT_FLOAT_UNARY(atan, std::atan(x))
VT_FLOAT_UNARY(sinh, std::sinh(x))
VT_FLOAT_UNARY(cosh, std::cosh(x))
VT_FLOAT_UNARY(asinh, std::asinh(x))
VT_FLOAT_UNARY(acosh, std::acosh(x))
VT_FLOAT_UNARY(atanh, std::atanh(x))
VT_FLOAT_UNARY(erf, std::erf(x))
VT_FLOAT_UNARY(erfc, std::erfc(x))
VT_FLOAT_UNARY(erfinv, math::erfinv(x))
VT_FLOAT_UNARY(lgamma, std::lgamma(x))
VT_FLOAT_UNARY(digamma, math::digamma(x))
VT_FLOAT_UNARY(reciprocal, decltype(x)(1) / x)
VT_FLOAT_UNARY(mish, x * std::tanh(math::softplus(x, decltype(x)(1), decltype(x)(20))))
#undef VT_FLOAT_UNARY

// ---- activations as vector math (cpu/activations.h): float32 through SSE2/AVX2/AVX-512, not libm ----------
#define VT_VECTOR_UNARY(name, Fn)                                                                             \
  Tensor name##_k(const Tensor& s) { return unary_float(#name, s, Tensor(), vecmath::Forward<vecmath::Fn>{}); } \
  Tensor name##_ik(const Tensor& s) { unary_float(#name "_", s, s, vecmath::Forward<vecmath::Fn>{}); return s; }
VT_VECTOR_UNARY(sigmoid, Sigmoid)
VT_VECTOR_UNARY(silu, Silu)
VT_VECTOR_UNARY(exp, Exp)
VT_VECTOR_UNARY(tanh, Tanh)
#undef VT_VECTOR_UNARY

// ---- ops that keep integer dtypes ------------------------------------------------------------------
#define VT_NUMERIC_UNARY(name, expr)                                                                  \
  Tensor name##_k(const Tensor& s) { return unary_numeric(#name, s, Tensor(), [](auto x) { return expr; }); } \
  Tensor name##_ik(const Tensor& s) { unary_numeric(#name "_", s, s, [](auto x) { return expr; }); return s; }
VT_NUMERIC_UNARY(abs, math::abs(x))
VT_NUMERIC_UNARY(sign, math::sign(x))
VT_NUMERIC_UNARY(square, x * x)
VT_NUMERIC_UNARY(relu, x < decltype(x)(0) ? decltype(x)(0) : x)  // NaN stays NaN, as in PyTorch
VT_NUMERIC_UNARY(floor, math::floor(x))
VT_NUMERIC_UNARY(ceil, math::ceil(x))
VT_NUMERIC_UNARY(trunc, math::trunc(x))
#undef VT_NUMERIC_UNARY

void check_not_bool(const Tensor& s, const char* op, const char* hint) {
  VT_CHECK_TYPE(s.dtype() != DType::Bool, op, ": not supported for bool tensors", hint);
}
Tensor neg_k(const Tensor& s) {
  check_not_bool(s, "neg", ", use the `~` or `logical_not()` operator instead");
  return unary_numeric("neg", s, Tensor(), [](auto x) { return decltype(x)(-x); });
}
Tensor neg_ik(const Tensor& s) {
  check_not_bool(s, "neg_", ", use `logical_not_()` instead");
  unary_numeric("neg_", s, s, [](auto x) { return decltype(x)(-x); });
  return s;
}
Tensor frac_impl(const Tensor& s, const Tensor& out) {
  VT_CHECK_TYPE(is_floating(s.dtype()), "frac: expected a floating point tensor, got ", dtype_name(s.dtype()));
  return unary_float("frac", s, out, [](auto x) { return x - std::trunc(x); });
}
Tensor frac_k(const Tensor& s) { return frac_impl(s, Tensor()); }
Tensor frac_ik(const Tensor& s) { frac_impl(s, s); return s; }

Tensor round_impl(const Tensor& s, int64_t decimals, const Tensor& out) {
  if (!is_floating(s.dtype())) {
    VT_CHECK_TYPE(decimals == 0, "round: decimals is only supported for floating point tensors");
    return out.defined() ? out : clone(s);
  }
  if (decimals == 0) return unary_float("round", s, out, [](auto x) { return std::nearbyint(x); });
  double scale = std::pow(10.0, double(std::abs(decimals)));
  bool neg = decimals < 0;
  return unary_float("round", s, out, [scale, neg](auto x) {
    using T = decltype(x);
    T sc = T(scale);
    return neg ? std::nearbyint(x / sc) * sc : std::nearbyint(x * sc) / sc;
  }, gpu(neg ? "round_decimals_neg" : "round_decimals", {scale}));
}
Tensor round_k(const Tensor& s, int64_t d) { return round_impl(s, d, Tensor()); }
Tensor round_ik(const Tensor& s, int64_t d) { round_impl(s, d, s); return s; }

Tensor gelu_k(const Tensor& s, std::string_view approx) {
  if (approx == "none") return unary_float("gelu", s, Tensor(), vecmath::Forward<vecmath::Gelu>{});
  VT_CHECK_VALUE(approx == "tanh", "gelu: approximate must be 'none' or 'tanh', got '", approx, "'");
  return unary_float("gelu", s, Tensor(), vecmath::Forward<vecmath::GeluTanh>{}, gpu("gelu_tanh"));
}
Tensor softplus_k(const Tensor& s, Scalar beta, Scalar threshold) {
  double b = beta.to_double(), t = threshold.to_double();
  return unary_float("softplus", s, Tensor(), [b, t](auto x) {
    using T = decltype(x);
    return math::softplus(x, T(b), T(t));
  }, gpu("softplus", {b, t}));
}
Tensor elu_k(const Tensor& s, Scalar alpha) {
  double a = alpha.to_double();
  return unary_float("elu", s, Tensor(), [a](auto x) {
    using T = decltype(x);
    return x > T(0) ? x : T(a) * std::expm1(x);
  }, gpu("elu", {a}));
}
Tensor leaky_relu_k(const Tensor& s, Scalar slope) {
  double a = slope.to_double();
  return unary_float("leaky_relu", s, Tensor(), [a](auto x) {
    using T = decltype(x);
    return x > T(0) ? x : T(a) * x;
  }, gpu("leaky_relu", {a}));
}
Tensor hardtanh_k(const Tensor& s, Scalar lo, Scalar hi) {
  double l = lo.to_double(), h = hi.to_double();
  return unary_numeric("hardtanh", s, Tensor(), [l, h](auto x) {
    using T = decltype(x);
    return x < T(l) ? T(l) : x > T(h) ? T(h) : x;
  }, gpu("hardtanh", {l, h}));
}

Tensor nan_to_num_impl(const Tensor& s, std::optional<double> nan, std::optional<double> pinf,
                       std::optional<double> ninf, const Tensor& out) {
  if (!is_floating(s.dtype())) return out.defined() ? out : clone(s);
  return VT_DISPATCH_FLOATING(s.dtype(), "nan_to_num", [&] {
    using M = opmath_t<scalar_t>;
    double big = double(std::numeric_limits<float>::max());
    if (s.dtype() == DType::Float64) big = std::numeric_limits<double>::max();
    if (s.dtype() == DType::Float16) big = 65504.0;
    if (s.dtype() == DType::BFloat16) big = 3.3895313892515355e38;
    M n = M(nan.value_or(0.0)), p = M(pinf.value_or(big)), q = M(ninf.value_or(-big));
    TensorIterator it = TensorIteratorConfig("nan_to_num").add_output(out).add_input(s).build();
    run<scalar_t>(it, "nan_to_num", [=](M x) { return std::isnan(x) ? n : std::isinf(x) ? (x > 0 ? p : q) : x; },
                  gpu("nan_to_num", {double(n), double(p), double(q)}));
    return it.output();
  });
}
Tensor nan_to_num_k(const Tensor& s, std::optional<double> n, std::optional<double> p, std::optional<double> q) {
  return nan_to_num_impl(s, n, p, q, Tensor());
}
Tensor nan_to_num_ik(const Tensor& s, std::optional<double> n, std::optional<double> p, std::optional<double> q) {
  nan_to_num_impl(s, n, p, q, s);
  return s;
}

Tensor logical_not_impl(const Tensor& s, const Tensor& out) {
  TensorIterator it = TensorIteratorConfig("logical_not").add_output(out).add_input(s).output_dtype(
      out.defined() ? out.dtype() : DType::Bool).build();
  // Bool output (or the caller's dtype): compute as bool, cast on store.
  if (cuda::on_cuda(it)) {
    cuda::launch_elementwise(it, "logical_not");
    return it.output();
  }
  VT_DISPATCH_ALL(it.common_dtype(), "logical_not", [&] {
    using in_t = scalar_t;
    VT_DISPATCH_ALL(it.dtype(0), "logical_not", [&] {
      cpu_kernel_raw<in_t, scalar_t>(it, [](in_t x) { return scalar_t(!(opmath_t<in_t>(x) != opmath_t<in_t>(0))); });
    });
  });
  return it.output();
}
Tensor logical_not_k(const Tensor& s) { return logical_not_impl(s, Tensor()); }
Tensor logical_not_ik(const Tensor& s) { logical_not_impl(s, s); return s; }

Tensor bitwise_not_impl(const Tensor& s, const Tensor& out) {
  TensorIterator it = TensorIteratorConfig("bitwise_not").add_output(out).add_input(s).build();
  VT_DISPATCH_INTEGRAL_AND_BOOL(it.common_dtype(), "bitwise_not", [&] {
    if (cuda::on_cuda(it)) cuda::launch_elementwise(it, it.common_dtype() == DType::Bool ? "logical_not" : "bitwise_not");
    else if constexpr (std::is_same_v<scalar_t, bool>) cpu_kernel_raw<bool, bool>(it, [](bool x) { return !x; });
    else cpu_kernel_raw<scalar_t, scalar_t>(it, [](scalar_t x) { return scalar_t(~x); });
  });
  return it.output();
}
Tensor bitwise_not_k(const Tensor& s) { return bitwise_not_impl(s, Tensor()); }
Tensor bitwise_not_ik(const Tensor& s) { bitwise_not_impl(s, s); return s; }

Tensor isnan_k(const Tensor& s) { return unary_predicate("isnan", s, [](auto x) { return math::isnan(x); }); }
Tensor isinf_k(const Tensor& s) { return unary_predicate("isinf", s, [](auto x) { return math::isinf(x); }); }
Tensor isfinite_k(const Tensor& s) { return unary_predicate("isfinite", s, [](auto x) { return !math::isnan(x) && !math::isinf(x); }); }
Tensor signbit_k(const Tensor& s) { return unary_predicate("signbit", s, [](auto x) { return math::signbit(x); }); }

VT_REGISTER_KERNELS_ALL(m) {
#define VT_REG_BOTH(name) m.impl(#name, &name##_k); m.impl(#name "_", &name##_ik);
  VT_UNARY_FLOAT_OPS(VT_REG_BOTH)
  VT_REG_BOTH(abs) VT_REG_BOTH(sign) VT_REG_BOTH(square) VT_REG_BOTH(relu) VT_REG_BOTH(floor)
  VT_REG_BOTH(ceil) VT_REG_BOTH(trunc) VT_REG_BOTH(neg) VT_REG_BOTH(frac) VT_REG_BOTH(round)
  VT_REG_BOTH(nan_to_num) VT_REG_BOTH(logical_not) VT_REG_BOTH(bitwise_not)
#undef VT_REG_BOTH
  m.impl("gelu", &gelu_k);
  m.impl("softplus", &softplus_k);
  m.impl("elu", &elu_k);
  m.impl("leaky_relu", &leaky_relu_k);
  m.impl("hardtanh", &hardtanh_k);
  m.impl("isnan", &isnan_k);
  m.impl("isinf", &isinf_k);
  m.impl("isfinite", &isfinite_k);
  m.impl("signbit", &signbit_k);
}

}  // namespace
}  // namespace vt
