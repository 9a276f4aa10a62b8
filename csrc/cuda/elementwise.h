// Elementwise ops on CUDA: a TensorIterator (the same one the CPU kernel built: promotion, broadcasting,
// output allocation) is launched as one generated Triton kernel, named by a key that fully describes it:
//
//   ew|<op>|<input dtypes,>|<output dtype>|<layout>|<number of float params>
//
// layout "c" + one letter per input ('c' contiguous, 's' device scalar, 'v' host scalar passed by value)
// when every operand is 1-D dense or a scalar; otherwise "g<ndim>" + per input 't' (tensor with explicit
// strides) or 'v'. vibetensor.kernels generates the Triton source from the key
// (kernels/triton/elementwise.py), so both sides must agree on this format.
#pragma once
#include <initializer_list>
#include <span>
#include <string_view>

#include "ops/iterator.h"

namespace vt::cuda {

// Runs `op` over the iterator on its CUDA device, then finishes it (casts outputs back if needed).
// params: the op's float parameters (alpha, slope ...), in the order the generator's expression uses them.
void launch_elementwise(TensorIterator& it, std::string_view op, std::span<const double> params);
inline void launch_elementwise(TensorIterator& it, std::string_view op, std::initializer_list<double> params = {}) {
  launch_elementwise(it, op, std::span<const double>(params.begin(), params.size()));
}

inline bool on_cuda(const TensorIterator& it) { return it.output().device().is_cuda(); }

}  // namespace vt::cuda
