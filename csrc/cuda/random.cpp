// Random ops on CUDA: rand, randn, uniform_, normal_, bernoulli, bernoulli_, randint(.low) and the fused
// dropout forward as generated Triton kernels (kernels/triton/random.py); randperm and multinomial are in
// random_sampling.cpp.
//
// Every kernel reads the Philox words the CPU kernel reads for the same element (cpu/random.cpp and
// random_sampling.cpp document which), from blocks reserved with philox_args (cuda/generator.h), so the
// same seed gives the CPU's values and launches stay correct under CUDA graph replay. Validation is the
// CPU's (cpu/random_common.h). Outputs of the in-place ops are written through their strides.
//
// bernoulli with a tensor of probabilities does not check them on CUDA (that would need a sync): p < 0 or
// NaN gives 0 and p > 1 gives 1, where the CPU raises.
#include <cmath>

#include "cpu/random_common.h"
#include "cuda/device.h"
#include "cuda/generator.h"
#include "cuda/kernel_library.h"
#include "cuda/random.h"
#include "dispatch/dispatcher.h"
#include "ops/iterator.h"

namespace vt::cuda {

namespace {
constexpr int64_t kBlock = 1024;  // elements per program: BLOCK in kernels/triton/random.py

// How many consecutive elements one Philox block feeds (elements_per_block in random.py).
int64_t elements_per_block(std::string_view op, DType out) {
  if (op == "randint" || op == "perm_keys" || op == "perm_ties") return 1;  // a block per element
  if (op == "mn_draw" || op == "mn_race") return 2;                          // a uniform double each
  if (out == DType::Float64 && (op == "uniform" || op == "normal")) return 2;
  return 4;
}
}  // namespace

PhiloxArgs reserve_random(std::string_view op, const Tensor& out) {
  const int64_t e = elements_per_block(op, out.dtype());
  return philox_args(out.device().index, uint64_t((out.numel() + e - 1) / e));
}

void launch_random(std::string_view op, const Tensor& out, const Tensor* in, const PhiloxArgs& st,
                   std::initializer_list<KernelArg> params) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const bool dense = out.is_contiguous() && (!in || in->is_contiguous());
  const int64_t programs = (n + kBlock - 1) / kBlock;
  VT_CHECK(programs < (int64_t(1) << 31), op, ": tensor too large for one launch (", n, " elements)");
  std::string key = "rng|" + std::string(op) + "|" + dtype_name(out.dtype()) + "|" +
                    (in ? dtype_name(in->dtype()) : "-") + "|" + (dense ? "c" : "g" + std::to_string(out.dim())) +
                    "|" + st.variant();
  if (dense) {  // the aligned form (kernel_library.h) when every pointer and the element count allow it
    bool aligned = multiples_of_16({address(out.data()), uint64_t(n)}) &&
                   (!in || multiples_of_16({address(in->data())}));
    for (const KernelArg& a : params)
      if (a.kind == KernelArg::Kind::Ptr) aligned = aligned && a.u % 16 == 0;
    if (aligned) key += kAlignedSuffix;
  }
  std::vector<KernelArg> args{KernelArg::ptr(out.data())};
  if (in) args.push_back(KernelArg::ptr(in->data()));
  args.push_back(KernelArg::i64v(n));
  st.push(args);
  args.insert(args.end(), params.begin(), params.end());
  if (!dense) {  // sizes, then each tensor's element strides, innermost dim first
    for (int64_t d = out.dim() - 1; d >= 0; d--) args.push_back(KernelArg::i64v(out.sizes()[d]));
    for (const Tensor* t : {&out, in})
      if (t)
        for (int64_t d = out.dim() - 1; d >= 0; d--) args.push_back(KernelArg::i64v(t->strides()[d]));
  }
  kernel(key).launch(uint32_t(programs), 1, 1, args, current_stream(out.device().index));
}

