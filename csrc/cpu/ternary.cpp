// where, masked_fill, clamp, lerp, addcmul and addcdiv on CPU.
#include <cmath>

#include "cpu/loops.h"
#include "cuda/elementwise.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt {
namespace {

Tensor where_k(const Tensor& cond, const Tensor& a, const Tensor& b) {
  VT_CHECK_TYPE(cond.dtype() == DType::Bool, "where expected condition to be a boolean tensor, but got a tensor "
                "with dtype ", dtype_name(cond.dtype()));
  ResultTypeState st;
  st.update(a);
  st.update(b);
  DType d = st.result();
  Tensor x = a.is_wrapped_number() ? scalar_tensor(item(a), d) : to_dtype(a, d);
  Tensor y = b.is_wrapped_number() ? scalar_tensor(item(b), d) : to_dtype(b, d);
  TensorIterator it = TensorIteratorConfig("where").add_output(Tensor()).add_input(cond).add_input(x).add_input(y)
                          .promote_inputs(false).output_dtype(d).build();
  if (cuda::on_cuda(it)) {
    cuda::launch_elementwise(it, "where");
    return it.output();
  }
  VT_DISPATCH_ALL(d, "where", [&] {
    it.for_each([](char** p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; i++) {
        bool c = *reinterpret_cast<const bool*>(p[1] + i * s[1]);
        *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = *reinterpret_cast<const scalar_t*>(c ? p[2] + i * s[2] : p[3] + i * s[3]);
      }
    });
  });
  return it.output();
}

void masked_fill_into(const Tensor& self, const Tensor& mask, const Tensor& value) {
  VT_CHECK_TYPE(mask.dtype() == DType::Bool, "masked_fill_ only supports boolean masks, but got mask with dtype ",
                dtype_name(mask.dtype()));
  VT_CHECK_VALUE(value.dim() == 0, "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with ",
                 value.dim(), " dimension(s).");
  Scalar v = item(value);
  VT_CHECK_TYPE(is_floating(self.dtype()) || !v.is_float(), "masked_fill: value cannot be converted to type ",
                dtype_name(self.dtype()), " without overflow");
  if (self.device().is_cuda()) {  // out = where(mask, value, self)
    TensorIterator it = TensorIteratorConfig("masked_fill_").add_output(self).add_input(self).add_input(mask)
                            .promote_inputs(false).output_dtype(self.dtype()).build();
    cuda::launch_elementwise(it, "masked_fill", {v.to_double()});
    return;
  }
  TensorIterator it = TensorIteratorConfig("masked_fill_").add_output(self).add_input(mask)
                          .promote_inputs(false).output_dtype(self.dtype()).build();
  VT_DISPATCH_ALL(self.dtype(), "masked_fill", [&] {
    scalar_t x = v.to<scalar_t>();
    it.for_each([x](char** p, const int64_t* s, int64_t n) {
      for (int64_t i = 0; i < n; i++)
        if (*reinterpret_cast<const bool*>(p[1] + i * s[1])) *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = x;
    });
  });
}
Tensor masked_fill_ik(const Tensor& self, const Tensor& mask, const Tensor& value) {
  masked_fill_into(self, mask, value);
  return self;
}
Tensor masked_fill_k(const Tensor& self, const Tensor& mask, const Tensor& value) {
  DimVec shape = broadcast_shapes(self.sizes(), mask.sizes(), "masked_fill");
  Tensor out = clone(shape == self.sizes() ? self : expand(self, shape));
  masked_fill_into(out, mask, value);
  return out;
}

Tensor clamp_impl(const Tensor& out, const Tensor& self, const Tensor& lo, const Tensor& hi, const char* name) {
  VT_CHECK_VALUE(lo.defined() || hi.defined(), "torch.clamp: At least one of 'min' or 'max' must not be None");
  TensorIteratorConfig cfg(name);
  cfg.add_output(out).add_input(self);
  if (lo.defined()) cfg.add_input(lo);
  if (hi.defined()) cfg.add_input(hi);
  TensorIterator it = cfg.build();
  if (cuda::on_cuda(it)) {
    cuda::launch_elementwise(it, lo.defined() && hi.defined() ? "clamp" : lo.defined() ? "clamp_min" : "clamp_max");
    return it.output();
  }
  VT_DISPATCH_NUMERIC(it.common_dtype(), name, [&] {
    using M = opmath_t<scalar_t>;
    auto clamp_lo = [](M x, M l) {
      if constexpr (std::is_floating_point_v<M>) if (std::isnan(x) || std::isnan(l)) return x + l;
      return x < l ? l : x;
    };
    auto clamp_hi = [](M x, M h) {
      if constexpr (std::is_floating_point_v<M>) if (std::isnan(x) || std::isnan(h)) return x + h;
      return x > h ? h : x;
    };
    if (lo.defined() && hi.defined())
      cpu_kernel<scalar_t>(it, [=](M x, M l, M h) { return clamp_hi(clamp_lo(x, l), h); });
    else if (lo.defined())
      cpu_kernel<scalar_t>(it, [=](M x, M l) { return clamp_lo(x, l); });
    else
      cpu_kernel<scalar_t>(it, [=](M x, M h) { return clamp_hi(x, h); });
  });
  return it.output();
}
Tensor clamp_k(const Tensor& s, const Tensor& lo, const Tensor& hi) { return clamp_impl(Tensor(), s, lo, hi, "clamp"); }
Tensor clamp_ik(const Tensor& s, const Tensor& lo, const Tensor& hi) { clamp_impl(s, s, lo, hi, "clamp_"); return s; }

