// LayerNorm and RMSNorm on CUDA as one fused kernel each way (kernels/triton/norm.py, key norm|...).
//
// The normalised dims are the trailing ones and contiguous, so the input is [rows, N]. Forward: one program
// per row holds it in registers, statistics in fp32 (fp64 for float64), and saves the row's mean (LayerNorm)
// and rstd, shaped [rows]. Backward: a fixed grid of programs, each taking every G-th row, writes dx from
// the saved statistics and sums its rows' weight/bias gradients into its own row of a [G, N] fp32 buffer;
// the column reduction (cuda/reduce.cpp) folds that buffer: deterministic, no atomics.
#include <algorithm>
#include <string>
#include <tuple>

#include "cuda/device.h"
#include "cuda/kernel_library.h"
#include "cuda/reduce.h"
#include "dispatch/dispatcher.h"
#include "ops/norm_rows.h"
#include "ops/views.h"

namespace vt::cuda {
namespace {
using norm::check_backward;
using norm::Rows;
using norm::rows_of;

// Longer rows would not fit a program's registers (the backward spills already at 8192 fp32 elements, 1024
// threads of 64 registers); vt.nn.functional keeps its composite for them.
constexpr int64_t kMaxFusedRow = 8192;
// Backward grid: programs of kBackwardWarpsPerSM warps per SM in all (half an SM's 64), enough to keep
// loads in flight, few enough that the [G, N] partial buffers stay small next to the rows (N = 4096: 16
// warps a program, G = 264 on an H100, 4.3 MB each for dw and db against 400 MB of x, dy and dx).
constexpr int64_t kBackwardWarpsPerSM = 32;

std::string affine(const Tensor& weight, bool has_bias) { return !weight.defined() ? "-" : has_bias ? "wb" : "w"; }

// The key; its aligned form (kernel_library.h) when the row length and every defined row operand allow
// 16-byte access (the kernels declare all row pointers and N: norm.aligned_args).
std::string key(const char* dir, const char* kind, const Tensor& x, const std::string& aff, int64_t n,
                std::initializer_list<const Tensor*> rows) {
  const bool aligned = aligned_rows(n, rows);
  return std::string("norm|") + dir + "|" + kind + "|" + dtype_name(x.dtype()) + "|" + aff + "|" +
         std::to_string(next_pow2(n)) + (aligned ? kAlignedSuffix : "");
}

// y, mean (LayerNorm only; undefined for RMSNorm) and rstd of [rows, N].
std::tuple<Tensor, Tensor, Tensor> forward(const char* kind, const Rows& r, const Tensor& input, const Tensor& weight,
                                           const Tensor& bias, double eps) {
  bool ln = kind[0] == 'l';
  Tensor y = empty(input.sizes(), input.dtype(), input.device());
  Tensor mean = ln ? empty(DimVec{r.rows}, stats_dtype(input.dtype()), input.device()) : Tensor();
  Tensor rstd = empty(DimVec{r.rows}, stats_dtype(input.dtype()), input.device());
  if (r.rows == 0) return {y, mean, rstd};
  std::vector<KernelArg> args{KernelArg::ptr(r.x.data())};
  for (const Tensor* p : {&weight, &bias})
    if (p->defined()) args.push_back(KernelArg::ptr(p->data()));
  args.push_back(KernelArg::ptr(y.data()));
  if (ln) args.push_back(KernelArg::ptr(mean.data()));
  args.push_back(KernelArg::ptr(rstd.data()));
  args.push_back(KernelArg::i64v(r.n));
  args.push_back(KernelArg::f64v(eps));
  const Kernel& k = kernel(key("fwd", kind, input, affine(weight, bias.defined()), r.n, {&r.x, &weight, &bias, &y}));
  activate(input.device().index);
  VT_CHECK(r.rows < (int64_t(1) << 31), kind, ": too many rows for one launch");
  k.launch(uint32_t(r.rows), 1, 1, args, current_stream(input.device().index));
  return {y, mean, rstd};
}

// dx, and the weight and bias gradients.
std::tuple<Tensor, Tensor, Tensor> backward(const char* kind, const Tensor& grad_out, const Tensor& input,
                                            IntArrayRef shape, const Tensor& mean, const Tensor& rstd,
                                            const Tensor& weight, bool has_bias) {
  Rows r = rows_of(kind, input, shape, weight, Tensor(), kMaxFusedRow);
  check_backward(kind, r, grad_out, input, mean, rstd);
  Tensor dy = contiguous(grad_out), dx = empty(input.sizes(), input.dtype(), input.device());
  std::string aff = affine(weight, has_bias);
  // (the weight-gradient partials are fresh [programs, N] buffers: aligned rows whenever N is)
  const Kernel& k = kernel(key("bwd", kind, input, aff, r.n, {&dy, &r.x, &weight, &dx}));
  int64_t per_sm = std::max<int64_t>(1, kBackwardWarpsPerSM / k.spec().num_warps);
  // no rows: no programs, and the fold of an empty [0, N] buffer gives the zero gradients
  int64_t programs = std::min(r.rows, per_sm * properties(input.device().index).multiprocessor_count);
  DType st = stats_dtype(input.dtype());
  Tensor dw = weight.defined() ? empty(DimVec{programs, r.n}, st, input.device()) : Tensor();
  Tensor db = aff == "wb" ? empty(DimVec{programs, r.n}, st, input.device()) : Tensor();
  if (r.rows > 0) {
    std::vector<KernelArg> args{KernelArg::ptr(dy.data()), KernelArg::ptr(r.x.data())};
    if (weight.defined()) args.push_back(KernelArg::ptr(weight.data()));
    if (kind[0] == 'l') args.push_back(KernelArg::ptr(mean.data()));
    args.push_back(KernelArg::ptr(rstd.data()));
    args.push_back(KernelArg::ptr(dx.data()));
    for (const Tensor* p : {&dw, &db})
      if (p->defined()) args.push_back(KernelArg::ptr(p->data()));
    args.push_back(KernelArg::i64v(r.rows));
    args.push_back(KernelArg::i64v(r.n));
    activate(input.device().index);
    k.launch(uint32_t(programs), 1, 1, args, current_stream(input.device().index));
  }
  // no weight / bias: a [0] tensor (the op's schema returns tensors; Python kernels cannot return none)
  auto fold = [&](const Tensor& partial) -> Tensor {
    if (!partial.defined()) return empty(DimVec{0}, input.dtype(), input.device());
    return reshape(reduce("sum", partial, {true, false}, input.dtype(), st), weight.sizes());
  };
  return {dx, fold(dw), fold(db)};
}

std::tuple<Tensor, Tensor, Tensor> native_layer_norm_cuda(const Tensor& input, IntArrayRef shape, const Tensor& weight,
                                                          const Tensor& bias, double eps) {
  Rows r = rows_of("layer_norm", input, shape, weight, bias, kMaxFusedRow);
  return forward("ln", r, input, weight, bias, eps);
}

std::tuple<Tensor, Tensor, Tensor> native_layer_norm_backward_cuda(const Tensor& grad_out, const Tensor& input,
                                                                   IntArrayRef shape, const Tensor& mean,
                                                                   const Tensor& rstd, const Tensor& weight,
                                                                   bool has_bias) {
  return backward("ln", grad_out, input, shape, mean, rstd, weight, has_bias);
}

std::tuple<Tensor, Tensor> fused_rms_norm_cuda(const Tensor& input, IntArrayRef shape, const Tensor& weight,
                                               double eps) {
  Rows r = rows_of("rms_norm", input, shape, weight, Tensor(), kMaxFusedRow);
  auto [y, mean, rstd] = forward("rms", r, input, weight, Tensor(), eps);
  return {y, rstd};
}

std::tuple<Tensor, Tensor> fused_rms_norm_backward_cuda(const Tensor& grad_out, const Tensor& input, IntArrayRef shape,
                                                        const Tensor& rstd, const Tensor& weight) {
  auto [dx, dw, db] = backward("rms", grad_out, input, shape, Tensor(), rstd, weight, false);
  return {dx, dw};
}

VT_REGISTER_KERNELS(CUDA, m) {
  m.impl("native_layer_norm", &native_layer_norm_cuda);
  m.impl("native_layer_norm_backward", &native_layer_norm_backward_cuda);
  m.impl("_fused_rms_norm", &fused_rms_norm_cuda);
  m.impl("_fused_rms_norm_backward", &fused_rms_norm_backward_cuda);
}

}  // namespace
}  // namespace vt::cuda