namespace {
// The ops here draw fresh blocks for every launch.
void launch_random(std::string_view op, const Tensor& out, const Tensor* in, std::initializer_list<KernelArg> params) {
  launch_random(op, out, in, reserve_random(op, out), params);
}

// ---- uniform / normal -----------------------------------------------------------------------------------
void fill_uniform(const Tensor& out, double from, double to) {
  launch_random("uniform", out, nullptr,
                {KernelArg::f64v(from), KernelArg::f64v(to - from),
                 KernelArg::f64v(rnd::uniform_top(out.dtype(), from, to))});
}

void fill_normal(const Tensor& out, double mean, double stddev) {
  launch_random("normal", out, nullptr, {KernelArg::f64v(mean), KernelArg::f64v(stddev)});
}

Tensor rand_cuda(IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  DType d = dtype.value_or(kDefaultFloat);
  rnd::check_floating(d, "rand", "dtype");
  Tensor out = empty(size, d, cuda_device(dev));
  fill_uniform(out, 0.0, 1.0);
  return out;
}

Tensor randn_cuda(IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  DType d = dtype.value_or(kDefaultFloat);
  rnd::check_floating(d, "randn", "dtype");
  Tensor out = empty(size, d, cuda_device(dev));
  fill_normal(out, 0.0, 1.0);
  return out;
}

Tensor uniform_cuda(const Tensor& self, double from, double to) {
  rnd::check_floating(self.dtype(), "uniform_", "tensor");
  rnd::check_uniform_bounds(self.dtype(), from, to, "uniform_");
  check_writable(self, "uniform_");
  fill_uniform(self, from, to);
  return self;
}

Tensor normal_cuda(const Tensor& self, double mean, double stddev) {
  rnd::check_floating(self.dtype(), "normal_", "tensor");
  rnd::check_normal_std(stddev);
  check_writable(self, "normal_");
  fill_normal(self, mean, stddev);
  return self;
}

// ---- bernoulli ------------------------------------------------------------------------------------------
// w * 2^-32 < p (the CPU's test, w a 32-bit word) is w < ceil(p * 2^32): exact in double.
KernelArg bernoulli_threshold(double p) { return KernelArg::i64v(int64_t(std::ceil(p * 4294967296.0))); }

void fill_bernoulli(const Tensor& out, double p) { launch_random("bernoulli", out, nullptr, {bernoulli_threshold(p)}); }

Tensor bernoulli_cuda(const Tensor& self, std::optional<double> p) {
  Tensor out = empty(self.sizes(), self.dtype(), self.device());
  if (p) {  // constant probability: self only gives the shape and dtype
    rnd::check_p(*p, "bernoulli");
    fill_bernoulli(out, *p);
    return out;
  }
  rnd::check_floating(self.dtype(), "bernoulli", "tensor of probabilities");
  launch_random("bernoulli_p", out, &self, {});
  return out;
}

Tensor bernoulli_inplace_cuda(const Tensor& self, double p) {
  rnd::check_p(p, "bernoulli_");
  check_writable(self, "bernoulli_");
  fill_bernoulli(self, p);
  return self;
}

// ---- randint --------------------------------------------------------------------------------------------
Tensor randint_low_cuda(int64_t low, int64_t high, IntArrayRef size, std::optional<DType> dtype,
                        std::optional<Device> dev) {
  const DType d = dtype.value_or(DType::Int64);
  rnd::check_randint_range(low, high, d);
  Tensor out = empty(size, d, cuda_device(dev));
  const uint64_t range = uint64_t(high) - uint64_t(low);  // in [1, 2^64)
  const uint64_t reject_below = (0 - range) % range;      // 2^64 mod range: Lemire's rejection threshold
  launch_random("randint", out, nullptr,
                {KernelArg::i64v(low), KernelArg::i64v(int64_t(range)), KernelArg::i64v(int64_t(reject_below))});
  return out;
}

Tensor randint_cuda(int64_t high, IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  return randint_low_cuda(0, high, size, dtype, dev);
}

VT_REGISTER_KERNELS(CUDA, m) {
  m.impl("rand", &rand_cuda);
  m.impl("randn", &randn_cuda);
  m.impl("uniform_", &uniform_cuda);
  m.impl("normal_", &normal_cuda);
  m.impl("bernoulli", &bernoulli_cuda);
  m.impl("bernoulli_", &bernoulli_inplace_cuda);
  m.impl("randint", &randint_cuda);
  m.impl("randint.low", &randint_low_cuda);
}

}  // namespace

void dropout_into(const Tensor& out, const Tensor& mask, const Tensor& input, double p_keep, double scale) {
  launch_random("dropout", out, &input,
                {KernelArg::ptr(mask.data()), bernoulli_threshold(p_keep), KernelArg::f64v(scale)});
}

}  // namespace vt::cuda
