// gelu_backward and silu_backward: grad_output * act'(self) in one pass (the derivative rows of gelu and silu
// call them), on CPU and, with the same iterator, as one generated kernel on CUDA (kernels/triton/
// elementwise.py OPS: gelu_backward, gelu_tanh_backward, silu_backward).
#include <string_view>

#include "cpu/activations.h"
#include "cpu/loops.h"
#include "cuda/elementwise.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {

// op(grad, x) over the promoted, broadcast pair (floating dtypes only, like the forward ops).
template <class Op>
Tensor grad_op(const char* name, const char* gpu_op, const Tensor& grad, const Tensor& self, const Op& op) {
  TensorIterator it = TensorIteratorConfig(name).add_output(Tensor()).add_input(grad).add_input(self)
                          .promote_integer_inputs_to_float(true).build();
  if (cuda::on_cuda(it)) {
    cuda::launch_elementwise(it, gpu_op);
    return it.output();
  }
  VT_DISPATCH_FLOATING(it.common_dtype(), name, [&] { cpu_kernel<scalar_t>(it, op); });
  return it.output();
}

Tensor gelu_backward_k(const Tensor& grad, const Tensor& self, std::string_view approx) {
  if (approx == "none")
    return grad_op("gelu_backward", "gelu_backward", grad, self, vecmath::Backward<vecmath::Gelu>{});
  VT_CHECK_VALUE(approx == "tanh", "gelu_backward: approximate must be 'none' or 'tanh', got '", approx, "'");
  return grad_op("gelu_backward", "gelu_tanh_backward", grad, self, vecmath::Backward<vecmath::GeluTanh>{});
}

Tensor silu_backward_k(const Tensor& grad, const Tensor& self) {
  return grad_op("silu_backward", "silu_backward", grad, self, vecmath::Backward<vecmath::Silu>{});
}

VT_REGISTER_KERNELS_ALL(m) {
  m.impl("gelu_backward", &gelu_backward_k);
  m.impl("silu_backward", &silu_backward_k);
}

}  // namespace
}  // namespace vt
