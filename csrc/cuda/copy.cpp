#include "cuda/copy.h"

#include "cuda/elementwise.h"
#include "cuda/stream.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt::cuda {

namespace {

bool dense(const Tensor& t) { return t.is_contiguous(); }

void memcpy_async(void* dst, const void* src, size_t n, const Stream& s) {
  if (!n) return;
  VT_CU(cuMemcpyAsync(CUdeviceptr(uintptr_t(dst)), CUdeviceptr(uintptr_t(src)), n, s.handle));
}

// dst = src on one device: the copy engine for dense same-dtype tensors, else the elementwise copy kernel
// (any strides, any dtype conversion).
void copy_on_device(const Tensor& dst, const Tensor& src, const Stream& s) {
  if (dst.dtype() == src.dtype() && dense(dst) && dense(src)) {
    memcpy_async(dst.data(), src.data(), size_t(dst.numel()) * dst.itemsize(), s);
    return;
  }
  TensorIterator it = TensorIteratorConfig("copy_").add_output(dst).add_input(src).promote_inputs(false)
                          .output_dtype(dst.dtype()).build();
  launch_elementwise(it, "copy");
}

Tensor dense_on_device(const Tensor& t, const Stream& s) {
  if (dense(t)) return t;
  Tensor out = empty(t.sizes(), t.dtype(), t.device());
  copy_on_device(out, t, s);
  return out;
}

}  // namespace

void copy_between(const Tensor& dst, const Tensor& src_in, bool non_blocking) {
  VT_CHECK_VALUE(dst.sizes() == src_in.sizes(), "copy_: shapes ", shape_str(dst.sizes()), " and ",
                 shape_str(src_in.sizes()), " differ (broadcast first)");
  if (dst.numel() == 0) return;
  Device dd = dst.device(), sd = src_in.device();
  int dev = dd.is_cuda() ? dd.index : sd.index;
  activate(dev);
  Stream s = current_stream(dev);
  if (dd.is_cuda() && sd.is_cpu()) {  // host -> device: convert on the host, one transfer, then lay out
    Tensor src = contiguous(to_dtype(src_in, dst.dtype()));
    Tensor landing = dense(dst) ? dst : empty(dst.sizes(), dst.dtype(), dd);
    memcpy_async(landing.data(), src.data(), size_t(src.numel()) * src.itemsize(), s);
    if (!landing.is_same(dst)) copy_on_device(dst, landing, s);
    if (!non_blocking) s.synchronize();  // the host buffer may be freed as soon as we return
    return;
  }
  if (dd.is_cpu() && sd.is_cuda()) {  // device -> host: dense on the device, one transfer, convert on host
    Tensor src = dense_on_device(src_in, s);
    bool direct = dense(dst) && dst.dtype() == src.dtype();
    Tensor staging = direct ? dst : empty(src.sizes(), src.dtype());
    memcpy_async(staging.data(), src.data(), size_t(src.numel()) * src.itemsize(), s);
    if (!non_blocking || !direct) s.synchronize();
    if (!direct) copy_(dst, staging);
    return;
  }
  if (dd == sd) {
    copy_on_device(dst, src_in, s);
    return;
  }
  // Different devices: ordered after work on both sides; the driver routes peer (or host-staged) copies.
  Event ready;
  ready.record(current_stream(sd.index));
  ready.wait(s);
  Tensor src = dst.dtype() == src_in.dtype() ? src_in : to_dtype(src_in, dst.dtype());
  Tensor landing = dense(dst) ? dst : empty(dst.sizes(), dst.dtype(), dd);
  memcpy_async(landing.data(), dense_on_device(src, current_stream(sd.index)).data(),
               size_t(dst.numel()) * dst.itemsize(), s);
  if (!landing.is_same(dst)) copy_on_device(dst, landing, s);
}

namespace {

Tensor copy_cuda(const Tensor& self, const Tensor& src, bool non_blocking) {
  Tensor s = src.sizes() == self.sizes() ? src : expand(src, self.sizes());
  copy_between(self, s, non_blocking);
  return self;
}

Tensor to_copy_cuda(const Tensor& self, std::optional<DType> dtype, std::optional<Device> device, bool non_blocking) {
  Device d = device.value_or(self.device());
  if (d.is_cuda()) d.index = int16_t(resolve(d.index));
  Tensor out = empty(self.sizes(), dtype.value_or(self.dtype()), d);
  copy_between(out, self, non_blocking);
  return out;
}

Tensor empty_cuda(IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  Device d(DeviceType::CUDA, int16_t(resolve(dev ? dev->index : -1)));
  return empty(size, dtype.value_or(kDefaultFloat), d);
}

Tensor zeros_cuda(IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  Tensor t = empty_cuda(size, dtype, dev);
  if (t.numel()) {
    activate(t.device().index);
    VT_CU(cuMemsetD8Async(CUdeviceptr(uintptr_t(t.data())), 0, size_t(t.numel()) * t.itemsize(),
                          current_stream(t.device().index).handle));
  }
  return t;
}

Tensor clone_cuda(const Tensor& self) {
  // The iterator lays the copy out in self's memory order (PyTorch's preserve_format).
  TensorIterator it = TensorIteratorConfig("clone").add_output(Tensor()).add_input(self).promote_inputs(false).build();
  Tensor out = it.output();
  copy_on_device(out, self, current_stream(self.device().index));
  return out;
}

Tensor fill_cuda(const Tensor& self, const Tensor& value) {
  VT_CHECK_VALUE(value.dim() == 0, "fill_ only supports 0-dimension value tensor but got tensor with ",
                 value.dim(), " dimensions");
  Scalar v = host_item(value);
  TensorIterator it = TensorIteratorConfig("fill_").add_output(self).output_dtype(self.dtype()).build();
  launch_elementwise(it, "fill", {v.to_double()});
  return self;
}

Tensor zero_cuda(const Tensor& self) {
  if (!self.is_contiguous()) return fill_cuda(self, wrap_number(Scalar(int64_t(0))));
  if (self.numel()) {
    activate(self.device().index);
    VT_CU(cuMemsetD8Async(CUdeviceptr(uintptr_t(self.data())), 0, size_t(self.numel()) * self.itemsize(),
                          current_stream(self.device().index).handle));
  }
  return self;
}

VT_REGISTER_KERNELS(CUDA, m) {
  m.impl("copy_", &copy_cuda);
  m.impl("_to_copy", &to_copy_cuda);
  m.impl("empty", &empty_cuda);
  m.impl("zeros", &zeros_cuda);
  m.impl("zero_", &zero_cuda);
  m.impl("fill_", &fill_cuda);
  m.impl("clone", &clone_cuda);
}

}  // namespace
}  // namespace vt::cuda