Tensor lerp_impl(const Tensor& out, const Tensor& self, const Tensor& end, const Tensor& w, const char* name) {
  VT_CHECK_TYPE(is_floating(self.dtype()) && is_floating(end.dtype()), name,
                ": expected floating point tensors, got ", dtype_name(self.dtype()), " and ", dtype_name(end.dtype()));
  TensorIterator it = TensorIteratorConfig(name).add_output(out).add_input(self).add_input(end).add_input(w).build();
  if (cuda::on_cuda(it)) {
    cuda::launch_elementwise(it, "lerp");
    return it.output();
  }
  VT_DISPATCH_FLOATING(it.common_dtype(), name, [&] {
    using M = opmath_t<scalar_t>;
    cpu_kernel<scalar_t>(it, [](M a, M b, M t) {
      return std::abs(t) < M(0.5) ? a + t * (b - a) : b - (b - a) * (M(1) - t);
    });
  });
  return it.output();
}
Tensor lerp_k(const Tensor& s, const Tensor& e, const Tensor& w) { return lerp_impl(Tensor(), s, e, w, "lerp"); }
Tensor lerp_ik(const Tensor& s, const Tensor& e, const Tensor& w) { lerp_impl(s, s, e, w, "lerp_"); return s; }

Tensor addc_impl(const Tensor& out, const Tensor& self, const Tensor& t1, const Tensor& t2, Scalar value, bool div,
                 const char* name) {
  TensorIterator it = TensorIteratorConfig(name).add_output(out).add_input(self).add_input(t1).add_input(t2).build();
  DType d = it.common_dtype();
  VT_CHECK_TYPE(!(div && is_integral(d, true)), name, ": integer division with addcdiv is not supported; use "
                "floating point tensors");
  VT_CHECK_TYPE(!(is_integral(d, true) && value.is_float()), name,
                ": for integral input tensors, argument value must not be a floating point number.");
  if (cuda::on_cuda(it)) {
    cuda::launch_elementwise(it, div ? "addcdiv" : "addcmul", {value.to_double()});
    return it.output();
  }
  VT_DISPATCH_NUMERIC(d, name, [&] {
    using M = opmath_t<scalar_t>;
    M v = value.to<M>();
    if (div) cpu_kernel<scalar_t>(it, [v](M a, M b, M c) { return M(a + v * (b / c)); });
    else cpu_kernel<scalar_t>(it, [v](M a, M b, M c) { return M(a + v * b * c); });
  });
  return it.output();
}
Tensor addcmul_k(const Tensor& s, const Tensor& a, const Tensor& b, Scalar v) { return addc_impl(Tensor(), s, a, b, v, false, "addcmul"); }
Tensor addcmul_ik(const Tensor& s, const Tensor& a, const Tensor& b, Scalar v) { addc_impl(s, s, a, b, v, false, "addcmul_"); return s; }
Tensor addcdiv_k(const Tensor& s, const Tensor& a, const Tensor& b, Scalar v) { return addc_impl(Tensor(), s, a, b, v, true, "addcdiv"); }
Tensor addcdiv_ik(const Tensor& s, const Tensor& a, const Tensor& b, Scalar v) { addc_impl(s, s, a, b, v, true, "addcdiv_"); return s; }

VT_REGISTER_KERNELS_ALL(m) {
  m.impl("where", &where_k);
#define VT_REG_BOTH(name) m.impl(#name, &name##_k); m.impl(#name "_", &name##_ik);
  VT_REG_BOTH(masked_fill) VT_REG_BOTH(clamp) VT_REG_BOTH(lerp) VT_REG_BOTH(addcmul) VT_REG_BOTH(addcdiv)
#undef VT_REG_BOTH
}

}  // namespace
}  // namespace vt
