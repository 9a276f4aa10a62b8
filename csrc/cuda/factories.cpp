// Factories on CUDA, all on the device: ones/full fill; arange and linspace evaluate the CPU factories'
// arithmetic (ops/range_plan.h) over positions 0..n-1; eye fills the diagonal of zeros. None copies from the
// host: a host-to-device copy waits for the stream (every forward that calls arange would stall the host
// behind the GPU) and cannot be captured in a CUDA graph.
#include "cuda/device.h"
#include "cuda/elementwise.h"
#include "cuda/stream.h"
#include "dispatch/dispatcher.h"
#include "ops/range_plan.h"
#include "ops/views.h"

namespace vt::cuda {
namespace {

Tensor fill_(const Tensor& t, Scalar v) {
  static TypedOp<Tensor(const Tensor&, const Tensor&)> fill("fill_");
  return fill(t, wrap_number(v));
}

Tensor filled(IntArrayRef size, DType dtype, std::optional<Device> dev, Scalar v) {
  return fill_(empty(size, dtype, cuda_device(dev)), v);
}

Tensor ones_cuda(IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  return filled(size, dtype.value_or(kDefaultFloat), dev, Scalar(int64_t(1)));
}

Tensor full_cuda(IntArrayRef size, Scalar value, std::optional<DType> dtype, std::optional<Device> dev) {
  DType d = dtype.value_or(value.is_float() ? kDefaultFloat : value.promotion_dtype());
  VT_CHECK_TYPE(is_floating(d) || !value.is_float(), "full: fill value ", value.to_double(), " cannot be converted to ",
                dtype_name(d));
  return filled(size, d, dev, value);
}

// Positions 0..n-1 (int64) on the device: a scan of ones, exact in int64.
Tensor positions(int64_t n, Device d) {
  static TypedOp<Tensor(const Tensor&, int64_t, std::optional<DType>)> cumsum("cumsum");
  static TypedOp<Tensor(const Tensor&, const Tensor&, Scalar)> sub("sub");
  Tensor ones = filled(DimVec{n}, DType::Int64, d, Scalar(int64_t(1)));
  return sub(cumsum(ones, 0, std::nullopt), wrap_number(Scalar(int64_t(1))), Scalar(int64_t(1)));
}

// x * m + b (x float64 or int64, m and b numbers of x's kind: the result keeps x's dtype).
Tensor affine(const Tensor& x, Scalar m, Scalar b) {
  static TypedOp<Tensor(const Tensor&, const Tensor&)> mul("mul");
  static TypedOp<Tensor(const Tensor&, const Tensor&, Scalar)> add("add");
  return add(mul(x, wrap_number(m)), wrap_number(b), Scalar(int64_t(1)));
}

Tensor arange_start_cuda(Scalar s, Scalar e, Scalar st, std::optional<DType> dtype, std::optional<Device> dev) {
  ArangePlan p = plan_arange(s, e, st, dtype);
  Device d = cuda_device(dev);
  if (p.n == 0) return empty(DimVec{0}, p.dtype, d);
  Tensor i = positions(p.n, d);
  Tensor v = p.all_int ? affine(i, Scalar(p.c), Scalar(p.a))
                       : affine(to_dtype(i, DType::Float64), Scalar(p.st), Scalar(p.s));
  return to_dtype(v, p.dtype);
}
Tensor arange_cuda(Scalar e, std::optional<DType> dtype, std::optional<Device> dev) {
  return arange_start_cuda(Scalar(int64_t(0)), e, Scalar(int64_t(1)), dtype, dev);
}

Tensor linspace_cuda(Scalar s, Scalar e, int64_t steps, std::optional<DType> dtype, std::optional<Device> dev) {
  LinspacePlan p = plan_linspace(s, e, steps);
  Device d = cuda_device(dev);
  DType out = dtype.value_or(kDefaultFloat);
  if (p.steps == 0) return empty(DimVec{0}, out, d);
  static TypedOp<Tensor(const Tensor&, const Tensor&)> lt("lt");
  static TypedOp<Tensor(const Tensor&, const Tensor&, const Tensor&)> where("where");
  // the CPU factory's roundings: a + step * i, and b - step * j with j = steps - 1 - i (exact in float64)
  Tensor i = to_dtype(positions(p.steps, d), DType::Float64);
  Tensor j = affine(i, Scalar(-1.0), Scalar(double(p.steps - 1)));
  Tensor low = affine(i, Scalar(p.step), Scalar(p.a)), high = affine(j, Scalar(-p.step), Scalar(p.b));
  return to_dtype(where(lt(i, wrap_number(Scalar(double(p.half)))), low, high), out);
}

Tensor eye_cuda(int64_t n, std::optional<int64_t> m, std::optional<DType> dtype, std::optional<Device> dev) {
  int64_t cols = m.value_or(n);
  VT_CHECK_VALUE(n >= 0 && cols >= 0, "eye: n and m must be non-negative, got ", n, ", ", cols);
  Tensor t = filled(DimVec{n, cols}, dtype.value_or(kDefaultFloat), dev, Scalar(int64_t(0)));
  int64_t k = std::min(n, cols);
  if (k > 0) fill_(as_strided(t, DimVec{k}, DimVec{cols + 1}, int64_t(0)), Scalar(int64_t(1)));
  return t;
}

VT_REGISTER_KERNELS(CUDA, m) {
  m.impl("ones", &ones_cuda);
  m.impl("full", &full_cuda);
  m.impl("arange", &arange_cuda);
  m.impl("arange.start", &arange_start_cuda);
  m.impl("linspace", &linspace_cuda);
  m.impl("eye", &eye_cuda);
}

}  // namespace
}  // namespace vt::cuda
