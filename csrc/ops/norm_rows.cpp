#include "ops/norm_rows.h"

#include "core/error.h"
#include "ops/views.h"

namespace vt::norm {

Rows rows_of(const char* op, const Tensor& input, IntArrayRef shape, const Tensor& weight, const Tensor& bias,
             int64_t max_row) {
  VT_CHECK_TYPE(is_floating(input.dtype()), op, ": expected a floating point input, got ", dtype_name(input.dtype()));
  int64_t k = int64_t(shape.size());
  VT_CHECK_VALUE(k >= 1 && k <= input.dim(), op, ": normalized_shape must name 1 to ", input.dim(), " dims");
  Rows r;
  for (int64_t i = 0; i < k; i++) {
    VT_CHECK_VALUE(input.sizes()[input.dim() - k + i] == shape[size_t(i)], op,
                   ": normalized_shape does not match the input's trailing dims");
    r.n *= shape[size_t(i)];
  }
  VT_CHECK_VALUE(r.n >= 1 && r.n <= max_row, op, ": rows of 1 to ", max_row, " elements, got ", r.n);
  VT_CHECK_VALUE(!bias.defined() || weight.defined(), op, ": the fused kernels take a bias only with a weight");
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    VT_CHECK_VALUE(p->numel() == r.n && p->is_contiguous(), op, ": weight and bias must be contiguous, shaped like "
                   "normalized_shape");
    VT_CHECK_TYPE(p->dtype() == input.dtype() && p->device() == input.device(), op,
                  ": weight and bias must have the input's dtype and device");
  }
  r.x = contiguous(input);
  r.rows = r.n ? input.numel() / r.n : 0;
  return r;
}

void check_backward(const char* op, const Rows& r, const Tensor& grad_out, const Tensor& input, const Tensor& mean,
                    const Tensor& rstd) {
  VT_CHECK_VALUE(grad_out.sizes() == input.sizes() && grad_out.dtype() == input.dtype(), op,
                 ": grad_out must match the input's shape and dtype");
  for (const Tensor* s : {&mean, &rstd})
    VT_CHECK_VALUE(!s->defined() || (s->numel() == r.rows && s->dtype() == stats_dtype(input.dtype()) &&
                                     s->device() == input.device() && s->is_contiguous()),
                   op, ": mean and rstd must hold one statistic per row, as the forward saved them");
}

}  // namespace vt::norm
