// gelu_backward and silu_backward: grad_output * act'(self) in one pass (the derivative rows of gelu and silu
// call them), on CPU and, with the same iterator, as one generated kernel on CUDA (kernels/triton/
// elementwise.py OPS: gelu_backward, gelu_tanh_backward, silu_backward).
#include <cmath>
#include <string_view>

#include "cpu/gelu.h"
#include "cpu/loops.h"
#include "cpu/math.h"
#include "cuda/elementwise.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {

template <class T> inline T gelu_tanh_grad(T x) {
  const T k = T(0.79788456080286535588);  // sqrt(2/pi)
  T t = std::tanh(k * (x + T(0.044715) * x * x * x));
  return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3 * 0.044715) * x * x);
}
template <class T> inline T silu_grad(T x) {
  T s = math::sigmoid(x);
  return s * (T(1) + x * (T(1) - s));
}

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

// grad * f(x).
template <class F>
Tensor activation_grad(const char* name, const char* gpu_op, const Tensor& grad, const Tensor& self, F f) {
  return grad_op(name, gpu_op, grad, self, [f](auto g, auto x) { return decltype(g)(g * f(x)); });
}

Tensor gelu_backward_k(const Tensor& grad, const Tensor& self, std::string_view approx) {
  if (approx == "none") return grad_op("gelu_backward", "gelu_backward", grad, self, gelu::Backward{});
  VT_CHECK_VALUE(approx == "tanh", "gelu_backward: approximate must be 'none' or 'tanh', got '", approx, "'");
  return activation_grad("gelu_backward", "gelu_tanh_backward", grad, self,
                         [](auto x) { return gelu_tanh_grad(x); });
}

Tensor silu_backward_k(const Tensor& grad, const Tensor& self) {
  return activation_grad("silu_backward", "silu_backward", grad, self, [](auto x) { return silu_grad(x); });
}

VT_REGISTER_KERNELS_ALL(m) {
  m.impl("gelu_backward", &gelu_backward_k);
  m.impl("silu_backward", &silu_backward_k);
}

}  // namespace
}  // namespace vt
