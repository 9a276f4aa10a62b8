// One fused Adam/AdamW step over CPU tensors: PyTorch's fused formula (the one the CUDA kernels use,
// kernels/triton/optim_kernels.py), each element read and written once. The per-parameter path of
// vibetensor/optim/adam.py makes seven passes over each tensor (lerp, mul, addcmul, sqrt, divide, add,
// addcdiv), each its own op call: on an 806K-parameter model that was 1.4x torch's time.
#include "cpu/adam.h"

#include <cmath>

#include "core/parallel.h"
#include "cpu/reduce_fold.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {

struct Hyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled, amsgrad, maximize;
};

// Elements [i0, i1) of one tensor. A is the compute type (float for float32 and half types, double for
// float64); bc1 and bc2_sqrt are this tensor's bias corrections. The options enter as factors (a sign, weight
// decays that are 0 when off), so the loop has no branch and vectorises; amsgrad, which reads a fourth
// tensor, is a template parameter.
template <class T, class A, bool Amsgrad>
VT_ALWAYS_INLINE void update(T* p, const T* g, T* m, T* v, T* vmax, int64_t i0, int64_t i1, const Hyper& h, A bc1,
                             A bc2_sqrt) {
  const A lr = A(h.lr), b1 = A(h.beta1), b2 = A(h.beta2), eps = A(h.eps);
  const A sign = h.maximize ? A(-1) : A(1);
  const A l2 = h.decoupled ? A(0) : A(h.weight_decay), decay = h.decoupled ? lr * A(h.weight_decay) : A(0);
  const A step_size = lr / bc1;
  for (int64_t i = i0; i < i1; i++) {
    A pi = A(p[i]);
    const A gi = sign * A(g[i]) + pi * l2;
    pi = pi - decay * pi;
    // beta * avg + (x - beta * x), as fused multiply-adds (PyTorch's fused spelling)
    const A mi = std::fma(b1, A(m[i]), std::fma(-b1, gi, gi));
    const A g2 = gi * gi;
    const A vi = std::fma(b2, A(v[i]), std::fma(-b2, g2, g2));
    A root;
    if constexpr (Amsgrad) {
      const A mx = std::max(A(vmax[i]), vi);
      vmax[i] = T(mx);
      root = std::sqrt(mx);
    } else {
      root = std::sqrt(vi);
    }
    p[i] = T(pi - (step_size * mi) / (root / bc2_sqrt + eps));
    m[i] = T(mi);
    v[i] = T(vi);
  }
}

template <class T, class A, bool Amsgrad>
VT_TARGET_AVX2_FMA void update_avx2(T* p, const T* g, T* m, T* v, T* vmax, int64_t i0, int64_t i1, const Hyper& h,
                                    A bc1, A bc2_sqrt) {
  update<T, A, Amsgrad>(p, g, m, v, vmax, i0, i1, h, bc1, bc2_sqrt);
}

template <class T, class A, bool Amsgrad>
void update_any(T* p, const T* g, T* m, T* v, T* vmax, int64_t i0, int64_t i1, const Hyper& h, A bc1, A bc2_sqrt) {
  // std::fma is one instruction with AVX2+FMA, a libm call elsewhere
  if (reduce::use_avx2()) update_avx2<T, A, Amsgrad>(p, g, m, v, vmax, i0, i1, h, bc1, bc2_sqrt);
  else update<T, A, Amsgrad>(p, g, m, v, vmax, i0, i1, h, bc1, bc2_sqrt);
}

template <class T>
void step_tensor(const AdamTensors& t, const Hyper& h, double step) {
  using A = opmath_t<T>;
  // bias corrections in float64 on the host, then in the compute type (the CUDA kernels get them as float32)
  const A bc1 = A(1 - std::pow(h.beta1, step)), bc2_sqrt = A(std::sqrt(1 - std::pow(h.beta2, step)));
  T* p = static_cast<T*>(t.param.data());
  const T* g = static_cast<const T*>(t.grad.data());
  T* m = static_cast<T*>(t.exp_avg.data());
  T* v = static_cast<T*>(t.exp_avg_sq.data());
  T* vmax = t.max_exp_avg_sq.defined() ? static_cast<T*>(t.max_exp_avg_sq.data()) : nullptr;
  parallel_for(0, t.param.numel(), kParallelGrain / 4, [&](int64_t i0, int64_t i1) {
    if (vmax) update_any<T, A, true>(p, g, m, v, vmax, i0, i1, h, bc1, bc2_sqrt);
    else update_any<T, A, false>(p, g, m, v, vmax, i0, i1, h, bc1, bc2_sqrt);
  });
}

void check(const AdamTensors& t, bool amsgrad, size_t k) {
  const Tensor& p = t.param;
  VT_CHECK_TYPE(is_floating(p.dtype()), "adam_step: parameter ", k, " is ", dtype_name(p.dtype()),
                "; expected a floating point tensor");
  for (const Tensor* x : {&t.param, &t.grad, &t.exp_avg, &t.exp_avg_sq, &t.max_exp_avg_sq}) {
    if (x == &t.max_exp_avg_sq && !amsgrad) continue;
    VT_CHECK_VALUE(x->defined() && x->device().is_cpu() && x->is_contiguous(), "adam_step: parameter ", k,
                   ": its tensors must be contiguous CPU tensors");
    VT_CHECK_VALUE(x->sizes() == p.sizes(), "adam_step: parameter ", k, ": gradient and states must have its shape ",
                   shape_str(p.sizes()), ", got ", shape_str(x->sizes()));
    VT_CHECK_TYPE(x->dtype() == p.dtype(), "adam_step: parameter ", k, ": gradient and states must have its dtype ",
                  dtype_name(p.dtype()), ", got ", dtype_name(x->dtype()));
  }
  VT_CHECK_VALUE(t.step.defined() && t.step.numel() == 1 && t.step.dtype() == DType::Float32 &&
                     t.step.device().is_cpu(),
                 "adam_step: parameter ", k, ": its step count must be a one-element float32 CPU tensor");
}

}  // namespace

void adam_step_cpu(const std::vector<AdamTensors>& tensors, double lr, double beta1, double beta2, double eps,
                   double weight_decay, bool decoupled, bool amsgrad, bool maximize) {
  for (size_t k = 0; k < tensors.size(); k++) check(tensors[k], amsgrad, k);  // all checked before any moves
  const Hyper h{lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize};
  for (const AdamTensors& t : tensors) {
    float* step = static_cast<float*>(t.step.data());
    *step += 1.0f;
    VT_DISPATCH_FLOATING(t.param.dtype(), "adam_step", [&] { step_tensor<scalar_t>(t, h, double(*step)); });
    for (const Tensor* x : {&t.param, &t.exp_avg, &t.exp_avg_sq, &t.max_exp_avg_sq, &t.step})
      if (x->defined()) x->impl()->bump_version();  // written in place, as the ops would have
  }
}

}  // namespace vt
