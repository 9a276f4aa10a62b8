// Reductions and softmax on CUDA, as generated Triton kernels (kernels/triton/reduction.py).
//
// The input is seen as [O, R, I] with element strides: when the reduced dims are one contiguous block of a
// dense layout (the last dims, the first dims, or a middle block) that view needs no copy; otherwise the
// input is permuted to (kept..., reduced...) and made dense on the device first. Few outputs over a long
// reduced range split R across programs and fold the partial results with a second launch.
#include "cuda/reduce.h"

#include <cmath>

#include "cuda/device.h"
#include "cuda/elementwise.h"
#include "cuda/kernel_library.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt::cuda {

bool merge_dims(const Tensor& t, int64_t b, int64_t e, int64_t& size, int64_t& stride) {
  size = 1;
  stride = 1;
  bool first = true;
  for (int64_t d = e - 1; d >= b; d--) {
    int64_t s = t.sizes()[d];
    if (s == 1) continue;
    if (first) {
      stride = t.strides()[d];
      first = false;
    } else if (t.strides()[d] != stride * size) {
      return false;
    }
    size *= s;
  }
  return true;
}

View3 view3(const Tensor& self, const std::vector<bool>& mask) {
  int64_t n = self.dim(), a = 0;
  while (a < n && !mask[a]) a++;
  int64_t b = a;
  while (b < n && mask[b]) b++;
  bool block = true;
  for (int64_t d = b; d < n; d++) block &= !mask[d];
  View3 v;
  if (block && merge_dims(self, 0, a, v.O, v.so) && merge_dims(self, a, b, v.R, v.sr) &&
      merge_dims(self, b, n, v.I, v.si)) {
    v.base = self;
    return v;
  }
  DimVec perm;
  for (int64_t d = 0; d < n; d++) if (!mask[d]) perm.push_back(d);
  for (int64_t d = 0; d < n; d++) if (mask[d]) perm.push_back(d);
  v.base = contiguous(permute(self, perm));
  v.O = 1;
  v.R = 1;
  for (int64_t d = 0; d < n; d++) (mask[d] ? v.R : v.O) *= self.sizes()[d];
  v.I = 1;
  v.so = v.R;
  v.sr = 1;
  v.si = 0;
  return v;
}

int64_t next_pow2(int64_t x) {
  int64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

// Splits of R so that about 8 programs per SM (of 132 on an H100) share the work, each folding at least
// 256 rows of R (fewer would make the fold launch cost more than it saves). Column sums of a square matrix
// have only I/64 programs without splits: half the GPU would idle.
int64_t reduce_splits(int64_t programs, int64_t R) {
  constexpr int64_t kTarget = 1056;
  if (programs >= kTarget / 2 || R < 512) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(R / 256, (kTarget + programs - 1) / programs));
}

namespace {

// With splits, `op` runs as partial_op(op) over each split and fold_op(op) folds the [splits, ...] partials:
// ops with a final step (division, sqrt, log) take it only in the fold.
std::string partial_op(const std::string& op) {
  if (op == "sumdiv") return "sum";
  if (op == "var" || op == "std") return "sqdev";
  if (op == "lse") return "expdev";
  return op;
}
std::string fold_op(const std::string& op) {
  if (op == "prod") return "prod";
  if (op == "amax" || op == "absmax" || op == "any") return "amax";
  if (op == "amin" || op == "absmin" || op == "all") return "amin";
  if (op == "var" || op == "sumdiv") return "sumdiv";
  if (op == "std") return "sumdiv_sqrt";
  if (op == "lse") return "logsum_shift";
  return "sum";
}
bool reads_aux(const std::string& op) {
  return op == "sqdev" || op == "expdev" || op == "var" || op == "std" || op == "lse" || op == "logsum_shift";
}

}  // namespace

