// C++ entry points for the view and shape ops. They call through the dispatcher (so autograd, Python
// overrides and other devices see them); composite kernels use these, never the kernels directly.
#pragma once
#include <optional>

#include "core/tensor.h"

namespace vt {

Tensor as_strided(const Tensor& self, IntArrayRef size, IntArrayRef stride, std::optional<int64_t> offset);
Tensor view(const Tensor& self, IntArrayRef size);
Tensor reshape(const Tensor& self, IntArrayRef shape);
Tensor permute(const Tensor& self, IntArrayRef dims);
Tensor transpose(const Tensor& self, int64_t d0, int64_t d1);
Tensor expand(const Tensor& self, IntArrayRef size);
Tensor squeeze(const Tensor& self, std::optional<IntArrayRef> dims);
Tensor unsqueeze(const Tensor& self, int64_t dim);
Tensor select(const Tensor& self, int64_t dim, int64_t index);
Tensor slice(const Tensor& self, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step);
Tensor narrow(const Tensor& self, int64_t dim, int64_t start, int64_t length);
Tensor movedim(const Tensor& self, IntArrayRef source, IntArrayRef destination);
Tensor contiguous(const Tensor& self);
Tensor clone(const Tensor& self);
Tensor copy_(const Tensor& self, const Tensor& src);
Tensor to_dtype(const Tensor& self, DType dtype);
// The tensor's values in host memory: itself on CPU, else a synchronous device-to-host copy (where pending
// device errors, such as an out-of-range index, surface).
Tensor to_host(const Tensor& t);
// The value of a one-element tensor on any device.
Scalar host_item(const Tensor& t);  // _to_copy, or self when the dtype already matches

// Shape arithmetic shared with kernels.
DimVec infer_size(IntArrayRef shape, int64_t numel);  // resolves one -1
std::optional<DimVec> view_strides(IntArrayRef old_sizes, IntArrayRef old_strides, IntArrayRef new_sizes);

}  // namespace vt
