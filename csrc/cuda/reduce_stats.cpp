// var, std and logsumexp on CUDA, each as two reductions (cuda/reduce.cpp): never E[x^2] - E[x]^2.
//   var/std:   the exact mean (a sum divided by N, in the accumulator type), then the sum of squared
//              deviations from it, divided by max(0, N - correction) (and square-rooted) as it is stored.
//   logsumexp: the max, then log(sum(exp(x - max))) + max, where an infinite max shifts by 0 (all -inf
//              rows give -inf, a +inf gives inf, NaN propagates), as PyTorch does.
// Long reduced ranges split over programs in both passes; the final step then runs in the fold.
#include <algorithm>

#include "cuda/device.h"
#include "cuda/reduce.h"
#include "ops/iterator.h"
#include "ops/views.h"

namespace vt::cuda {

Tensor var_std(bool is_std, const Tensor& self, std::optional<IntArrayRef> dims, double correction, bool keepdim) {
  ReduceDims rd = make_reduce_dims(self, dims, keepdim, is_std ? "std" : "var");
  int64_t n = 1;
  for (int64_t d = 0; d < self.dim(); d++)
    if (rd.mask[size_t(d)]) n *= self.sizes()[d];
  DType acc = acc_for(self.dtype());
  Tensor mean = reduce("sumdiv", self, rd.mask, acc, acc, double(n));
  Tensor out = reduce(is_std ? "std" : "var", self, rd.mask, self.dtype(), acc,
                      std::max(0.0, double(n) - correction), mean);
  return reshape(out, keepdim ? rd.out_shape : rd.kept_shape);
}

Tensor logsumexp(const Tensor& self, IntArrayRef dims, bool keepdim) {
  ReduceDims rd = make_reduce_dims(self, dims, keepdim, "logsumexp");
  DType acc = acc_for(self.dtype());
  Tensor max = reduce("amax", self, rd.mask, acc, acc);
  Tensor out = reduce("lse", self, rd.mask, self.dtype(), acc, 0, max);
  return reshape(out, keepdim ? rd.out_shape : rd.kept_shape);
}

}  // namespace vt::cuda