// One launch: [O, R, I] (strided) -> out [splits, O, I] (values, and indices for arg reductions).
void launch_reduce(const std::string& op, const View3& v, const Tensor& out, const Tensor& idx, DType acc,
                   double param, int64_t splits, const Tensor& aux) {
  int64_t bi = v.I == 1 ? 1 : std::min<int64_t>(64, next_pow2(v.I));
  int64_t br = std::max<int64_t>(16, std::min<int64_t>(1024 / bi, next_pow2(v.R)));
  std::string key = "red|" + op + "|" + dtype_name(v.base.dtype()) + "|" + dtype_name(out.dtype()) + "|" +
                    dtype_name(acc) + "|" + std::to_string(br) + "|" + std::to_string(bi);
  const Kernel& k = kernel(key);
  std::vector<KernelArg> args{KernelArg::ptr(v.base.data()), KernelArg::ptr(out.data())};
  if (idx.defined()) args.push_back(KernelArg::ptr(idx.data()));
  if (reads_aux(op)) {
    VT_CHECK(aux.defined() && aux.is_contiguous() && aux.dtype() == acc && aux.numel() == v.O * v.I,
             "reduction '", op, "': expected its per-output operand");
    args.push_back(KernelArg::ptr(aux.data()));
  }
  int64_t per_split = (v.R + splits - 1) / splits;
  for (int64_t x : {v.O, v.R, v.I, v.so, v.sr, v.si, per_split}) args.push_back(KernelArg::i64v(x));
  args.push_back(KernelArg::f64v(param));
  int64_t gi = (v.I + bi - 1) / bi;
  VT_CHECK(v.O < (int64_t(1) << 31) && gi < 65536 && splits < 65536, "reduction too large for one launch");
  k.launch(uint32_t(v.O), uint32_t(gi), uint32_t(splits), args, current_stream(out.device().index));
}

Tensor reduce(const std::string& op, const Tensor& self, const std::vector<bool>& mask, DType out_dtype, DType acc,
              double param, const Tensor& aux) {
  DimVec kept;
  for (int64_t d = 0; d < self.dim(); d++)
    if (!mask[d]) kept.push_back(self.sizes()[d]);
  Tensor out = empty(kept, out_dtype, self.device());
  if (out.numel() == 0) return out;
  activate(self.device().index);
  View3 v = view3(self, mask);
  int64_t splits = reduce_splits(v.O * ((v.I + 63) / 64), v.R);
  if (splits == 1) {
    Tensor dst = out_dtype == acc ? out : empty(kept, acc, self.device());
    launch_reduce(op, v, dst, Tensor(), acc, param, 1, aux);
    if (!dst.is_same(out)) copy_(out, dst);
    return out;
  }
  Tensor partial = empty(DimVec{splits, v.O, v.I}, acc, self.device());
  launch_reduce(partial_op(op), v, partial, Tensor(), acc, param, splits, aux);
  View3 p;
  p.base = partial;
  p.O = 1;
  p.R = splits;
  p.I = v.O * v.I;
  p.so = 0;
  p.sr = v.O * v.I;
  p.si = 1;
  Tensor dst = out_dtype == acc ? out : empty(kept, acc, self.device());
  launch_reduce(fold_op(op), p, dst, Tensor(), acc, param, 1, aux);
  if (!dst.is_same(out)) copy_(out, dst);
  return out;
}

// values and int64 indices of argmax/argmin over one dim (no splitting: ties must resolve in order).
std::pair<Tensor, Tensor> reduce_arg(const std::string& op, const Tensor& self, const std::vector<bool>& mask) {
  DimVec kept;
  for (int64_t d = 0; d < self.dim(); d++)
    if (!mask[d]) kept.push_back(self.sizes()[d]);
  DType acc = acc_for(self.dtype());
  Tensor values = empty(kept, acc, self.device()), idx = empty(kept, DType::Int64, self.device());
  if (values.numel()) {
    activate(self.device().index);
    launch_reduce(op, view3(self, mask), values, idx, acc, 0, 1);
  }
  return {to_dtype(values, self.dtype()), idx};
}

// Row softmax / log_softmax over the last dim of a dense tensor.
Tensor softmax_rows(const std::string& op, const Tensor& x, DType out_dtype) {
  Tensor out = empty(x.sizes(), out_dtype, x.device());
  if (out.numel() == 0) return out;
  int64_t n = x.dim() ? x.sizes()[x.dim() - 1] : 1, rows = x.numel() / n;
  // Rows up to 8192 elements are held in registers whole: one read, one write. Longer rows stream through
  // 1024-element blocks twice (an online max/sum pass, then the write pass).
  bool whole = n <= 8192;
  int64_t block = whole ? next_pow2(n) : 1024;
  const Kernel& k = kernel("soft|" + op + "|" + dtype_name(x.dtype()) + "|" + dtype_name(out_dtype) + "|" +
                           std::to_string(block) + (whole ? "|w" : "|s"));
  activate(x.device().index);
  k.launch(uint32_t(rows), 1, 1, {KernelArg::ptr(x.data()), KernelArg::ptr(out.data()), KernelArg::i64v(n)},
           current_stream(x.device().index));
  return out;
}

}  // namespace vt::cuda
