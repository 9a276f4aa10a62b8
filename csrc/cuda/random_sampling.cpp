// randperm and multinomial on CUDA, entirely on the device: no host sync, so both run inside CUDA graph
// capture (every replay draws afresh). The kernels are kernels/triton/random_sampling.py's, with the GPU
// sort (cuda/sort.cpp) and scan (cuda/scan.cpp).
//
// randperm(n): element j gets a random 64-bit key (words 0-1 of block base + j), the keys are sorted
// stably and the positions are the permutation. Equal keys (probability about n^2 / 2^65) would leave their
// elements in index order, so every run of equal keys is then shuffled by Fisher-Yates (perm_ties, drawing
// from the side streams of the run's first block): the result is exactly uniform. It is NOT the CPU's
// permutation for the same seed (the CPU runs Fisher-Yates over the same blocks), but it reserves the
// same n blocks, so the draws after it match the CPU's again.
//
// multinomial reads the same words as the CPU op (cpu/random_sampling.cpp) and follows its formulas:
//   with replacement   the running sums are a float64 scan of the weights (the CPU divides by the row's
//                      largest first and sums in order), so a sample can differ from the CPU's where a
//                      uniform draw lands within rounding of a running sum;
//   without            the exponential race: keys -log1p(-u) / (w / row max), the num_samples smallest by
//                      the stable GPU top-k, so zero weights come last in index order. The same keys as
//                      the CPU up to the last ulp of log1p.
// Invalid probabilities (inf, NaN, negative, or a row without weight) cannot be checked on the host without
// a sync: the kernels record the first bad row in the device's error word (cuda/error_flag.h) and it is
// raised as the CPU's ValueError at the next synchronization (.cpu(), .item(), synchronize()). The samples
// of such a row are in range but meaningless. (PyTorch asserts on the device for these, which kills the
// context, or syncs to check.) Float64 weights whose row sum overflows count as invalid here.
#include "cpu/random_common.h"
#include "cuda/device.h"
#include "cuda/dim_kernels.h"
#include "cuda/error_flag.h"
#include "cuda/random.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt::cuda {

namespace {
constexpr int64_t kMaxSortLength = int64_t(1) << 30;  // the GPU sort's row limit (cuda/sort.cpp)

Tensor randperm_cuda(int64_t n, std::optional<DType> dtype, std::optional<Device> dev) {
  const DType d = dtype.value_or(DType::Int64);
  const Device device = cuda_device(dev);
  rnd::check_randperm(n, d);
  VT_CHECK_VALUE(n < kMaxSortLength, "randperm: n=", n, " is too large for CUDA (the GPU sort takes fewer than 2^30 "
                 "elements)");
  Tensor keys = empty(DimVec{n}, DType::Int64, device), sorted = empty(DimVec{n}, DType::Int64, device);
  Tensor perm = empty(DimVec{n}, DType::Int64, device);
  if (n == 0) return to_dtype(perm, d);
  const PhiloxArgs st = reserve_random("perm_keys", keys);
  launch_random("perm_keys", keys, nullptr, st, {});
  sort_into(keys, 0, n, /*descending=*/false, sorted, perm);
  launch_random("perm_ties", perm, &sorted, st, {});  // the side streams of the same blocks
  return to_dtype(perm, d);
}

int32_t search_steps(int64_t n) {  // binary search steps over n entries: bit length of n
  int32_t s = 0;
  while ((int64_t(1) << s) <= n) s++;
  return s;
}

Tensor multinomial_cuda(const Tensor& self, int64_t num_samples, bool replacement) {
  const auto [rows, ncat] = rnd::check_multinomial(self, num_samples, replacement);
  Tensor out = self.dim() == 2 ? empty(DimVec{rows, num_samples}, DType::Int64, self.device())
                               : empty(DimVec{num_samples}, DType::Int64, self.device());
  if (rows == 0) return out;
  VT_CHECK_VALUE(ncat > 0, "multinomial: invalid multinomial distribution (sum of probabilities <= 0)");
  const Tensor w = self.dim() == 1 ? unsqueeze(self, 0) : self;  // [rows, ncat], any strides
  const Tensor out2 = view(out, DimVec{rows, num_samples});
  const KernelArg err = KernelArg::ptr(index_error_word(self.device().index));
  const KernelArg code = KernelArg::i64v(int64_t(IndexOp::Multinomial) << 32);
  static TypedOp<Tensor(const Tensor&, IntArrayRef, bool)> amin("amin"), amax("amax");
  if (replacement) {
    const Tensor cdf = scan("sum", w, 1, DType::Float64);
    // each sample reads its row's smallest weight (a negative one makes the running sums meaningless)
    const Tensor low = expand(unsqueeze(amin(w, DimVec{1}, false), 1), DimVec{rows, num_samples});
    launch_random("mn_draw", out2, &low, reserve_random("mn_draw", out2),
                  {KernelArg::ptr(cdf.data()), KernelArg::i64v(num_samples), KernelArg::i64v(ncat),
                   KernelArg::i32v(search_steps(ncat)), err, code});
  } else {
    VT_CHECK_VALUE(ncat < kMaxSortLength, "multinomial: ", ncat, " categories are too many for CUDA (the GPU sort "
                   "takes fewer than 2^30)");
    const Tensor top = amax(w, DimVec{1}, false);
    Tensor keys = empty(DimVec{rows, ncat}, DType::Float64, self.device());
    launch_random("mn_race", keys, &w, reserve_random("mn_race", keys),
                  {KernelArg::ptr(top.data()), KernelArg::i64v(ncat), err, code});
    Tensor smallest = empty(DimVec{rows, num_samples}, DType::Float64, self.device());
    sort_into(keys, 1, num_samples, /*descending=*/false, smallest, out2);
  }
  note_index_launch(current_stream(self.device().index));
  return out;
}

VT_REGISTER_KERNELS(CUDA, m) {
  m.impl("randperm", &randperm_cuda);
  m.impl("multinomial", &multinomial_cuda);
}

}  // namespace
}  // namespace vt::cuda
