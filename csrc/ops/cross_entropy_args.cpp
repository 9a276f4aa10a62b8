#include "ops/cross_entropy_args.h"

#include "core/error.h"

namespace vt::xent {

void check_inputs(const char* op, const Tensor& self, const Tensor& target) {
  VT_CHECK_TYPE(is_floating(self.dtype()), op, ": expected floating point logits, got ", dtype_name(self.dtype()));
  VT_CHECK_VALUE(self.dim() == 2 && self.sizes()[1] >= 1, op, ": expected [rows, classes] logits");
  VT_CHECK_TYPE(target.dtype() == DType::Int64, op, ": expected int64 class indices, got ",
                dtype_name(target.dtype()));
  VT_CHECK_VALUE(target.dim() == 1 && target.sizes()[0] == self.sizes()[0] && target.device() == self.device(), op,
                 ": expected one target per row, on the logits' device");
}

void check_saved(const Tensor& self, const Tensor& grad, const Tensor& lse, const Tensor& count, DType lse_dtype) {
  VT_CHECK_VALUE(grad.numel() == 1 && lse.numel() == self.sizes()[0] &&
                     lse.dtype() == lse_dtype && count.numel() == 1 &&
                     count.dtype() == DType::Float32 && lse.is_contiguous(),
                 "cross_entropy_backward: expected a scalar grad and the forward's lse and count");
}

}  // namespace vt::xent
