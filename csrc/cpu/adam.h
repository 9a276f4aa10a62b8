// One fused Adam/AdamW step over CPU tensors (cpu/adam.cpp): vibetensor/optim/adam.py calls it for the
// contiguous floating CPU parameters of a group.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace vt {

struct AdamTensors {
  Tensor param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step;  // max_exp_avg_sq: only with amsgrad
};

// Increments each step count (a float32 0-d tensor) and updates the parameter and its states in place.
// Checks every tensor (CPU, contiguous, the parameter's shape and dtype) before changing any.
void adam_step_cpu(const std::vector<AdamTensors>& tensors, double lr, double beta1, double beta2, double eps,
                   double weight_decay, bool decoupled, bool amsgrad, bool maximize);

}  // namespace vt
