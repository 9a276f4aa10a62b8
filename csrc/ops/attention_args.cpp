#include "ops/attention_args.h"

#include <cmath>

#include "core/error.h"

namespace vt::attention {

Shape check(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, std::optional<double> scale) {
  VT_CHECK_VALUE(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, op, ": expected query, key and value shaped "
                 "[batch, heads, length, head_dim], got ", q.dim(), "-d, ", k.dim(), "-d and ", v.dim(), "-d");
  VT_CHECK_TYPE(q.dtype() == k.dtype() && q.dtype() == v.dtype(), op, ": query, key and value must share a dtype, "
                "got ", dtype_name(q.dtype()), ", ", dtype_name(k.dtype()), " and ", dtype_name(v.dtype()));
  VT_CHECK_VALUE(k.device() == q.device() && v.device() == q.device(), op,
                 ": query, key and value must be on one device");
  Shape s{q.sizes()[0], q.sizes()[1], k.sizes()[1], q.sizes()[2], k.sizes()[2], q.sizes()[3], 0.0};
  VT_CHECK_VALUE(k.sizes() == v.sizes(), op, ": key and value must have one shape");
  VT_CHECK_VALUE(k.sizes()[0] == s.B && k.sizes()[3] == s.D, op,
                 ": key and value must match the query's batch and head_dim");
  VT_CHECK_VALUE(s.Hkv >= 1 && s.Hq % s.Hkv == 0, op, ": key/value heads (", s.Hkv,
                 ") must divide the query heads (", s.Hq, ")");
  s.scale = scale ? *scale : 1.0 / std::sqrt(double(s.D));
  VT_CHECK_VALUE(std::isfinite(s.scale), op, ": the scale must be finite, got ", s.scale);
  return s;
}

void check_backward(const char* op, const Shape& s, const Tensor& query, const Tensor& grad_out, const Tensor& out,
                    const Tensor& lse, DType lse_dtype) {
  for (const Tensor* t : {&grad_out, &out})
    VT_CHECK_VALUE(t->sizes() == query.sizes() && t->dtype() == query.dtype() && t->device() == query.device(), op,
                   ": grad_out and out must match the query's shape, dtype and device");
  VT_CHECK_VALUE(lse.dim() == 3 && lse.sizes()[0] == s.B && lse.sizes()[1] == s.Hq && lse.sizes()[2] == s.Lq &&
                     lse.dtype() == lse_dtype && lse.is_contiguous() && lse.device() == query.device(),
                 op, ": lse must be the forward's ", dtype_name(lse_dtype), " [batch, heads, length] log-sum-exp");
}

}  // namespace vt::attention
