// Factories on CUDA: ones/full fill on the device; arange/linspace/eye are computed on the host (cheap,
// and the same values as the CPU factories by construction) and copied over.
#include "cuda/device.h"
#include "cuda/elementwise.h"
#include "cuda/stream.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt::cuda {
namespace {

Tensor filled(IntArrayRef size, DType dtype, std::optional<Device> dev, Scalar v) {
  static TypedOp<Tensor(const Tensor&, const Tensor&)> fill("fill_");
  return fill(empty(size, dtype, cuda_device(dev)), wrap_number(v));
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

Tensor to_device(const Tensor& host, std::optional<Device> dev) {
  static TypedOp<Tensor(const Tensor&, std::optional<DType>, std::optional<Device>, bool)> to_copy("_to_copy");
  return to_copy(host, std::nullopt, cuda_device(dev), false);
}

Tensor arange_start_cuda(Scalar s, Scalar e, Scalar st, std::optional<DType> dtype, std::optional<Device> dev) {
  static TypedOp<Tensor(Scalar, Scalar, Scalar, std::optional<DType>, std::optional<Device>)> op("arange.start");
  return to_device(op(s, e, st, dtype, Device()), dev);
}
Tensor arange_cuda(Scalar e, std::optional<DType> dtype, std::optional<Device> dev) {
  return arange_start_cuda(Scalar(int64_t(0)), e, Scalar(int64_t(1)), dtype, dev);
}
Tensor linspace_cuda(Scalar s, Scalar e, int64_t steps, std::optional<DType> dtype, std::optional<Device> dev) {
  static TypedOp<Tensor(Scalar, Scalar, int64_t, std::optional<DType>, std::optional<Device>)> op("linspace");
  return to_device(op(s, e, steps, dtype, Device()), dev);
}
Tensor eye_cuda(int64_t n, std::optional<int64_t> m, std::optional<DType> dtype, std::optional<Device> dev) {
  static TypedOp<Tensor(int64_t, std::optional<int64_t>, std::optional<DType>, std::optional<Device>)> op("eye");
  return to_device(op(n, m, dtype, Device()), dev);
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
