// Comparisons, logical and bitwise ops on CPU. Comparisons compute in the promoted dtype, output bool.
#include "cpu/cast.h"
#include "cpu/loops.h"
#include "cuda/elementwise.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {

// Output is bool, or the caller's tensor for the in-place forms (stored as 0/1 in its dtype).
template <class F>
Tensor predicate_binary(const char* name, const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  TensorIterator it = TensorIteratorConfig(name).add_output(out).add_input(a).add_input(b)
                          .output_dtype(out.defined() ? out.dtype() : DType::Bool).build();
  if (cuda::on_cuda(it)) {
    std::string op(name);
    if (op.back() == '_') op.pop_back();
    cuda::launch_elementwise(it, op);
    return it.output();
  }
  VT_DISPATCH_ALL(it.common_dtype(), name, [&] {
    using in_t = scalar_t;
    using M = opmath_t<in_t>;
    if (it.dtype(0) == DType::Bool) {
      cpu_kernel<in_t, bool>(it, [f](M x, M y) { return bool(f(x, y)); });
    } else {
      VT_DISPATCH_ALL(it.dtype(0), name, [&] {
        cpu_kernel_raw<in_t, scalar_t>(it, [f](in_t x, in_t y) { return cast_to<scalar_t>(bool(f(M(x), M(y)))); });
      });
    }
  });
  return it.output();
}

#define VT_PREDICATE(name, expr)                                                                         \
  Tensor name##_k(const Tensor& a, const Tensor& b) {                                                   \
    return predicate_binary(#name, Tensor(), a, b, [](auto x, auto y) { return expr; });               \
  }                                                                                                     \
  Tensor name##_ik(const Tensor& a, const Tensor& b) {                                                  \
    predicate_binary(#name "_", a, a, b, [](auto x, auto y) { return expr; });                         \
    return a;                                                                                           \
  }
VT_PREDICATE(eq, x == y)
VT_PREDICATE(ne, x != y)
VT_PREDICATE(lt, x < y)
VT_PREDICATE(le, x <= y)
VT_PREDICATE(gt, x > y)
VT_PREDICATE(ge, x >= y)
VT_PREDICATE(logical_and, (x != decltype(x)(0)) && (y != decltype(y)(0)))
VT_PREDICATE(logical_or, (x != decltype(x)(0)) || (y != decltype(y)(0)))
VT_PREDICATE(logical_xor, (x != decltype(x)(0)) != (y != decltype(y)(0)))
#undef VT_PREDICATE

template <class F>
Tensor bitwise_binary(const char* name, const Tensor& out, const Tensor& a, const Tensor& b, F f, bool allow_bool) {
  TensorIterator it = TensorIteratorConfig(name).add_output(out).add_input(a).add_input(b).build();
  DType d = it.common_dtype();
  VT_CHECK_TYPE(is_integral(d, allow_bool), name, ": not implemented for '", dtype_name(d),
                "' (needs integer", (allow_bool ? " or bool" : ""), " tensors)");
  if (cuda::on_cuda(it)) {
    std::string op(name);
    if (op.back() == '_') op.pop_back();
    cuda::launch_elementwise(it, op);
    return it.output();
  }
  VT_DISPATCH_INTEGRAL_AND_BOOL(d, name, [&] {
    cpu_kernel_raw<scalar_t, scalar_t>(it, [f](scalar_t x, scalar_t y) { return scalar_t(f(x, y)); });
  });
  return it.output();
}

template <class T> inline T shift_left(T a, T b) {
  using U = std::make_unsigned_t<T>;
  if (b < 0 || b >= T(sizeof(T) * 8)) return 0;
  return T(U(a) << b);
}
template <class T> inline T shift_right(T a, T b) {
  if constexpr (std::is_signed_v<T>) {
    if (b < 0 || b >= T(sizeof(T) * 8)) return a < 0 ? T(-1) : T(0);
  } else {
    if (b >= T(sizeof(T) * 8)) return 0;
  }
  return T(a >> b);
}

#define VT_BITWISE(name, expr, allow_bool)                                                               \
  Tensor name##_k(const Tensor& a, const Tensor& b) {                                                   \
    return bitwise_binary(#name, Tensor(), a, b, [](auto x, auto y) { return expr; }, allow_bool);     \
  }                                                                                                     \
  Tensor name##_ik(const Tensor& a, const Tensor& b) {                                                  \
    bitwise_binary(#name "_", a, a, b, [](auto x, auto y) { return expr; }, allow_bool);               \
    return a;                                                                                           \
  }
VT_BITWISE(bitwise_and, x & y, true)
VT_BITWISE(bitwise_or, x | y, true)
VT_BITWISE(bitwise_xor, x ^ y, true)
#undef VT_BITWISE

Tensor shift_impl(const char* name, const Tensor& out, const Tensor& a, const Tensor& b, bool left) {
  TensorIterator it = TensorIteratorConfig(name).add_output(out).add_input(a).add_input(b).build();
  if (cuda::on_cuda(it)) {
    VT_CHECK_TYPE(is_integral(it.common_dtype(), false), name, ": needs integer tensors");
    cuda::launch_elementwise(it, left ? "lshift" : "rshift");
    return it.output();
  }
  VT_DISPATCH_INTEGRAL(it.common_dtype(), name, [&] {
    if (left) cpu_kernel_raw<scalar_t, scalar_t>(it, [](scalar_t x, scalar_t y) { return shift_left(x, y); });
    else cpu_kernel_raw<scalar_t, scalar_t>(it, [](scalar_t x, scalar_t y) { return shift_right(x, y); });
  });
  return it.output();
}
Tensor lshift_k(const Tensor& a, const Tensor& b) { return shift_impl("bitwise_left_shift", Tensor(), a, b, true); }
Tensor lshift_ik(const Tensor& a, const Tensor& b) { shift_impl("bitwise_left_shift_", a, a, b, true); return a; }
Tensor rshift_k(const Tensor& a, const Tensor& b) { return shift_impl("bitwise_right_shift", Tensor(), a, b, false); }
Tensor rshift_ik(const Tensor& a, const Tensor& b) { shift_impl("bitwise_right_shift_", a, a, b, false); return a; }

VT_REGISTER_KERNELS_ALL(m) {
#define VT_REG_BOTH(name) m.impl(#name, &name##_k); m.impl(#name "_", &name##_ik);
  VT_REG_BOTH(eq) VT_REG_BOTH(ne) VT_REG_BOTH(lt) VT_REG_BOTH(le) VT_REG_BOTH(gt) VT_REG_BOTH(ge)
  VT_REG_BOTH(logical_and) VT_REG_BOTH(logical_or) VT_REG_BOTH(logical_xor)
  VT_REG_BOTH(bitwise_and) VT_REG_BOTH(bitwise_or) VT_REG_BOTH(bitwise_xor)
#undef VT_REG_BOTH
  m.impl("bitwise_left_shift", &lshift_k);
  m.impl("bitwise_left_shift_", &lshift_ik);
  m.impl("bitwise_right_shift", &rshift_k);
  m.impl("bitwise_right_shift_", &rshift_ik);
}

}  // namespace
}  // namespace vt
