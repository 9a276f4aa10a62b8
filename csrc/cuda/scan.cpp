// cumsum and cumprod on CUDA (kernels/triton/scan.py). The input is seen as [O, N, I] (a dense copy first
// only when the dims around `dim` cannot merge); the output is contiguous. When few programs would walk
// long rows, each row is split: the splits' totals come from the reduction kernel, are scanned by the
// scan kernel itself, and seed the splits' scans (three launches instead of one slow serial walk).
#include <algorithm>

#include "cuda/device.h"
#include "cuda/dim_kernels.h"
#include "cuda/kernel_library.h"
#include "cuda/reduce.h"
#include "ops/views.h"

namespace vt::cuda {

namespace {

// One launch of the scan kernel over v (R = the scanned length) into out ([O, N, I] contiguous);
// carry: the scanned split totals ([splits, O, I]) when splits > 1.
void launch_scan(const std::string& op, const View3& v, const Tensor& out, DType acc, int64_t splits,
                 const Tensor& carry) {
  int64_t bi = v.I == 1 ? 1 : std::min<int64_t>(64, next_pow2(v.I));
  int64_t bn = std::max<int64_t>(16, std::min<int64_t>(1024 / bi, next_pow2(v.R)));
  std::string key = "scan|" + op + "|" + dtype_name(v.base.dtype()) + "|" + dtype_name(out.dtype()) + "|" +
                    dtype_name(acc) + "|" + std::to_string(bn) + "|" + std::to_string(bi) + "|" +
                    (carry.defined() ? "1" : "0");
  const Kernel& k = kernel(key);
  std::vector<KernelArg> args{KernelArg::ptr(v.base.data()), KernelArg::ptr(out.data())};
  if (carry.defined()) args.push_back(KernelArg::ptr(carry.data()));
  for (int64_t x : {v.O, v.R, v.I, v.so, v.sr, v.si, (v.R + splits - 1) / splits}) args.push_back(KernelArg::i64v(x));
  int64_t gi = (v.I + bi - 1) / bi;
  VT_CHECK(v.O < (int64_t(1) << 31) && gi < 65536 && splits < 65536, "scan: tensor too large for one launch");
  k.launch(uint32_t(v.O), uint32_t(gi), uint32_t(splits), args, current_stream(out.device().index));
}

}  // namespace

Tensor scan(const char* op, const Tensor& x_in, int64_t dim, DType out_dtype) {
  Tensor out = empty(x_in.sizes(), out_dtype, x_in.device());
  if (out.numel() == 0) return out;
  activate(x_in.device().index);
  Tensor x = x_in.dim() == 0 ? reshape(x_in, DimVec{1}) : x_in;
  View3 v;
  auto as3 = [&](const Tensor& t) {
    v.base = t;
    return merge_dims(t, 0, dim, v.O, v.so) && merge_dims(t, dim, dim + 1, v.R, v.sr) &&
           merge_dims(t, dim + 1, t.dim(), v.I, v.si);
  };
  if (!as3(x)) VT_CHECK(as3(contiguous(x)), "scan: a contiguous tensor must merge into [O, N, I]");
  DType acc = acc_for(out_dtype);
  std::string sop = op;
  int64_t splits = reduce_splits(v.O * ((v.I + 63) / 64), v.R);
  if (splits == 1) {
    launch_scan(sop, v, out, acc, 1, Tensor());
    return out;
  }
  Tensor totals = empty(DimVec{splits, v.O, v.I}, acc, x.device());
  launch_reduce(sop, v, totals, Tensor(), acc, 0, splits);
  View3 t;  // the totals as one row of `splits` per output column
  t.base = totals;
  t.O = 1;
  t.R = splits;
  t.I = v.O * v.I;
  t.so = 0;
  t.sr = t.I;
  t.si = 1;
  Tensor carry = empty(DimVec{splits, v.O, v.I}, acc, x.device());
  launch_scan(sop, t, carry, acc, 1, Tensor());
  launch_scan(sop, v, out, acc, splits, carry);
  return out;
}

}  // namespace vt::cuda
