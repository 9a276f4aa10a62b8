// The reduction machinery on CUDA (cuda/reduce.cpp), shared by the reduction ops (reduce_ops.cpp,
// reduce_stats.cpp) and the scans (scan.cpp), around the generated kernels of kernels/triton/reduction.py.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace vt::cuda {

// A tensor seen as [O, R, I] with element strides (R: the reduced or scanned range).
struct View3 {
  Tensor base;
  int64_t O = 1, R = 1, I = 1, so = 0, sr = 0, si = 0;
};
// The [O, R, I] view of self with R the dims in mask: free when they form one block of a dense-enough
// layout, else a permuted dense copy (kept..., reduced...).
View3 view3(const Tensor& self, const std::vector<bool>& mask);
// Merges dims [b, e) of t into one (size, stride); false if they do not form one strided run.
bool merge_dims(const Tensor& t, int64_t b, int64_t e, int64_t& size, int64_t& stride);
int64_t next_pow2(int64_t x);
// How many programs split R for a reduction with `programs` outputs tiles (1: no split).
int64_t reduce_splits(int64_t programs, int64_t R);

// How one launch covers [O, R, I]: the layout its kernel may assume (kernels/triton/reduction.py, LAYOUTS:
// 'r' R contiguous, 'i' I contiguous, both 16-byte aligned so that the kernel reads 16 bytes at a time; 'g'
// any strides), the tile [bo, br, bi] a program folds per step, and R cut into `splits` ranges of
// `per_split` rows (the last one shorter).
struct ReducePlan {
  char layout = 'g';
  int64_t bo = 1, br = 16, bi = 1, splits = 1, per_split = 0;
};
// The plan for reducing v. splits = 0 lets it choose them: a grid of about 8 programs per SM, each folding
// at least kMinSplitElems elements; splits > 0 cuts R into ranges of ceil(R / splits) rows (the scans' split
// totals must line up with their scan's splits). indexed: argmax/argmin (value and index per element).
ReducePlan plan_reduce(const View3& v, bool indexed, int64_t splits);

// One launch of reduction `op`: v -> out [splits, O, I] (values, and int64 indices for arg reductions).
// aux: the per-output operand ([O, I] contiguous, dtype acc) of the ops that read one (var's mean ...).
void launch_reduce(const std::string& op, const View3& v, const Tensor& out, const Tensor& idx, DType acc,
                   double param, const ReducePlan& plan, const Tensor& aux = Tensor());
// The same with R cut into `splits` ranges of ceil(R / splits) rows.
void launch_reduce(const std::string& op, const View3& v, const Tensor& out, const Tensor& idx, DType acc,
                   double param, int64_t splits, const Tensor& aux = Tensor());

// Reduces self over `mask` with `op` into a fresh tensor of the kept shape. acc: the accumulator dtype;
// param: the op's parameter (p of "sumpow", the divisor of "sumdiv"/"var"/"std"); aux as above, shaped
// like the result. Long reduced ranges are split over programs; ops with a final step (var, logsumexp)
// then run as their partial form per split and their fold form over the partials (partial_op / fold_op).
Tensor reduce(const std::string& op, const Tensor& self, const std::vector<bool>& mask, DType out_dtype, DType acc,
              double param = 0, const Tensor& aux = Tensor());
std::pair<Tensor, Tensor> reduce_arg(const std::string& op, const Tensor& self, const std::vector<bool>& mask);
Tensor softmax_rows(const std::string& op, const Tensor& x, DType out_dtype);

// var / std (two passes: the exact mean, then squared deviations from it) and logsumexp (max, then the
// shifted sum of exponentials) of a floating tensor; the shared checks are done by the caller
// (cpu/reduce_stats.cpp).
Tensor var_std(bool is_std, const Tensor& self, std::optional<IntArrayRef> dims, double correction, bool keepdim);
Tensor logsumexp(const Tensor& self, IntArrayRef dims, bool keepdim);

inline DType acc_for(DType d) {
  if (d == DType::Float64) return DType::Float64;
  return is_floating(d) ? DType::Float32 : DType::Int64;
}

}  // namespace vt::cuda
