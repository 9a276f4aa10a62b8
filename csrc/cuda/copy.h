// Copies that cross the host/device boundary or stay on one device, without kernels: contiguous same-dtype
// memory is moved by the copy engines; conversions happen on the host side. Strided device layouts need
// the CUDA kernel library (elementwise copy), and say so.
#pragma once
#include "core/tensor.h"

namespace vt::cuda {

// dst = src where at least one is on a CUDA device. non_blocking: do not wait for a copy into host memory.
void copy_between(const Tensor& dst, const Tensor& src, bool non_blocking);

}  // namespace vt::cuda
