// Deterministic factories on CPU: empty, zeros, ones, full, arange, linspace, eye.
#include <cmath>
#include <cstring>

#include "cpu/loops.h"
#include "dispatch/dispatcher.h"
#include "ops/range_plan.h"
#include "ops/views.h"

namespace vt {
namespace {

Device cpu_device(std::optional<Device> d, const char* op) {
  VT_CHECK_TYPE(!d || d->is_cpu(), op, ": device ", d->str(), " is not available (no CUDA runtime)");
  return Device();
}

Tensor fill_with(Tensor t, Scalar v) {
  static TypedOp<Tensor(const Tensor&, const Tensor&)> fill("fill_");
  return fill(t, wrap_number(v));
}

Tensor empty_k(IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  return empty(size, dtype.value_or(kDefaultFloat), cpu_device(dev, "empty"));
}
Tensor zeros_k(IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  Tensor t = empty(size, dtype.value_or(kDefaultFloat), cpu_device(dev, "zeros"));
  if (t.numel()) std::memset(t.data(), 0, size_t(t.numel()) * t.itemsize());
  return t;
}
Tensor ones_k(IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  return fill_with(empty(size, dtype.value_or(kDefaultFloat), cpu_device(dev, "ones")), Scalar(int64_t(1)));
}
Tensor full_k(IntArrayRef size, Scalar value, std::optional<DType> dtype, std::optional<Device> dev) {
  DType d = dtype.value_or(value.is_float() ? kDefaultFloat : value.promotion_dtype());
  VT_CHECK_TYPE(is_floating(d) || !value.is_float(), "full: fill value ", value.to_double(),
                " cannot be converted to ", dtype_name(d));
  return fill_with(empty(size, d, cpu_device(dev, "full")), value);
}

template <class F>
Tensor generate(int64_t n, DType d, F value_at) {
  Tensor t = empty(DimVec{n}, d);
  VT_DISPATCH_NUMERIC(d, "arange", [&] {
    scalar_t* p = t.data_as<scalar_t>();
    for (int64_t i = 0; i < n; i++) p[i] = scalar_t(value_at(i));
  });
  return t;
}

Tensor arange_start_k(Scalar start, Scalar end, Scalar step, std::optional<DType> dtype, std::optional<Device> dev) {
  cpu_device(dev, "arange");
  ArangePlan p = plan_arange(start, end, step, dtype);
  if (p.all_int) return generate(p.n, p.dtype, [=](int64_t i) { return p.a + i * p.c; });
  return generate(p.n, p.dtype, [=](int64_t i) { return p.s + double(i) * p.st; });
}
Tensor arange_k(Scalar end, std::optional<DType> dtype, std::optional<Device> dev) {
  return arange_start_k(Scalar(int64_t(0)), end, Scalar(int64_t(1)), dtype, dev);
}

Tensor linspace_k(Scalar start, Scalar end, int64_t steps, std::optional<DType> dtype, std::optional<Device> dev) {
  cpu_device(dev, "linspace");
  LinspacePlan p = plan_linspace(start, end, steps);
  return generate(p.steps, dtype.value_or(kDefaultFloat), [=](int64_t i) {
    return i < p.half ? p.a + p.step * double(i) : p.b - p.step * double(p.steps - 1 - i);
  });
}

Tensor eye_k(int64_t n, std::optional<int64_t> m, std::optional<DType> dtype, std::optional<Device> dev) {
  int64_t cols = m.value_or(n);
  VT_CHECK_VALUE(n >= 0 && cols >= 0, "eye: n and m must be non-negative, got ", n, ", ", cols);
  Tensor t = zeros_k(DimVec{n, cols}, dtype, dev);
  VT_DISPATCH_ALL(t.dtype(), "eye", [&] {
    scalar_t* p = t.data_as<scalar_t>();
    for (int64_t i = 0; i < std::min(n, cols); i++) p[i * cols + i] = scalar_t(1);
  });
  return t;
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("empty", &empty_k);
  m.impl("zeros", &zeros_k);
  m.impl("ones", &ones_k);
  m.impl("full", &full_k);
  m.impl("arange", &arange_k);
  m.impl("arange.start", &arange_start_k);
  m.impl("linspace", &linspace_k);
  m.impl("eye", &eye_k);
}

}  // namespace
}  // namespace vt
