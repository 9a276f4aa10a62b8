// Continuous random ops on CPU: rand, randn, uniform_, normal_, bernoulli, bernoulli_, and dropout: the
// Composite `dropout` over native_dropout and native_dropout_backward, whose kernels here serve both devices
// (CUDA tensors go to one fused kernel each way, cuda/random.h). Integer sampling (randint, randperm,
// multinomial) is in random_sampling.cpp.
//
// What each op reads from the Philox word stream (core/philox.h), j being an element's row-major index in
// the result (in self for `op_`, whatever self's strides):
//   rand, uniform_  float32/float16/bfloat16: word j; float64: words 2j (low half), 2j+1 (high half).
//                   u = Uniform01<T> (random_draw.h), value = from + u * (to - from) computed in
//                   opmath_t<T> and rounded to T; a value that rounds up to `to` becomes the largest T below it.
//   randn, normal_  elements 2p and 2p+1 share one Box-Muller pair (u1, u2):
//                   float32/float16/bfloat16, in float: words 2p, 2p+1: u1 = (float(w) + 1) * 2^-32 in (0, 1],
//                   u2 = float(w') * 2^-32; float64, in double: block p (the whole block):
//                   u1 = ((x >> 11) + 1) * 2^-53, u2 = (y >> 11) * 2^-53 with x = words 0-1, y = words 2-3.
//                   r = sqrt(-2 ln u1), t = 2 pi u2: out[2p] = mean + std * (r cos t),
//                   out[2p+1] = mean + std * (r sin t) (when it exists).
//   bernoulli(_)    word j: 1 when w * 2^-32 < p (p as a double), else 0.
//   native_dropout  mask = the bernoulli_ draw with p_keep = 1 - p (word j: keep when w * 2^-32 < p_keep);
//                   output = (x * mask) * scale in opmath_t<T>, scale = 1 / p_keep (0 when p = 1). So the
//                   dropped elements are x * 0, as in PyTorch (NaN for an infinite x).
//   dropout         native_dropout's output; no draw at all for p = 0, p = 1, eval mode or an empty input.
#include <cmath>
#include <limits>

#include "cpu/cast.h"
#include "cpu/loops.h"
#include "cpu/random_common.h"
#include "cpu/random_draw.h"
#include "cuda/elementwise.h"
#include "cuda/random.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt {

namespace rnd {

void strided_copy(const Tensor& dst, const Tensor& src, const char* op) {
  TensorIterator it = TensorIteratorConfig(op).add_output(dst).add_input(src).promote_inputs(false).build();
  VT_DISPATCH_ALL(dst.dtype(), op, [&] { cpu_kernel_raw<scalar_t, scalar_t>(it, [](scalar_t v) { return v; }); });
}

Tensor dense(const Tensor& t, const char* op) {
  if (t.is_contiguous()) return t;
  Tensor out = empty(t.sizes(), t.dtype(), t.device());
  strided_copy(out, t, op);
  return out;
}

Device cpu_only(std::optional<Device> d, const char* op) {
  VT_CHECK_TYPE(!d || d->is_cpu(), op, ": device ", d->str(), " is not available (no CUDA runtime)");
  return Device();
}

}  // namespace rnd

