// What the CUDA random kernels share (cuda/random.cpp, random_sampling.cpp), and the fused dropout forward
// that cpu/random.cpp's native_dropout calls for CUDA tensors.
//
// A random op launches generated Triton kernels (kernels/triton/random.py, random_sampling.py) keyed
//     rng|<op>|<output dtype>|<input dtype or ->|<layout>|<state>
// over the elements of its output, drawing from Philox blocks reserved with philox_args (cuda/generator.h),
// so the kernels read the words the CPU kernels read and stay correct under CUDA graph replay.
#pragma once
#include <initializer_list>
#include <string_view>

#include "core/tensor.h"
#include "cuda/generator.h"

namespace vt::cuda {

// Reserves the Philox blocks kernel `op` reads for out's elements (elements_per_block in random.py).
PhiloxArgs reserve_random(std::string_view op, const Tensor& out);
// Launches kernel `op` over out (any strides), reading `in` elementwise when given (out's shape, any strides),
// from the blocks `st` reserved; params follow the kernel's PARAMS. A second kernel of the same op may take
// the same `st` to draw from the side streams of its blocks.
void launch_random(std::string_view op, const Tensor& out, const Tensor* in, const PhiloxArgs& st,
                   std::initializer_list<KernelArg> params);

// One kernel: mask = the bernoulli_(p_keep) draw, out = input * mask * scale (out and mask fresh and dense,
// input any strides; cpu/random.cpp's native_dropout validated the arguments).
void dropout_into(const Tensor& out, const Tensor& mask, const Tensor& input, double p_keep, double scale);

}  // namespace vt::cuda
