// Reduction-family ops made of other ops: max(a, b) / min(a, b) are PyTorch's spellings of the
// elementwise maximum / minimum (NaN-propagating), so they dispatch there and share their derivative.
#include "dispatch/dispatcher.h"

namespace vt {
namespace {

using BinaryOp = TypedOp<Tensor(const Tensor&, const Tensor&)>;

Tensor max_other_k(const Tensor& self, const Tensor& other) {
  static BinaryOp maximum("maximum");
  return maximum(self, other);
}
Tensor min_other_k(const Tensor& self, const Tensor& other) {
  static BinaryOp minimum("minimum");
  return minimum(self, other);
}

VT_REGISTER_KERNELS(Composite, m) {
  m.impl("max.other", &max_other_k);
  m.impl("min.other", &min_other_k);
}

}  // namespace
}  // namespace vt
