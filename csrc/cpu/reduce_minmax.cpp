// max, min, amax, amin on CPU: the extreme value over some or all dims. NaN propagates, like PyTorch.
#include "cpu/reduce_minmax.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {
using namespace reduce;

template <bool IsMax>
Tensor extreme(const char* name, const Tensor& self, std::optional<IntArrayRef> dims, bool keepdim) {
  check_nonempty(self, dims, name);
  return VT_DISPATCH_ALL(self.dtype(), name, [&] {
    return reduce1(name, ExtremeOps<scalar_t, IsMax>{}, self, dims, keepdim, self.dtype());
  });
}

Tensor max_k(const Tensor& self) { return extreme<true>("max", self, std::nullopt, false); }
Tensor min_k(const Tensor& self) { return extreme<false>("min", self, std::nullopt, false); }
Tensor amax_k(const Tensor& self, IntArrayRef dim, bool keepdim) { return extreme<true>("amax", self, dim, keepdim); }
Tensor amin_k(const Tensor& self, IntArrayRef dim, bool keepdim) { return extreme<false>("amin", self, dim, keepdim); }

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("max", &max_k);
  m.impl("min", &min_k);
  m.impl("amax", &amax_k);
  m.impl("amin", &amin_k);
}

}  // namespace
}  // namespace vt
