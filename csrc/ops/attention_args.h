// The fused attention ops' argument checks shared by their CPU and CUDA kernels (cpu/attention.cpp,
// cuda/attention.cpp): query [B, Hq, Lq, D], key and value [B, Hkv, Lk, D] of one dtype and device, the key
// heads dividing the query heads (GQA), a finite scale (default 1 / sqrt(D)). Each device adds its own limits.
#pragma once
#include <optional>

#include "core/tensor.h"

namespace vt::attention {

struct Shape {
  int64_t B, Hq, Hkv, Lq, Lk, D;
  double scale;
};

Shape check(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, std::optional<double> scale);

// The backward's grad_out and out (shaped like the query) and the forward's [B, Hq, Lq] log-sum-exp of
// dtype `lse_dtype`.
void check_backward(const char* op, const Shape& s, const Tensor& query, const Tensor& grad_out, const Tensor& out,
                    const Tensor& lse, DType lse_dtype);

}  // namespace vt::attention
