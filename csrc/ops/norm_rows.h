// The fused LayerNorm / RMSNorm ops' argument checks, shared by their CPU and CUDA kernels (cpu/norm.cpp,
// cuda/norm.cpp): the normalised dims are the trailing ones, so the input is [rows, N] once contiguous;
// statistics (mean, rstd) are one per row, of stats_dtype (core/dtype.h).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace vt::norm {

struct Rows {
  Tensor x;  // contiguous input
  int64_t rows = 0, n = 1;
};

// Checks the input, normalized_shape, weight and bias (a bias only with a weight; both contiguous, shaped
// like normalized_shape, of the input's dtype and device) and rows of 1..max_row elements.
Rows rows_of(const char* op, const Tensor& input, IntArrayRef shape, const Tensor& weight, const Tensor& bias,
             int64_t max_row);

// The backward's grad_out, mean and rstd (undefined mean: RMSNorm) against the rows of the input.
void check_backward(const char* op, const Rows& r, const Tensor& grad_out, const Tensor& input, const Tensor& mean,
                    const Tensor& rstd);

}  // namespace vt::norm
