// Launchers for the generated indexing kernels (kernels/triton/index.py documents the key formats and
// argument orders; the two must agree). The ops in cuda/index_ops.cpp and cuda/index_gather.cpp validate
// their arguments with cpu/index_checks.h (shared with CPU) and call these.
//
// Index values are never read on the host: each kernel checks its indices, skips bad ones and records the
// first in the device's status word, raised at the next synchronization (cuda/error_flag.h).
#pragma once
#include <vector>

#include "core/tensor.h"
#include "cuda/error_flag.h"

namespace vt::cuda {

// `t` on `device`: itself, or a copy of a CPU tensor (indices may come from the host, as PyTorch allows).
Tensor on_device(const Tensor& t, Device device, const char* op);

// One indexed dim: its index (int32/int64, broadcastable to B; CPU or on the device) and the dim error
// messages name. Its size and stride come from the indexed tensor.
struct RowIndex {
  Tensor index;
  int64_t dim;
};
enum class RowMode { Get, Put, Add };

// The row model of cpu/index_utils.h on the GPU. `indexed` is the tensor the indices address, viewed with
// the k indexed dims at [first, first + k); `other` has the index shape B at [first, first + B.dim()).
// Get: other (a fresh output) = indexed[idx]; Put: indexed[idx] = other; Add: indexed[idx] += alpha * other
// (atomics; through a float32/int32 copy for dtypes without them). wrap: negative indices count from the end.
void launch_rows(RowMode mode, const Tensor& indexed, int64_t first, const std::vector<RowIndex>& dims,
                 IntArrayRef bshape, const Tensor& other, Scalar alpha, bool wrap, IndexOp op);

// Allocates before + B + after from `src` (k indexed dims at `first`) and fills it: the read half of index,
// index_select and embedding.
Tensor take_rows_cuda(const Tensor& src, int64_t first, const std::vector<RowIndex>& dims, IntArrayRef bshape,
                      bool wrap, IndexOp op);

enum class GatherMode { Gather, Set, Add, Mul };
// gather (out = self[.., index, ..]) and scatter with a reduction (self[.., index, ..] (op)= src), along `dim`
// of the at_least_1d views prepare_gather/prepare_scatter return. src: a tensor, or (scalar) a 0-d tensor whose
// value is passed by value.
void launch_gather(GatherMode mode, const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                   bool scalar, IndexOp op);

// Positions of nonzero elements of a contiguous tensor, in row-major order, as per-block offsets
// (blocks of kCompactBlock elements; offsets[blocks] = the total). The total comes to the host: ONE
// synchronization, because the callers' output shape depends on the data.
std::pair<Tensor, int64_t> compact_offsets(const Tensor& flags);
void launch_nonzero_write(const Tensor& x, const Tensor& offsets, const Tensor& out);
void launch_select_write(const Tensor& x, const Tensor& mask, const Tensor& offsets, const Tensor& out);

}  // namespace vt::cuda
