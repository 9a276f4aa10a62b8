// Fused attention on CUDA, FlashAttention-2 style (kernels/triton/attention_kernels.py, key attn|...).
//
// q [B, Hq, Lq, D], k and v [B, Hkv, Lk, D] (Hkv divides Hq: grouped-query attention), bf16 or fp16, at any
// strides with the head dim contiguous. Forward: one program per (query block, head) runs the online softmax
// over the key blocks the causal mask leaves it, never holding a score matrix, and writes the output and
// the row's log-sum-exp (fp32, [B, Hq, Lq]). Backward, without atomics: delta = rowsum(dO * O); one program
// per (key block, key head) recomputes P^T from K Q^T and the log-sum-exp and accumulates dK and dV in
// registers over every query block of every query head of its group, writing each once; one program per
// (query block, head) does the same by rows for dQ. The dQ pass recomputes Q K^T and dO V^T (7 matmuls in
// all instead of FA2's 5), the price of deterministic gradients with no fp32 dQ buffer, atomics or
// conversion pass.
//
// Outputs and gradients are allocated [B, T, H, D] in memory and returned as [B, H, T, D] views, as torch's
// flash kernels do: the usual `o.transpose(1, 2).reshape(B, T, H * D)` is then free.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/device.h"
#include "cuda/kernel_library.h"
#include "dispatch/dispatcher.h"
#include "ops/attention_args.h"
#include "ops/views.h"

