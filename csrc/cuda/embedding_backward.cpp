// embedding_dense_backward on CUDA: the weight's gradient, deterministic (kernels/triton/embedding.py, keys
// embbwd|...).
//
// It replaces zeros().index_add_(), whose float atomics sum the rows of a repeated index in whatever order
// the threads arrive (bf16 weights through a float32 copy). Here the flat indices are sorted stably
// (cuda/sort.cpp) so that each index's rows form a run in their original order; one kernel sums the runs
// chunk by chunk with a segmented scan in fp32 and writes every run that lies inside a chunk, a second
// joins the runs that cross chunks from per-chunk partial sums, in chunk order. The bits of the result
// depend only on the inputs. Rows never indexed, and padding_idx's row, stay zero.
#include <algorithm>
#include <string>

#include "cuda/device.h"
#include "cuda/dim_kernels.h"
#include "cuda/kernel_library.h"
#include "cuda/reduce.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt::cuda {
namespace {

// Sorted rows per program (the segmented scan's length) and columns per program: [16, 64] fp32 tiles, 8
// values per thread of a 4-warp program (70 registers for sm_90, no spills; [32, 128] spilled). A run over
// c chunks costs its owner c / 16 dependent steps in the join (kernels/triton/embedding.py, JOIN): 8192
// equal indices take 32.
constexpr int64_t kChunk = 16, kMaxBlockD = 64;
constexpr int64_t kMaxGridY = 65535;

Tensor embedding_dense_backward_cuda(const Tensor& grad_output, const Tensor& indices, int64_t num_weights,
                                     int64_t padding_idx) {
  const char* op = "embedding_dense_backward";
  VT_CHECK_TYPE(indices.dtype() == DType::Int64 || indices.dtype() == DType::Int32, op,
                ": expected indices of dtype int64 or int32, got ", dtype_name(indices.dtype()));
  VT_CHECK_TYPE(is_floating(grad_output.dtype()), op, ": expected a floating point gradient, got ",
                dtype_name(grad_output.dtype()));
  VT_CHECK_VALUE(indices.device() == grad_output.device(), op, ": indices must be on the gradient's device");
  VT_CHECK_VALUE(num_weights >= 0, op, ": num_weights must be >= 0, got ", num_weights);
  const int64_t n = indices.numel();
  DimVec want(indices.sizes());
  want.push_back(grad_output.dim() ? grad_output.sizes().back() : 0);
  VT_CHECK_VALUE(grad_output.dim() == indices.dim() + 1 && grad_output.sizes() == want, op,
                 ": grad_output must be shaped indices.shape + [embedding_dim], got ", shape_str(grad_output.sizes()),
                 " for indices of shape ", shape_str(indices.sizes()));
  const int64_t d = want.back();
  static TypedOp<Tensor(const Tensor&, const Tensor&)> fill("fill_");
  Tensor out = fill(empty(DimVec{num_weights, d}, grad_output.dtype(), grad_output.device()),
                    wrap_number(Scalar(int64_t(0))));
  if (n == 0 || d == 0) return out;
  const int64_t block_d = std::min(kMaxBlockD, std::max<int64_t>(16, next_pow2(d)));
  const int64_t chunks = (n + kChunk - 1) / kChunk, blocks_d = (d + block_d - 1) / block_d;
  VT_CHECK_VALUE(chunks < (int64_t(1) << 31) && blocks_d <= kMaxGridY, op, ": too large for one launch");
  Tensor flat = reshape(contiguous(indices), DimVec{n});
  Tensor sorted = empty(DimVec{n}, indices.dtype(), indices.device());
  Tensor perm = empty(DimVec{n}, DType::Int64, indices.device());
  sort_into(flat, 0, n, /*descending=*/false, sorted, perm);  // stable: a run keeps its rows' order
  Tensor g = contiguous(grad_output);
  Tensor part = empty(DimVec{chunks, 2, d}, acc_for(g.dtype()), g.device());
  const std::string tail = std::string("|") + dtype_name(g.dtype()) + "|" + dtype_name(indices.dtype()) + "|" +
                           std::to_string(kChunk) + "|" + std::to_string(block_d);
  const Kernel& seg = kernel("embbwd|seg" + tail);
  const Kernel& join = kernel("embbwd|join" + tail);
  const KernelArg sizes[] = {KernelArg::i64v(n), KernelArg::i64v(d), KernelArg::i64v(num_weights),
                             KernelArg::i64v(padding_idx)};
  std::vector<KernelArg> seg_args{KernelArg::ptr(sorted.data()), KernelArg::ptr(perm.data()),
                                  KernelArg::ptr(g.data()), KernelArg::ptr(out.data()), KernelArg::ptr(part.data())};
  std::vector<KernelArg> join_args{KernelArg::ptr(sorted.data()), KernelArg::ptr(part.data()),
                                   KernelArg::ptr(out.data())};
  seg_args.insert(seg_args.end(), std::begin(sizes), std::end(sizes));
  join_args.insert(join_args.end(), std::begin(sizes), std::end(sizes));
  activate(g.device().index);
  Stream s = current_stream(g.device().index);
  seg.launch(uint32_t(chunks), uint32_t(blocks_d), 1, seg_args, s);
  join.launch(uint32_t(chunks), uint32_t(blocks_d), 1, join_args, s);
  return out;
}

VT_REGISTER_KERNELS(CUDA, m) { m.impl("embedding_dense_backward", &embedding_dense_backward_cuda); }

}  // namespace
}  // namespace vt::cuda
