// Bias + GELU / SiLU on CUDA as one kernel each way (kernels/triton/bias_act.py, key bact|...).
//
// y = act(x + b) with b broadcast over the last dim: the input is [M, N] rows. Forward: a grid of tiles.
// Backward: dx = dy * act'(x + b), recomputing x + b (the forward saves x and b, not the sum); with the
// bias gradient, a fixed grid of G programs per column block each sums its rows' dx into its own row of a
// [G, N] fp32 buffer, which the column reduction (cuda/reduce.cpp) folds: deterministic, no atomics, and dx
// is never read back.
#include <algorithm>
#include <string>
#include <string_view>
#include <tuple>

#include "cuda/device.h"
#include "cuda/kernel_library.h"
#include "cuda/reduce.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt::cuda {
namespace {

// Elements per tile: 16 per thread of a 4-warp program forward, 8 backward (which also holds dy and the
// bias-gradient sums): 67 and 54 registers for sm_90 in bf16, so the backward's 8 programs per SM are all
// resident (twice the tiles took 112 and 94). float64 tiles are half as large.
constexpr int64_t kForwardTile = 2048, kBackwardTile = 1024;
// Backward grid: about this many 4-warp programs per SM in all (half an SM's warps), enough loads in
// flight; fewer keep the [G, N] partial sums small (N = 3072: G = 88 on an H100, 1 MB against 150 MB of
// x, dy and dx at 8192 rows).
constexpr int64_t kBackwardProgramsPerSM = 8;
constexpr int64_t kMaxGridY = 65535;

struct Rows {
  Tensor x;
  int64_t m = 0, n = 1, block_m = 1, block_n = 16;
};

Rows rows_of(const char* op, const Tensor& input, const Tensor& bias, std::string_view act, int64_t tile) {
  VT_CHECK_VALUE(act == "gelu" || act == "gelu_tanh" || act == "silu", op,
                 ": activation must be 'gelu', 'gelu_tanh' or 'silu', got '", act, "'");
  VT_CHECK_TYPE(is_floating(input.dtype()), op, ": expected a floating point input, got ", dtype_name(input.dtype()));
  VT_CHECK_VALUE(input.dim() >= 1 && bias.dim() == 1 && bias.sizes()[0] == input.sizes()[input.dim() - 1], op,
                 ": bias must be 1-D with the input's last dim (", input.dim() ? input.sizes().back() : 0,
                 "), got shape ", shape_str(bias.sizes()));
  VT_CHECK_TYPE(bias.dtype() == input.dtype() && bias.device() == input.device(), op,
                ": bias must have the input's dtype and device");
  Rows r;
  r.x = contiguous(input);
  r.n = bias.sizes()[0];
  r.m = r.n ? input.numel() / r.n : 0;
  r.block_n = std::clamp<int64_t>(next_pow2(r.n), 16, 256);
  r.block_m = std::max<int64_t>(1, (input.dtype() == DType::Float64 ? tile / 2 : tile) / r.block_n);
  VT_CHECK_VALUE((r.n + r.block_n - 1) / r.block_n <= kMaxGridY, op, ": rows of ", r.n, " elements are too long");
  return r;
}

// The key; its aligned form (kernel_library.h) when N and every [M, N] or [N] operand allow 16-byte access
// (bias_act.aligned_args).
std::string key(const char* dir, std::string_view act, const Tensor& x, const std::string& extra, const Rows& r,
                std::initializer_list<const Tensor*> operands) {
  const bool aligned = aligned_rows(r.n, operands);
  return std::string("bact|") + dir + "|" + std::string(act) + "|" + dtype_name(x.dtype()) + extra + "|" +
         std::to_string(r.block_m) + "|" + std::to_string(r.block_n) + (aligned ? kAlignedSuffix : "");
}

Tensor bias_act_cuda(const Tensor& input, const Tensor& bias, std::string_view act) {
  Rows r = rows_of("bias_act", input, bias, act, kForwardTile);
  Tensor y = empty(input.sizes(), input.dtype(), input.device());
  int64_t tiles = (r.m + r.block_m - 1) / r.block_m;
  if (tiles == 0 || r.n == 0) return y;
  VT_CHECK_VALUE(tiles < (int64_t(1) << 31), "bias_act: too many rows for one launch");
  Tensor b = contiguous(bias);
  const Kernel& k = kernel(key("fwd", act, input, "", r, {&r.x, &b, &y}));
  activate(input.device().index);
  k.launch(uint32_t(tiles), uint32_t((r.n + r.block_n - 1) / r.block_n), 1,
           {KernelArg::ptr(r.x.data()), KernelArg::ptr(b.data()), KernelArg::ptr(y.data()),
            KernelArg::i64v(r.m), KernelArg::i64v(r.n)},
           current_stream(input.device().index));
  return y;
}

std::tuple<Tensor, Tensor> bias_act_backward_cuda(const Tensor& grad_out, const Tensor& input, const Tensor& bias,
                                                  std::string_view act, bool bias_grad) {
  Rows r = rows_of("bias_act_backward", input, bias, act, kBackwardTile);
  VT_CHECK_VALUE(grad_out.sizes() == input.sizes() && grad_out.dtype() == input.dtype() &&
                     grad_out.device() == input.device(),
                 "bias_act_backward: grad_out must match the input's shape, dtype and device");
  Tensor dy = contiguous(grad_out), dx = empty(input.sizes(), input.dtype(), input.device());
  int64_t blocks_n = (r.n + r.block_n - 1) / r.block_n, tiles = (r.m + r.block_m - 1) / r.block_m;
  int64_t sms = properties(input.device().index).multiprocessor_count;
  // no rows: no programs, and the fold of an empty [0, N] buffer gives the zero gradient
  int64_t programs = std::min(
      tiles, std::max<int64_t>(1, kBackwardProgramsPerSM * sms / std::max<int64_t>(1, blocks_n)));
  DType acc = acc_for(input.dtype());
  Tensor partial = bias_grad ? empty(DimVec{programs, r.n}, acc, input.device()) : Tensor();
  if (programs > 0 && r.n > 0) {
    Tensor b = contiguous(bias);
    std::vector<KernelArg> args{KernelArg::ptr(dy.data()), KernelArg::ptr(r.x.data()), KernelArg::ptr(b.data()),
                                KernelArg::ptr(dx.data())};
    if (bias_grad) args.push_back(KernelArg::ptr(partial.data()));
    args.push_back(KernelArg::i64v(r.m));
    args.push_back(KernelArg::i64v(r.n));
    const Kernel& k = kernel(key("bwd", act, input, bias_grad ? "|1" : "|0", r, {&dy, &r.x, &b, &dx, &partial}));
    activate(input.device().index);
    k.launch(uint32_t(programs), uint32_t(blocks_n), 1, args, current_stream(input.device().index));
  }
  // without the bias gradient: a [0] tensor (the schema returns tensors; Python kernels cannot return none)
  Tensor db = bias_grad ? reduce("sum", partial, {true, false}, input.dtype(), acc)
                        : empty(DimVec{0}, input.dtype(), input.device());
  return {dx, db};
}

VT_REGISTER_KERNELS(CUDA, m) {
  m.impl("_bias_act", &bias_act_cuda);
  m.impl("_bias_act_backward", &bias_act_backward_cuda);
}

}  // namespace
}  // namespace vt::cuda
