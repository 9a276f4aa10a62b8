// CUDA kernels of the ops that work along dims: scans (cuda/scan.cpp), sorts (cuda/sort.cpp), flip and
// tril/triu (cuda/shape.cpp). The CPU files of these ops (cpu/scan.cpp, sort.cpp, shape_copy.cpp) check
// the arguments and shape the outputs for both devices, then call these for CUDA tensors.
#pragma once
#include "core/tensor.h"

namespace vt::cuda {

// cumsum / cumprod ("sum" / "prod") of x along dim into a new contiguous tensor of dtype out (x is
// converted to out as it is read; integer inputs accumulate in int64, half types in float32).
Tensor scan(const char* op, const Tensor& x, int64_t dim, DType out);

// The first k entries of every row of self along dim, sorted stably (descending: largest first; NaN is
// largest), written to values / indices (shaped like self with k along dim, any strides).
void sort_into(const Tensor& self, int64_t dim, int64_t k, bool descending, const Tensor& values,
               const Tensor& indices);

// out (contiguous, self's shape) = the elements of self read from element offset `base` with the signed
// element strides `strides` (flip negates the flipped dims' strides).
void strided_gather_copy(const Tensor& out, const Tensor& self, int64_t base, IntArrayRef strides);

// tril (lower) / triu of self's last two dims into out (out may be self: then only the zeroed part is written).
void triangle(const Tensor& self, const Tensor& out, bool lower, int64_t diagonal);

}  // namespace vt::cuda
