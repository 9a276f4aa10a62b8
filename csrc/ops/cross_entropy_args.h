// The fused cross-entropy ops' argument checks, shared by their CPU and CUDA kernels (cpu/cross_entropy.cpp,
// cuda/cross_entropy.cpp): [rows, classes] floating logits, one int64 class index per row.
#pragma once
#include "core/tensor.h"

namespace vt::xent {

void check_inputs(const char* op, const Tensor& self, const Tensor& target);
// The backward's scalar grad and the forward's per-row lse (of dtype lse_dtype) and scalar count.
void check_saved(const Tensor& self, const Tensor& grad, const Tensor& lse, const Tensor& count, DType lse_dtype);

}  // namespace vt::xent
