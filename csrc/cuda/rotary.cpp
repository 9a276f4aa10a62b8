// Rotary position embedding on CUDA as one kernel (kernels/triton/rotary.py, key rope|...); the backward is
// the same kernel rotating by -theta (inverse), since a rotation's transpose is its inverse.
//
// The input is [B, T, H, D] (seq_dim 1) or [B, H, T, D] (seq_dim 2), read through its strides (q and k split
// from one qkv projection are views) with the last dim contiguous; the output is a fresh contiguous tensor
// of the input's shape. cos and sin are [>= T, R / 2]: the first T rows are used, the first R dims of each
// head rotate and the rest pass through.
#include <algorithm>
#include <string>

#include "cuda/device.h"
#include "cuda/kernel_library.h"
#include "cuda/reduce.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt::cuda {
namespace {

// Elements of x per program: 16 per thread of a 4-warp program, in whole (b, t) rows of all heads (twice
// that took 122 registers for sm_90 at H = 12, D = 64; this, 56).
constexpr int64_t kTile = 2048;
constexpr int64_t kMaxRows = 16;

Tensor rotary_emb_cuda(const Tensor& input, const Tensor& cos, const Tensor& sin, int64_t seq_dim, bool interleaved,
                       bool inverse) {
  const char* op = "rotary_emb";
  VT_CHECK_TYPE(is_floating(input.dtype()), op, ": expected a floating point input, got ", dtype_name(input.dtype()));
  VT_CHECK_VALUE(input.dim() == 4, op, ": expected a 4-D input ([B, T, H, D] or [B, H, T, D]), got shape ",
                 shape_str(input.sizes()));
  VT_CHECK_VALUE(seq_dim == 1 || seq_dim == 2, op, ": seq_dim must be 1 or 2, got ", seq_dim);
  VT_CHECK_VALUE(cos.dim() == 2 && cos.sizes() == sin.sizes(), op, ": cos and sin must both be [T, rotary_dim / 2]");
  VT_CHECK_TYPE(is_floating(cos.dtype()) && cos.dtype() == sin.dtype(), op,
                ": cos and sin must share one floating point dtype");
  VT_CHECK_VALUE(cos.device() == input.device() && sin.device() == input.device(), op,
                 ": cos and sin must be on the input's device");
  const int64_t t = input.sizes()[seq_dim], h = input.sizes()[3 - seq_dim], d = input.sizes()[3];
  const int64_t half = cos.sizes()[1];
  VT_CHECK_VALUE(cos.sizes()[0] >= t, op, ": cos and sin have ", cos.sizes()[0], " positions, the input ", t);
  VT_CHECK_VALUE(half >= 1 && 2 * half <= d, op, ": cos and sin must hold 1 to head_dim / 2 (", d / 2,
                 ") frequencies, got ", half);
  Tensor x = input.strides()[3] == 1 ? input : contiguous(input);
  Tensor c = contiguous(cos), s = contiguous(sin);
  Tensor out = empty(input.sizes(), input.dtype(), input.device());
  const int64_t bt = input.sizes()[0] * t;
  if (out.numel() == 0) return out;
  const int64_t block_h = next_pow2(h), block_r = next_pow2(half), rest = d - 2 * half;
  const int64_t rows = std::clamp<int64_t>(kTile / (block_h * 2 * block_r), 1, kMaxRows);
  const int64_t block_p = rest ? next_pow2(rest) : 0;
  const std::string key = std::string("rope|") + dtype_name(x.dtype()) + "|" + dtype_name(c.dtype()) + "|" +
                          (interleaved ? "1|" : "0|") + (inverse ? "1|" : "0|") + std::to_string(rows) + "|" +
                          std::to_string(block_h) + "|" + std::to_string(block_r) + "|" + std::to_string(block_p);
  const int64_t bd = 0, td = seq_dim, hd = 3 - seq_dim;  // the (b, t, h) dims of x and out
  const int64_t programs = (bt + rows - 1) / rows;
  VT_CHECK_VALUE(programs < (int64_t(1) << 31), op, ": too many rows for one launch");
  const Kernel& k = kernel(key);
  activate(input.device().index);
  k.launch(uint32_t(programs), 1, 1,
           {KernelArg::ptr(x.data()), KernelArg::ptr(c.data()), KernelArg::ptr(s.data()), KernelArg::ptr(out.data()),
            KernelArg::i64v(bt), KernelArg::i64v(t), KernelArg::i64v(h), KernelArg::i64v(half), KernelArg::i64v(rest),
            KernelArg::i64v(x.strides()[bd]), KernelArg::i64v(x.strides()[td]), KernelArg::i64v(x.strides()[hd]),
            KernelArg::i64v(out.strides()[bd]), KernelArg::i64v(out.strides()[td]),
            KernelArg::i64v(out.strides()[hd]), KernelArg::i64v(c.strides()[0])},
           current_stream(input.device().index));
  return out;
}

VT_REGISTER_KERNELS(CUDA, m) { m.impl("_rotary_emb", &rotary_emb_cuda); }

}  // namespace
}  // namespace vt::cuda
