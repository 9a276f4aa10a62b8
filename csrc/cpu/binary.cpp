// Binary arithmetic on CPU: add, sub, mul, div (and its rounding modes), pow, the remainders, min/max ...
#include <cmath>

#include "cpu/loops.h"
#include "cpu/math.h"
#include "cuda/elementwise.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {

TensorIterator binary_iter(const char* name, const Tensor& out, const Tensor& a, const Tensor& b, bool to_float = false) {
  return TensorIteratorConfig(name).add_output(out).add_input(a).add_input(b).promote_integer_inputs_to_float(to_float)
      .cast_floats_on_load(true).build();
}

void check_alpha(const TensorIterator& it, Scalar alpha, const char* op) {
  DType d = it.common_dtype();
  VT_CHECK_TYPE(!(is_integral(d, true) && alpha.is_float()), op,
                ": for integral input tensors, argument alpha must not be a floating point number.");
  VT_CHECK_TYPE(!(d == DType::Bool && !alpha.is_bool() && alpha.to_int() != 0 && alpha.to_int() != 1), op,
                ": boolean alpha only supports boolean values");
}

Tensor add_impl(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha, const char* name) {
  TensorIterator it = binary_iter(name, out, a, b);
  check_alpha(it, alpha, name);
  if (cuda::on_cuda(it)) {
    if (it.common_dtype() == DType::Bool) cuda::launch_elementwise(it, "bool_add", {double(alpha.to<bool>())});
    else if (alpha == Scalar(int64_t(1))) cuda::launch_elementwise(it, "add1");
    else cuda::launch_elementwise(it, "add", {alpha.to_double()});
    return it.output();
  }
  VT_DISPATCH_ALL(it.common_dtype(), name, [&] {
    using M = opmath_t<scalar_t>;
    if constexpr (std::is_same_v<scalar_t, bool>) {
      bool al = alpha.to<bool>();
      cpu_kernel<bool>(it, [al](bool x, bool y) { return x || (al && y); });
    } else if (alpha == Scalar(int64_t(1))) {
      cpu_kernel<scalar_t>(it, [](M x, M y) { return M(x + y); });
    } else {
      M al = alpha.to<M>();
      cpu_kernel<scalar_t>(it, [al](M x, M y) { return M(x + al * y); });
    }
  });
  return it.output();
}
Tensor add_k(const Tensor& a, const Tensor& b, Scalar alpha) { return add_impl(Tensor(), a, b, alpha, "add"); }
Tensor add_ik(const Tensor& a, const Tensor& b, Scalar alpha) { add_impl(a, a, b, alpha, "add_"); return a; }

