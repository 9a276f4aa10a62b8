// Random ops on CUDA: rand, randn, uniform_, normal_, bernoulli, bernoulli_, randint(.low) as generated
// Triton kernels (kernels/triton/random.py), and randperm / multinomial through the host algorithms.
//
// Every kernel reads the Philox words the CPU kernel reads for the same element (cpu/random.cpp and
// random_sampling.cpp document which), from blocks reserved with philox_args (cuda/generator.h), so the
// same seed gives the CPU's values and launches stay correct under CUDA graph replay. Validation is the
// CPU's (cpu/random_common.h). Outputs of the in-place ops are written through their strides.
//
// randperm and multinomial run the CPU algorithms on the host, drawing from the CUDA device's generator
// (same values as on the CPU for a seed), and copy the result over: randperm is a sequential Fisher-Yates
// pass (O(n), typically a data-loader shuffle), and multinomial must read the probabilities, so it copies
// them to the host first (a device sync: the one place here that waits for the GPU). Neither can run
// while a CUDA graph is captured: they raise instead of freezing one draw into the graph.
//
// bernoulli with a tensor of probabilities does not check them on CUDA (that would need a sync): p < 0 or
// NaN gives 0 and p > 1 gives 1, where the CPU raises.
#include <cmath>

#include "cpu/random_common.h"
#include "cuda/device.h"
#include "cuda/generator.h"
#include "cuda/kernel_library.h"
#include "dispatch/dispatcher.h"
#include "ops/iterator.h"
#include "ops/views.h"

namespace vt::cuda {

namespace {
constexpr int64_t kBlock = 1024;  // elements per program: BLOCK in kernels/triton/random.py

Device cuda_device(std::optional<Device> d) { return Device(DeviceType::CUDA, int16_t(resolve(d ? d->index : -1))); }

// How many consecutive elements one Philox block feeds (elements_per_block in random.py).
int64_t elements_per_block(std::string_view op, DType out) {
  if (op == "randint") return 1;
  if (out == DType::Float64 && (op == "uniform" || op == "normal")) return 2;
  return 4;
}

// Fills `out` (any strides) with kernel `op`; p: bernoulli_p's probabilities (same shape, any strides).
void launch_random(std::string_view op, const Tensor& out, const Tensor* p, std::initializer_list<KernelArg> params) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = out.device().index;
  const bool dense = out.is_contiguous() && (!p || p->is_contiguous());
  const int64_t e = elements_per_block(op, out.dtype());
  const int64_t programs = (n + kBlock - 1) / kBlock;
  VT_CHECK(programs < (int64_t(1) << 31), op, ": tensor too large for one launch (", n, " elements)");
  const PhiloxArgs st = philox_args(device, uint64_t((n + e - 1) / e));
  std::string key = "rng|" + std::string(op) + "|" + dtype_name(out.dtype()) + "|" +
                    (p ? dtype_name(p->dtype()) : "-") + "|" + (dense ? "c" : "g" + std::to_string(out.dim())) +
                    "|" + st.variant();
  std::vector<KernelArg> args{KernelArg::ptr(out.data())};
  if (p) args.push_back(KernelArg::ptr(p->data()));
  args.push_back(KernelArg::i64v(n));
  st.push(args);
  args.insert(args.end(), params.begin(), params.end());
  if (!dense) {  // sizes, then each tensor's element strides, innermost dim first
    for (int64_t d = out.dim() - 1; d >= 0; d--) args.push_back(KernelArg::i64v(out.sizes()[d]));
    for (const Tensor* t : {&out, p})
      if (t)
        for (int64_t d = out.dim() - 1; d >= 0; d--) args.push_back(KernelArg::i64v(t->strides()[d]));
  }
  kernel(key).launch(uint32_t(programs), 1, 1, args, current_stream(device));
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
void fill_bernoulli(const Tensor& out, double p) {
  launch_random("bernoulli", out, nullptr, {KernelArg::i64v(int64_t(std::ceil(p * 4294967296.0)))});
}

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

// ---- host algorithms ------------------------------------------------------------------------------------
void check_not_capturing(int device, const char* op) {
  VT_CHECK_VALUE(!rng_capturing(device), op, " on CUDA runs on the host and cannot be captured into a CUDA graph; "
                 "draw it before capturing and pass it in as an input");
}

Tensor copy_to(const Tensor& t, Device device) {
  static TypedOp<Tensor(const Tensor&, std::optional<DType>, std::optional<Device>, bool)> to_copy("_to_copy");
  return to_copy(t, std::nullopt, device, false);
}

Tensor randperm_cuda(int64_t n, std::optional<DType> dtype, std::optional<Device> dev) {
  const DType d = dtype.value_or(DType::Int64);
  const Device device = cuda_device(dev);
  rnd::check_randperm(n, d);
  check_not_capturing(device.index, "randperm");
  return copy_to(rnd::randperm_on_host(n, d, device), device);
}

Tensor multinomial_cuda(const Tensor& self, int64_t num_samples, bool replacement) {
  rnd::check_multinomial(self, num_samples, replacement);
  check_not_capturing(self.device().index, "multinomial");
  // Reading the probabilities on the host waits for the kernels that made them (a sync).
  return copy_to(rnd::multinomial_on_host(copy_to(self, Device()), num_samples, replacement, self.device()),
                 self.device());
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
  m.impl("randperm", &randperm_cuda);
  m.impl("multinomial", &multinomial_cuda);
}

}  // namespace
}  // namespace vt::cuda