namespace {
using rnd::for_each_item;
using rnd::Uniform01;
using rnd::check_floating;
using rnd::check_p;
using rnd::check_uniform_bounds;

template <class T> void fill_uniform(const Tensor& out, double from, double to) {
  using M = opmath_t<T>;
  T* o = out.data_as<T>();
  const M lo = M(from), span = M(to - from), top = M(rnd::uniform_top(out.dtype(), from, to));
  for_each_item<Uniform01<T>::kWords>(out.device(), out.numel(), [&](int64_t j, const uint32_t* w) {
    M v = M(T(M(Uniform01<T>::get(w)) * span + lo));
    o[j] = T(v > top ? top : v);
  });
}

Tensor rand_k(IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  DType d = dtype.value_or(kDefaultFloat);
  check_floating(d, "rand", "dtype");
  Tensor out = empty(size, d, rnd::cpu_only(dev, "rand"));
  VT_DISPATCH_FLOATING(d, "rand", [&] { fill_uniform<scalar_t>(out, 0.0, 1.0); });
  return out;
}

Tensor uniform_k(const Tensor& self, double from, double to) {
  check_floating(self.dtype(), "uniform_", "tensor");
  check_uniform_bounds(self.dtype(), from, to, "uniform_");
  return rnd::fill_in_place(self, "uniform_", [&](const Tensor& t) {
    VT_DISPATCH_FLOATING(t.dtype(), "uniform_", [&] { fill_uniform<scalar_t>(t, from, to); });
  });
}

// ---- normal (Box-Muller) ------------------------------------------------------------------------------
template <class T> void fill_normal(const Tensor& out, double mean, double stddev) {
  using M = opmath_t<T>;
  T* o = out.data_as<T>();
  const int64_t n = out.numel();
  const M mu = M(mean), sigma = M(stddev);
  auto emit = [&](int64_t pair, M u1, M u2) {
    const M r = std::sqrt(M(-2) * std::log(u1)), t = M(2 * M_PI) * u2;
    o[2 * pair] = T(mu + sigma * (r * std::cos(t)));
    if (2 * pair + 1 < n) o[2 * pair + 1] = T(mu + sigma * (r * std::sin(t)));
  };
  if constexpr (std::is_same_v<T, double>) {
    for_each_item<4>(out.device(), (n + 1) / 2, [&](int64_t p, const uint32_t* w) {
      emit(p, double((rnd::word64(w) >> 11) + 1) * 0x1p-53, double(rnd::word64(w + 2) >> 11) * 0x1p-53);
    });
  } else {
    for_each_item<2>(out.device(), (n + 1) / 2, [&](int64_t p, const uint32_t* w) {
      emit(p, (float(w[0]) + 1.0f) * 0x1p-32f, float(w[1]) * 0x1p-32f);
    });
  }
}

Tensor randn_k(IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  DType d = dtype.value_or(kDefaultFloat);
  check_floating(d, "randn", "dtype");
  Tensor out = empty(size, d, rnd::cpu_only(dev, "randn"));
  VT_DISPATCH_FLOATING(d, "randn", [&] { fill_normal<scalar_t>(out, 0.0, 1.0); });
  return out;
}

Tensor normal_k(const Tensor& self, double mean, double stddev) {
  check_floating(self.dtype(), "normal_", "tensor");
  rnd::check_normal_std(stddev);
  return rnd::fill_in_place(self, "normal_", [&](const Tensor& t) {
    VT_DISPATCH_FLOATING(t.dtype(), "normal_", [&] { fill_normal<scalar_t>(t, mean, stddev); });
  });
}

// ---- bernoulli ----------------------------------------------------------------------------------------
inline bool bernoulli_draw(const uint32_t* w, double p) { return double(w[0]) * 0x1p-32 < p; }

void fill_bernoulli(const Tensor& out, double p) {
  VT_DISPATCH_ALL(out.dtype(), "bernoulli", [&] {
    scalar_t* o = out.data_as<scalar_t>();
    for_each_item<1>(out.device(), out.numel(),
                     [&](int64_t j, const uint32_t* w) { o[j] = cast_to<scalar_t>(bernoulli_draw(w, p)); });
  });
}

Tensor bernoulli_k(const Tensor& self, std::optional<double> p) {
  Tensor out = empty(self.sizes(), self.dtype(), self.device());
  if (p) {  // constant probability: self only gives the shape and dtype
    check_p(*p, "bernoulli");
    fill_bernoulli(out, *p);
    return out;
  }
  check_floating(self.dtype(), "bernoulli", "tensor of probabilities");
  Tensor probs = rnd::dense(self, "bernoulli");
  VT_DISPATCH_FLOATING(self.dtype(), "bernoulli", [&] {
    using M = opmath_t<scalar_t>;
    const scalar_t* q = probs.data_as<scalar_t>();
    for (int64_t j = 0; j < probs.numel(); j++) {
      double v = double(M(q[j]));
      VT_CHECK_VALUE(v >= 0.0 && v <= 1.0, "bernoulli: expected all probabilities to be in [0, 1], but found ", v,
                     " at flat index ", j);
    }
    scalar_t* o = out.data_as<scalar_t>();
    for_each_item<1>(out.device(), out.numel(), [&](int64_t j, const uint32_t* w) {
      o[j] = scalar_t(M(bernoulli_draw(w, double(M(q[j]))) ? 1 : 0));
    });
  });
  return out;
}

Tensor bernoulli_ik(const Tensor& self, double p) {
  check_p(p, "bernoulli_");
  return rnd::fill_in_place(self, "bernoulli_", [&](const Tensor& t) { fill_bernoulli(t, p); });
}

// ---- dropout -----------------------------------------------------------------------------------------
void dropout_cpu(const Tensor& out, const Tensor& mask, const Tensor& input, double p_keep, double scale) {
  Tensor x = rnd::dense(input, "native_dropout");
  bool* m = mask.data_as<bool>();
  VT_DISPATCH_FLOATING(x.dtype(), "native_dropout", [&] {
    using M = opmath_t<scalar_t>;
    const scalar_t* xv = x.data_as<scalar_t>();
    scalar_t* o = out.data_as<scalar_t>();
    const M s = M(scale);
    for_each_item<1>(out.device(), out.numel(), [&](int64_t j, const uint32_t* w) {
      const bool keep = bernoulli_draw(w, p_keep);
      m[j] = keep;
      o[j] = scalar_t(M(xv[j]) * M(keep) * s);
    });
  });
}

std::tuple<Tensor, Tensor> native_dropout_k(const Tensor& input, double p, std::optional<bool> train) {
  rnd::check_dropout_p(p);
  check_floating(input.dtype(), "dropout", "tensor");
  const bool training = train.value_or(true);
  if (!training) {  // the identity, with an all-true mask (PyTorch's eval-mode native_dropout)
    static TypedOp<Tensor(IntArrayRef, std::optional<DType>, std::optional<Device>)> ones("ones");
    return {clone(input), ones(input.sizes(), DType::Bool, input.device())};
  }
  Tensor out = empty(input.sizes(), input.dtype(), input.device());
  Tensor mask = empty(input.sizes(), DType::Bool, input.device());
  if (input.numel() == 0) return {out, mask};
  // the scale of the kept elements: native_dropout's derivative row (autograd/derivatives/random.py) agrees
  const double scale = p == 1.0 ? 0.0 : 1.0 / (1.0 - p);
  if (input.device().is_cuda()) cuda::dropout_into(out, mask, input, 1.0 - p, scale);
  else dropout_cpu(out, mask, input, 1.0 - p, scale);
  return {out, mask};
}

// grad * mask * scale over the broadcast pair: one pass on CPU, one generated kernel on CUDA (elementwise.py
// "masked_scale", which reads the bool mask as it is: no converted copy).
Tensor native_dropout_backward_k(const Tensor& grad, const Tensor& mask, double scale) {
  check_floating(grad.dtype(), "native_dropout_backward", "gradient");
  VT_CHECK_TYPE(mask.dtype() == DType::Bool, "native_dropout_backward: expected a bool mask, got ",
                dtype_name(mask.dtype()));
  TensorIterator it = TensorIteratorConfig("native_dropout_backward").add_output(Tensor()).add_input(grad)
                          .add_input(mask).promote_inputs(false).output_dtype(grad.dtype()).build();
  if (cuda::on_cuda(it)) {
    cuda::launch_elementwise(it, "masked_scale", {scale});
    return it.output();
  }
  VT_DISPATCH_FLOATING(grad.dtype(), "native_dropout_backward", [&] {
    using M = opmath_t<scalar_t>;
    const M s = M(scale);
    it.for_each([&](char** data, const int64_t* strides, int64_t n) {
      for (int64_t i = 0; i < n; i++) {
        const M g = M(*reinterpret_cast<const scalar_t*>(data[1] + i * strides[1]));
        const bool keep = *reinterpret_cast<const bool*>(data[2] + i * strides[2]);
        *reinterpret_cast<scalar_t*>(data[0] + i * strides[0]) = scalar_t(g * M(keep) * s);
      }
    });
  });
  it.finish();
  return it.output();
}

Tensor dropout_k(const Tensor& input, double p, bool train) {
  rnd::check_dropout_p(p);
  if (p == 0.0 || !train || input.numel() == 0) return input;
  check_floating(input.dtype(), "dropout", "tensor");
  if (p == 1.0) {  // no draw: a host scalar zero, which works on every device
    static TypedOp<Tensor(const Tensor&, const Tensor&)> mul("mul");
    return mul(input, wrap_number(Scalar(0.0)));
  }
  static TypedOp<std::tuple<Tensor, Tensor>(const Tensor&, double, std::optional<bool>)> native("native_dropout");
  return std::get<0>(native(input, p, true));
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("rand", &rand_k);
  m.impl("randn", &randn_k);
  m.impl("uniform_", &uniform_k);
  m.impl("normal_", &normal_k);
  m.impl("bernoulli", &bernoulli_k);
  m.impl("bernoulli_", &bernoulli_ik);
}

VT_REGISTER_KERNELS_ALL(m) {
  m.impl("native_dropout", &native_dropout_k);
  m.impl("native_dropout_backward", &native_dropout_backward_k);
}

VT_REGISTER_KERNELS(Composite, m) { m.impl("dropout", &dropout_k); }

}  // namespace
}  // namespace vt