void check_sub(const Tensor& a, const Tensor& b) {
  VT_CHECK_TYPE(a.dtype() != DType::Bool || b.dtype() != DType::Bool,
                "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                "`logical_xor()` operator instead.");
  VT_CHECK_TYPE(a.dtype() != DType::Bool && b.dtype() != DType::Bool,
                "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to "
                "invert a mask, use the `~` or `logical_not()` operator instead.");
}
Tensor sub_k(const Tensor& a, const Tensor& b, Scalar alpha) {
  check_sub(a, b);
  return add_impl(Tensor(), a, b, alpha.is_float() ? Scalar(-alpha.to_double()) : Scalar(-alpha.to_int()), "sub");
}
Tensor sub_ik(const Tensor& a, const Tensor& b, Scalar alpha) {
  check_sub(a, b);
  add_impl(a, a, b, alpha.is_float() ? Scalar(-alpha.to_double()) : Scalar(-alpha.to_int()), "sub_");
  return a;
}
Tensor rsub_k(const Tensor& a, const Tensor& b, Scalar alpha) { return sub_k(b, a, alpha); }

Tensor mul_impl(const Tensor& out, const Tensor& a, const Tensor& b, const char* name) {
  TensorIterator it = binary_iter(name, out, a, b);
  if (cuda::on_cuda(it)) {
    cuda::launch_elementwise(it, it.common_dtype() == DType::Bool ? "logical_and" : "mul");
    return it.output();
  }
  VT_DISPATCH_ALL(it.common_dtype(), name, [&] {
    using M = opmath_t<scalar_t>;
    if constexpr (std::is_same_v<scalar_t, bool>) cpu_kernel<bool>(it, [](bool x, bool y) { return x && y; });
    else cpu_kernel<scalar_t>(it, [](M x, M y) { return M(x * y); });
  });
  return it.output();
}
Tensor mul_k(const Tensor& a, const Tensor& b) { return mul_impl(Tensor(), a, b, "mul"); }
Tensor mul_ik(const Tensor& a, const Tensor& b) { mul_impl(a, a, b, "mul_"); return a; }

// ---- division --------------------------------------------------------------------------------------
template <class T> inline T div_floor_float(T a, T b) {
  if (b == T(0)) return a / b;
  T mod = std::fmod(a, b), div = (a - mod) / b;
  if (mod != T(0) && (b < T(0)) != (mod < T(0))) div -= T(1);
  if (div == T(0)) return std::copysign(T(0), a / b);
  T fl = std::floor(div);
  if (div - fl > T(0.5)) fl += T(1);
  return fl;
}
template <class T> inline T div_floor_int(T a, T b) {
  if (b == T(0)) VT_THROW(ValueError, "ZeroDivisionError: integer division by zero");
  if constexpr (std::is_signed_v<T>) {
    if (b == T(-1)) return T(-a);  // avoids the INT_MIN / -1 trap
    T q = T(a / b);
    if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;
    return q;
  } else {
    return T(a / b);
  }
}
template <class T> inline T div_trunc_int(T a, T b) {
  if (b == T(0)) VT_THROW(ValueError, "ZeroDivisionError: integer division by zero");
  if constexpr (std::is_signed_v<T>) if (b == T(-1)) return T(-a);
  return T(a / b);
}
// Rounded division for any numeric type (the branch is resolved here, inside a template).
template <class T> inline T div_rounded(T a, T b, bool floor_mode) {
  if constexpr (std::is_integral_v<T>) return floor_mode ? div_floor_int(a, b) : div_trunc_int(a, b);
  else return floor_mode ? div_floor_float(a, b) : std::trunc(a / b);
}

Tensor div_impl(const Tensor& out, const Tensor& a, const Tensor& b, std::optional<std::string_view> mode,
                const char* name) {
  if (!mode) {
    TensorIterator it = binary_iter(name, out, a, b, true);
    if (cuda::on_cuda(it)) {
      cuda::launch_elementwise(it, "div");
      return it.output();
    }
    VT_DISPATCH_FLOATING(it.common_dtype(), name, [&] {
      using M = opmath_t<scalar_t>;
      cpu_kernel<scalar_t>(it, [](M x, M y) { return M(x / y); });
    });
    return it.output();
  }
  bool floor_mode = *mode == "floor";
  VT_CHECK_VALUE(floor_mode || *mode == "trunc", "div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                 "but found '", *mode, "'");
  TensorIterator it = binary_iter(name, out, a, b);
  if (cuda::on_cuda(it)) {  // integer division by zero cannot raise on the GPU without a sync
    bool fl = is_floating(it.common_dtype());
    cuda::launch_elementwise(it, floor_mode ? (fl ? "div_floor" : "idiv_floor") : (fl ? "div_trunc" : "idiv_trunc"));
    return it.output();
  }
  VT_DISPATCH_NUMERIC(it.common_dtype(), name, [&] {
    using M = opmath_t<scalar_t>;
    if (floor_mode) cpu_kernel<scalar_t>(it, [](M x, M y) { return div_rounded(x, y, true); });
    else cpu_kernel<scalar_t>(it, [](M x, M y) { return div_rounded(x, y, false); });
  });
  return it.output();
}
Tensor div_k(const Tensor& a, const Tensor& b, std::optional<std::string_view> m) { return div_impl(Tensor(), a, b, m, "div"); }
Tensor div_ik(const Tensor& a, const Tensor& b, std::optional<std::string_view> m) { div_impl(a, a, b, m, "div_"); return a; }
Tensor floor_divide_k(const Tensor& a, const Tensor& b) { return div_impl(Tensor(), a, b, "floor", "floor_divide"); }
Tensor floor_divide_ik(const Tensor& a, const Tensor& b) { div_impl(a, a, b, "floor", "floor_divide_"); return a; }

// ---- numeric binary ops with one formula for ints and floats ---------------------------------------
template <class T> inline T remainder_of(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (b == T(0)) return std::numeric_limits<T>::quiet_NaN();
    T m = std::fmod(a, b);
    if (m != T(0) && ((b < T(0)) != (m < T(0)))) m += b;
    return m;
  } else {
    if (b == T(0)) VT_THROW(ValueError, "ZeroDivisionError: integer modulo by zero");
    if constexpr (std::is_signed_v<T>) {
      if (b == T(-1)) return T(0);
      T m = T(a % b);
      if (m != 0 && ((b < 0) != (m < 0))) m = T(m + b);
      return m;
    } else {
      return T(a % b);
    }
  }
}
template <class T> inline T fmod_of(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return std::fmod(a, b);
  else {
    if (b == T(0)) VT_THROW(ValueError, "ZeroDivisionError: integer modulo by zero");
    if constexpr (std::is_signed_v<T>) if (b == T(-1)) return T(0);
    return T(a % b);
  }
}
template <class T> inline T pow_of(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return std::pow(a, b);
  else {
    if constexpr (std::is_signed_v<T>) {
      if (b < 0) {
        if (a == 1) return 1;
        if (a == -1) return (b % 2) ? T(-1) : T(1);
        VT_THROW(ValueError, "Integers to negative integer powers are not allowed.");
      }
    }
    T r = 1, base = a;
    for (auto e = b; e; e >>= 1) {
      if (e & 1) r = T(r * base);
      base = T(base * base);
    }
    return r;
  }
}
template <class T> inline T max_nan(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  return a > b ? a : b;
}
template <class T> inline T min_nan(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  return a < b ? a : b;
}
template <class T> inline T fmax_of(T a, T b) { if constexpr (std::is_floating_point_v<T>) return std::fmax(a, b); else return a > b ? a : b; }
template <class T> inline T fmin_of(T a, T b) { if constexpr (std::is_floating_point_v<T>) return std::fmin(a, b); else return a < b ? a : b; }

// On CUDA, the generated kernel named after the op (integer variants are prefixed "i" where they differ).
std::string cuda_op_name(const char* name, DType d) {
  std::string n(name);
  if (!n.empty() && n.back() == '_') n.pop_back();
  if (!is_floating(d) && (n == "remainder" || n == "fmod")) n = "i" + n;
  return n;
}

template <class F>
Tensor numeric_binary(const char* name, const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  TensorIterator it = binary_iter(name, out, a, b);
  if (cuda::on_cuda(it)) {
    cuda::launch_elementwise(it, cuda_op_name(name, it.common_dtype()));
    return it.output();
  }
  VT_DISPATCH_NUMERIC(it.common_dtype(), name, [&] { cpu_kernel<scalar_t>(it, f); });
  return it.output();
}
template <class F>
Tensor float_binary(const char* name, const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  TensorIterator it = binary_iter(name, out, a, b, true);
  if (cuda::on_cuda(it)) {
    cuda::launch_elementwise(it, cuda_op_name(name, it.common_dtype()));
    return it.output();
  }
  VT_DISPATCH_FLOATING(it.common_dtype(), name, [&] { cpu_kernel<scalar_t>(it, f); });
  return it.output();
}

#define VT_NUMERIC_BINARY(name, expr)                                                                           \
  Tensor name##_k(const Tensor& a, const Tensor& b) {                                                          \
    return numeric_binary(#name, Tensor(), a, b, [](auto x, auto y) { return decltype(x)(expr); });           \
  }                                                                                                            \
  Tensor name##_ik(const Tensor& a, const Tensor& b) {                                                         \
    numeric_binary(#name "_", a, a, b, [](auto x, auto y) { return decltype(x)(expr); });                     \
    return a;                                                                                                  \
  }
#define VT_FLOAT_BINARY(name, expr)                                                                             \
  Tensor name##_k(const Tensor& a, const Tensor& b) {                                                          \
    return float_binary(#name, Tensor(), a, b, [](auto x, auto y) { return decltype(x)(expr); });             \
  }                                                                                                            \
  Tensor name##_ik(const Tensor& a, const Tensor& b) {                                                         \
    float_binary(#name "_", a, a, b, [](auto x, auto y) { return decltype(x)(expr); });                       \
    return a;                                                                                                  \
  }
VT_NUMERIC_BINARY(remainder, remainder_of(x, y))
VT_NUMERIC_BINARY(fmod, fmod_of(x, y))
VT_NUMERIC_BINARY(maximum, max_nan(x, y))
VT_NUMERIC_BINARY(minimum, min_nan(x, y))
VT_NUMERIC_BINARY(fmax, fmax_of(x, y))
VT_NUMERIC_BINARY(fmin, fmin_of(x, y))
VT_FLOAT_BINARY(atan2, std::atan2(x, y))
VT_FLOAT_BINARY(hypot, std::hypot(x, y))
VT_FLOAT_BINARY(copysign, std::copysign(x, y))
VT_FLOAT_BINARY(xlogy, std::isnan(y) ? y : (x == decltype(x)(0) ? decltype(x)(0) : x * std::log(y)))
VT_FLOAT_BINARY(logaddexp, (std::isinf(x) && x == y) ? x : std::max(x, y) + std::log1p(std::exp(-std::abs(x - y))))

Tensor pow_impl(const Tensor& out, const Tensor& a, const Tensor& b, const char* name) {
  TensorIterator it = binary_iter(name, out, a, b);
  // A negative Python-number exponent must be refused before it is cast to the integer dtype: in uint8 the -1
  // becomes 255 and the loop's own check (signed types only) never sees it. PyTorch refuses any such scalar.
  VT_CHECK_VALUE(!(b.is_wrapped_number() && !is_floating(it.common_dtype()) && item(b).to_double() < 0),
                 "Integers to negative integer powers are not allowed.");
  if (cuda::on_cuda(it)) {
    VT_CHECK_TYPE(is_floating(it.common_dtype()), name, ": integer powers are not implemented on CUDA yet; "
                  "use floating point tensors");
    cuda::launch_elementwise(it, "pow");
    return it.output();
  }
  VT_DISPATCH_NUMERIC(it.common_dtype(), name, [&] {
    using M = opmath_t<scalar_t>;
    if (it.is_scalar(2) && std::is_floating_point_v<M>) {
      // Common exponents get exact, fast forms (x ** 2 is a multiply, like PyTorch).
      M e = M(*reinterpret_cast<const scalar_t*>(it.operand(2).data));
      if (e == M(2)) return cpu_kernel<scalar_t>(it, [](M x, M) { return M(x * x); });
      if (e == M(0.5)) return cpu_kernel<scalar_t>(it, [](M x, M) { return M(std::sqrt(x)); });
      if (e == M(1)) return cpu_kernel<scalar_t>(it, [](M x, M) { return x; });
    }
    cpu_kernel<scalar_t>(it, [](M x, M y) { return M(pow_of(x, y)); });
  });
  return it.output();
}
Tensor pow_k(const Tensor& a, const Tensor& b) { return pow_impl(Tensor(), a, b, "pow"); }
Tensor pow_ik(const Tensor& a, const Tensor& b) { pow_impl(a, a, b, "pow_"); return a; }

VT_REGISTER_KERNELS_ALL(m) {
#define VT_REG_BOTH(name) m.impl(#name, &name##_k); m.impl(#name "_", &name##_ik);
  VT_REG_BOTH(add) VT_REG_BOTH(sub) VT_REG_BOTH(mul) VT_REG_BOTH(div) VT_REG_BOTH(floor_divide)
  VT_REG_BOTH(remainder) VT_REG_BOTH(fmod) VT_REG_BOTH(pow) VT_REG_BOTH(atan2) VT_REG_BOTH(hypot)
  VT_REG_BOTH(copysign) VT_REG_BOTH(xlogy)
#undef VT_REG_BOTH
  m.impl("rsub", &rsub_k);
  m.impl("maximum", &maximum_k);
  m.impl("minimum", &minimum_k);
  m.impl("fmax", &fmax_k);
  m.impl("fmin", &fmin_k);
  m.impl("logaddexp", &logaddexp_k);
}

}  // namespace
}  // namespace vt
