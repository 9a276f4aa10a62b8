// Mean cross-entropy from logits on CUDA (kernels/triton/cross_entropy.py, key xent|...).
//
// Forward: one program per row streams the logits once (running max and rescaled sum of exponentials) and
// writes the row's log-sum-exp and loss; one small program then sums the losses and counts the rows not
// ignored, writing loss = sum / count and the count (saved for the backward), with no host sync. Backward:
// one pass per row writes dlogits = (softmax - (1 - s) onehot - s / C) * grad / count from the saved
// log-sum-exp, so the probabilities are never materialised. A target outside [0, C) (and not ignored) is
// recorded in the device's status word and raised as an IndexError at the next synchronization, like the
// indexing ops' (cuda/error_flag.h); the kernel never reads past the row.
#include <algorithm>
#include <string>
#include <tuple>

#include "cuda/device.h"
#include "cuda/error_flag.h"
#include "cuda/kernel_library.h"
#include "cuda/reduce.h"
#include "dispatch/dispatcher.h"
#include "ops/cross_entropy_args.h"
#include "ops/views.h"

namespace vt::cuda {
namespace {
using xent::check_inputs;
using xent::check_saved;

// Logits stream through chunks of this many elements: 8 KB of bf16 per load step, 16 per thread.
constexpr int64_t kChunk = 4096;
constexpr int64_t kMeanBlock = 1024;  // kernels/triton/cross_entropy.py, MEAN_BLOCK

// The key; its aligned form (kernel_library.h) where the caller checked the row length and the logits (and
// dx) allow 16-byte access (cross_entropy.aligned_args; the mean has none).
std::string key(const char* op, const Tensor& x, int64_t block, bool aligned = false) {
  return std::string("xent|") + op + "|" + dtype_name(x.dtype()) + "|" + std::to_string(block) +
         (aligned ? kAlignedSuffix : "");
}

int64_t chunk(int64_t n) { return std::min(kChunk, next_pow2(n)); }

std::tuple<Tensor, Tensor, Tensor> cross_entropy_cuda(const Tensor& self, const Tensor& target, int64_t ignore_index,
                                                      double smoothing) {
  check_inputs("cross_entropy", self, target);
  Tensor x = contiguous(self), t = contiguous(target);
  int64_t rows = x.sizes()[0], n = x.sizes()[1];
  Tensor rows_loss = empty(DimVec{rows}, DType::Float32, x.device());
  Tensor lse = empty(DimVec{rows}, DType::Float32, x.device());
  Tensor loss = empty(DimVec{}, x.dtype(), x.device());
  Tensor count = empty(DimVec{}, DType::Float32, x.device());
  activate(x.device().index);
  Stream s = current_stream(x.device().index);
  VT_CHECK(rows < (int64_t(1) << 31), "cross_entropy: too many rows for one launch");
  if (rows > 0)
    kernel(key("fwd", x, chunk(n), aligned_rows(n, {&x})))
        .launch(uint32_t(rows), 1, 1,
                {KernelArg::ptr(x.data()), KernelArg::ptr(t.data()), KernelArg::ptr(rows_loss.data()),
                 KernelArg::ptr(lse.data()), KernelArg::i64v(n), KernelArg::i64v(ignore_index),
                 KernelArg::f32v(float(smoothing)), KernelArg::ptr(index_error_word(x.device().index)),
                 KernelArg::i64v(int64_t(IndexOp::CrossEntropy) << 32 | 1)},
                s);
  if (rows > 0) note_index_launch(s);
  // with no rows (or all ignored) the mean is 0 / 0 = NaN, as in PyTorch
  kernel(key("mean", x, kMeanBlock))
      .launch(1, 1, 1,
              {KernelArg::ptr(rows_loss.data()), KernelArg::ptr(t.data()), KernelArg::ptr(loss.data()),
               KernelArg::ptr(count.data()), KernelArg::i64v(rows), KernelArg::i64v(ignore_index)},
              s);
  return {loss, lse, count};
}

Tensor cross_entropy_backward_cuda(const Tensor& grad, const Tensor& self, const Tensor& target, const Tensor& lse,
                                   const Tensor& count, int64_t ignore_index, double smoothing) {
  check_inputs("cross_entropy_backward", self, target);
  int64_t rows = self.sizes()[0], n = self.sizes()[1];
  check_saved(self, grad, lse, count, DType::Float32);  // the kernels' statistics are float32
  Tensor x = contiguous(self), t = contiguous(target);
  Tensor g = grad.dtype() == x.dtype() ? contiguous(grad) : to_dtype(grad, x.dtype());
  Tensor dx = empty(x.sizes(), x.dtype(), x.device());
  if (rows == 0) return dx;
  activate(x.device().index);
  kernel(key("bwd", x, chunk(n), aligned_rows(n, {&x, &dx})))
      .launch(uint32_t(rows), 1, 1,
              {KernelArg::ptr(x.data()), KernelArg::ptr(t.data()), KernelArg::ptr(lse.data()),
               KernelArg::ptr(g.data()), KernelArg::ptr(count.data()), KernelArg::ptr(dx.data()),
               KernelArg::i64v(n), KernelArg::i64v(ignore_index), KernelArg::f32v(float(smoothing))},
              current_stream(x.device().index));
  return dx;
}

VT_REGISTER_KERNELS(CUDA, m) {
  m.impl("_cross_entropy_logits", &cross_entropy_cuda);
  m.impl("_cross_entropy_logits_backward", &cross_entropy_backward_cuda);
}

}  // namespace
}  // namespace vt::cuda