namespace vt::cuda {
namespace {

// ---- the tuning table -------------------------------------------------------------------------------------
// Per pass and head dim: BLOCK_M (query rows a program or loop step takes), BLOCK_N (key rows), warps,
// software-pipelining stages. VIBETENSOR_ATTENTION_CONFIG overrides entries, read once per process:
// "fwd:128=128,128,8,3;dq:64=128,64,4,3" (benchmarks/cuda_attention.py --sweep tries candidates).
struct Config {
  int block_m, block_n, warps, stages;
};
enum Pass { kFwd, kDelta, kDkDv, kDq, kPasses };
constexpr const char* kPassNames[kPasses] = {"fwd", "delta", "dkdv", "dq"};
constexpr int64_t kHeadDims[] = {16, 32, 64, 128};
constexpr int kNumHeadDims = 4;
// Chosen for Hopper: 8 warps (two warpgroups of 64 wgmma rows) for 128-row tiles; at D = 128 the forward
// keeps Q, the 128x128 fp32 accumulator and a 128x64 score tile in 234 registers a thread (no spills,
// cuobjdump --dump-resource-usage of the sm_90 cubins, Triton 3.6 and 3.9). D = 128 timed on an H100
// (cuda_attention.py --sweep fwd:128 / dkdv:128 / dq:128, Triton 3.6): the forward's 128,64,8,3 was the best
// of ten; dK/dV in 64-row query steps with 2 stages (3.50 -> 3.22 ms for the B32 H10 T2048 backward, though
// two 128x128 fp32 accumulators and 64-row steps spilled with 3 stages) and dQ with 3 stages (3.48 -> 3.20);
// at D = 64 dK/dV in 64x64 tiles with 4 warps (--sweep dkdv:64: B32 H10 T2048 backward 1.95 -> 1.80 ms).
// float32 (the second table): operands twice as wide and each dot three TF32 dots (3xTF32, float32
// accuracy), so tiles are half as tall and pipelines shallower. dkdv at D = 64 timed on an H200
// (cuda_attention.py --sweep f32.dkdv:64): 64,128,8,2 took the B8 H8 T1024 backward from 1.028 ms to 0.954.
constexpr int kWidths = 2;  // 16-bit dtypes, float32
constexpr Config kConfigs[kWidths][kPasses][kNumHeadDims] = {
    {
        // D = 16            32                 64                  128
        {{64, 64, 4, 3}, {64, 64, 4, 3}, {128, 64, 8, 3}, {128, 64, 8, 3}},   // fwd
        {{64, 0, 4, 1}, {64, 0, 4, 1}, {64, 0, 4, 1}, {64, 0, 4, 1}},         // delta (rows per program)
        {{64, 64, 4, 3}, {64, 64, 4, 3}, {64, 64, 4, 3}, {64, 128, 8, 2}},    // dkdv (BLOCK_M: query step)
        {{64, 64, 4, 3}, {64, 64, 4, 3}, {128, 64, 8, 3}, {128, 64, 8, 3}},   // dq (BLOCK_N: key step)
    },
    {
        {{64, 32, 4, 2}, {64, 32, 4, 2}, {64, 64, 4, 2}, {64, 32, 8, 2}},     // fwd
        {{64, 0, 4, 1}, {64, 0, 4, 1}, {64, 0, 4, 1}, {64, 0, 4, 1}},         // delta
        {{32, 64, 4, 2}, {32, 64, 4, 2}, {64, 128, 8, 2}, {32, 64, 8, 2}},    // dkdv
        {{64, 32, 4, 2}, {64, 32, 4, 2}, {64, 64, 4, 2}, {64, 32, 8, 2}},     // dq
    },
};

struct Table {
  Config c[kWidths][kPasses][kNumHeadDims];
};

Table load_table() {
  Table t;
  for (int w = 0; w < kWidths; w++)
    for (int p = 0; p < kPasses; p++)
      for (int d = 0; d < kNumHeadDims; d++) t.c[w][p][d] = kConfigs[w][p][d];
  const char* env = std::getenv("VIBETENSOR_ATTENTION_CONFIG");
  std::string s = env ? env : "";
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find(';', pos);
    std::string entry = s.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? s.size() : end + 1;
    if (entry.empty()) continue;
    int w = entry.rfind("f32.", 0) == 0 ? 1 : 0;  // "f32.<pass>:..." sets the float32 table
    if (w) entry = entry.substr(4);
    char pass[8] = {0};
    int dim = 0, bm = 0, bn = 0, warps = 0, stages = 0;
    bool parsed = std::sscanf(entry.c_str(), "%7[a-z]:%d=%d,%d,%d,%d", pass, &dim, &bm, &bn, &warps, &stages) == 6;
    int p = 0, d = 0;
    while (p < kPasses && std::string(pass) != kPassNames[p]) p++;
    while (d < kNumHeadDims && kHeadDims[d] != dim) d++;
    VT_CHECK_VALUE(parsed && p < kPasses && d < kNumHeadDims, "VIBETENSOR_ATTENTION_CONFIG: cannot read '", entry,
                   "' (expected [f32.]<fwd|delta|dkdv|dq>:<16|32|64|128>=BLOCK_M,BLOCK_N,warps,stages)");
    t.c[w][p][d] = {bm, bn, warps, stages};  // the kernel generator checks the values when it compiles
  }
  return t;
}

const Config& config(Pass pass, int64_t head_dim, DType dtype) {
  static const Table table = load_table();
  int d = 0;
  while (kHeadDims[d] != head_dim) d++;  // the callers checked head_dim
  return table.c[dtype == DType::Float32 ? 1 : 0][pass][d];
}

// ---- operands ---------------------------------------------------------------------------------------------
struct Operand {
  Tensor t;
  int64_t sb = 0, sh = 0, sr = 0;  // batch, head and row strides in elements
  int64_t batch_bytes() const { return sb * int64_t(t.itemsize()); }
};

// The kernels are compiled for 16-byte aligned rows (kernels/triton/attention.py, STRIDE_ALIGN) and take
// row strides in 32 bits: an operand that breaks either is copied once into a fresh (aligned) allocation;
// contiguous() would hand back a contiguous view that merely starts off 16 bytes.
Operand operand(const Tensor& x) {
  // a dim of size 1 is never stepped along: its stride is whatever the view had, taken as 0
  auto stride = [](const Tensor& t, int i) { return t.sizes()[i] == 1 ? 0 : t.strides()[i]; };
  auto fits = [&](const Tensor& t) {
    if (stride(t, 3) != 1 || uintptr_t(t.data()) % 16) return false;
    for (int i = 0; i < 3; i++)
      if (stride(t, i) < 0 || stride(t, i) % 8) return false;
    return stride(t, 2) < (int64_t(1) << 23);  // BLOCK * row stride: the kernels' 32-bit in-tile offsets
  };
  Tensor t = fits(x) ? x : copy_(empty(x.sizes(), x.dtype(), x.device()), x);
  return {t, stride(t, 0), stride(t, 1), stride(t, 2)};
}

// [B, H, T, D] laid out as [B, T, H, D].
Tensor bthd(int64_t b, int64_t h, int64_t t, int64_t d, const Tensor& like) {
  return permute(empty(DimVec{b, t, h, d}, like.dtype(), like.device()), DimVec{0, 2, 1, 3});
}

Tensor zero(const Tensor& t) {
  static TypedOp<Tensor(const Tensor&)> op("zero_");
  return op(t);
}

using attention::Shape;

// The shared checks, then what the CUDA kernels add: their dtypes, head dims, grid limits and scale sign.
Shape check(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, std::optional<double> scale) {
  Shape s = attention::check(op, q, k, v, scale);
  VT_CHECK_TYPE(q.dtype() == DType::Float16 || q.dtype() == DType::BFloat16 || q.dtype() == DType::Float32, op,
                ": the fused CUDA kernels take float16, bfloat16 or float32, got ", dtype_name(q.dtype()));
  bool dim_ok = false;
  for (int64_t d : kHeadDims) dim_ok |= d == s.D;
  VT_CHECK_VALUE(dim_ok, op, ": the fused kernels take head_dim 16, 32, 64 or 128, got ", s.D);
  VT_CHECK_VALUE(s.Lq < (int64_t(1) << 31) && s.Lk < (int64_t(1) << 31) && s.Hq <= 65535, op,
                 ": lengths must be below 2^31 and heads at most 65535");
  // the kernels fold the scale into the running max (max(s * x) = s * max(x) needs s >= 0)
  VT_CHECK_VALUE(s.scale >= 0, op, ": the fused kernels take a finite scale >= 0, got ", s.scale);
  return s;
}

std::string key(Pass pass, const Tensor& q, int64_t d, bool causal) {
  const Config& c = config(pass, d, q.dtype());
  return std::string("attn|") + kPassNames[pass] + "|" + dtype_name(q.dtype()) + "|" + std::to_string(d) + "|" +
         (causal ? "c" : "n") + "|" + std::to_string(c.block_m) + "|" + std::to_string(c.block_n) + "|" +
         std::to_string(c.warps) + "|" + std::to_string(c.stages);
}

int64_t blocks(int64_t n, int64_t block) { return (n + block - 1) / block; }

// One kernel over grid (blocks_x, batch * heads): the kernel's pointers first (4-D operands and the fp32
// [B, Hq, Lq] statistics), then `scalars`, then each 4-D operand's batch, head and row strides. Grids
// taller than CUDA's 65535 go in several launches, each with its pointers moved to its first batch.
void launch(Pass pass, const Tensor& q, int64_t d, bool causal, int64_t blocks_x, int64_t batch, int64_t heads,
            const std::vector<const Operand*>& tensors, const std::vector<KernelArg>& scalars) {
  if (blocks_x == 0 || batch * heads == 0) return;
  const Kernel& k = kernel(key(pass, q, d, causal));
  activate(q.device().index);
  Stream s = current_stream(q.device().index);
  int64_t per = 65535 / heads;
  for (int64_t b0 = 0; b0 < batch; b0 += per) {
    std::vector<KernelArg> args;
    for (const Operand* t : tensors)
      args.push_back(KernelArg::ptr(static_cast<char*>(t->t.data()) + b0 * t->batch_bytes()));
    args.insert(args.end(), scalars.begin(), scalars.end());
    for (const Operand* t : tensors) {
      if (t->t.dim() != 4) continue;  // a statistics buffer
      args.push_back(KernelArg::i64v(t->sb));
      args.push_back(KernelArg::i64v(t->sh));
      args.push_back(KernelArg::i32v(int32_t(t->sr)));
    }
    VT_CHECK(blocks_x < (int64_t(1) << 31), "attention: too many blocks for one launch");
    k.launch(uint32_t(blocks_x), uint32_t(std::min(per, batch - b0) * heads), 1, args, s);
  }
}

Operand stats(const Tensor& t) { return {t, t.sizes()[1] * t.sizes()[2], t.sizes()[2], 1}; }

std::tuple<Tensor, Tensor> fused_attention_cuda(const Tensor& query, const Tensor& key_, const Tensor& value,
                                                bool is_causal, std::optional<double> scale) {
  Shape s = check("_fused_attention", query, key_, value, scale);
  Tensor out = bthd(s.B, s.Hq, s.Lq, s.D, query);
  Tensor lse = empty(DimVec{s.B, s.Hq, s.Lq}, DType::Float32, query.device());
  if (s.Lk == 0) {  // softmax over no keys: the output is an empty sum, the log-sum-exp -inf
    static TypedOp<Tensor(const Tensor&, const Tensor&)> fill("fill_");
    fill(lse, wrap_number(Scalar(-std::numeric_limits<double>::infinity())));
    return {zero(out), lse};
  }
  Operand q = operand(query), k = operand(key_), v = operand(value), o = operand(out), l = stats(lse);
  launch(kFwd, query, s.D, is_causal, blocks(s.Lq, config(kFwd, s.D, query.dtype()).block_m), s.B, s.Hq, {&q, &k, &v, &o, &l},
         {KernelArg::f32v(float(s.scale)), KernelArg::i32v(int32_t(s.Lq)), KernelArg::i32v(int32_t(s.Lk)),
          KernelArg::i32v(int32_t(s.Hq)), KernelArg::i32v(int32_t(s.Hq / s.Hkv))});
  return {out, lse};
}

std::tuple<Tensor, Tensor, Tensor> fused_attention_backward_cuda(const Tensor& grad_out, const Tensor& query,
                                                                 const Tensor& key_, const Tensor& value,
                                                                 const Tensor& out, const Tensor& lse, bool is_causal,
                                                                 std::optional<double> scale) {
  const char* op = "_fused_attention_backward";
  Shape s = check(op, query, key_, value, scale);
  attention::check_backward(op, s, query, grad_out, out, lse, DType::Float32);
  Tensor dq = bthd(s.B, s.Hq, s.Lq, s.D, query);
  Tensor dk = bthd(s.B, s.Hkv, s.Lk, s.D, query), dv = bthd(s.B, s.Hkv, s.Lk, s.D, query);
  if (s.Lq == 0 || s.Lk == 0) return {zero(dq), zero(dk), zero(dv)};  // nothing attended: zero gradients
  Tensor delta_t = empty(DimVec{s.B, s.Hq, s.Lq}, DType::Float32, query.device());
  Operand q = operand(query), k = operand(key_), v = operand(value), o = operand(out), g = operand(grad_out);
  Operand l = stats(lse), delta = stats(delta_t);
  Operand odq = operand(dq), odk = operand(dk), odv = operand(dv);
  KernelArg sc = KernelArg::f32v(float(s.scale)), lq = KernelArg::i32v(int32_t(s.Lq)),
            lk = KernelArg::i32v(int32_t(s.Lk)), hq = KernelArg::i32v(int32_t(s.Hq)),
            group = KernelArg::i32v(int32_t(s.Hq / s.Hkv));
  launch(kDelta, query, s.D, false, blocks(s.Lq, config(kDelta, s.D, query.dtype()).block_m), s.B, s.Hq, {&o, &g, &delta},
         {lq, hq});
  launch(kDkDv, query, s.D, is_causal, blocks(s.Lk, config(kDkDv, s.D, query.dtype()).block_n), s.B, s.Hkv,
         {&q, &k, &v, &g, &l, &delta, &odk, &odv}, {sc, lq, lk, hq, group});
  launch(kDq, query, s.D, is_causal, blocks(s.Lq, config(kDq, s.D, query.dtype()).block_m), s.B, s.Hq,
         {&q, &k, &v, &g, &l, &delta, &odq}, {sc, lq, lk, hq, group});
  return {dq, dk, dv};
}

VT_REGISTER_KERNELS(CUDA, m) {
  m.impl("_fused_attention", &fused_attention_cuda);
  m.impl("_fused_attention_backward", &fused_attention_backward_cuda);
}

}  // namespace
}  // namespace vt::cuda
