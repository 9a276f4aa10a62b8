#include "cuda/copy.h"

#include "cuda/stream.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt::cuda {

namespace {

bool dense(const Tensor& t) { return t.is_contiguous(); }

[[noreturn]] void need_kernels(const char* what) {
  VT_THROW(NotImplementedError, "copy_: ", what, " needs the CUDA elementwise kernels, which this build does not ",
           "have yet; make the tensors contiguous and of one dtype, or copy through the CPU");
}

void memcpy_async(void* dst, const void* src, size_t n, const Stream& s) {
  if (!n) return;
  VT_CU(cuMemcpyAsync(CUdeviceptr(uintptr_t(dst)), CUdeviceptr(uintptr_t(src)), n, s.handle));
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
  size_t nbytes = size_t(dst.numel()) * dst.itemsize();
  if (dd.is_cuda() && sd.is_cpu()) {  // host -> device: convert on the host, then one transfer
    Tensor src = contiguous(to_dtype(src_in, dst.dtype()));
    if (!dense(dst)) need_kernels("writing into a non-contiguous CUDA tensor");
    memcpy_async(dst.data(), src.data(), nbytes, s);
    if (!non_blocking) s.synchronize();  // the host buffer may be freed as soon as we return
    return;
  }
  if (dd.is_cpu() && sd.is_cuda()) {  // device -> host: one transfer into host memory, then convert there
    if (!dense(src_in)) need_kernels("reading a non-contiguous CUDA tensor");
    bool direct = dense(dst) && dst.dtype() == src_in.dtype();
    Tensor staging = direct ? dst : empty(src_in.sizes(), src_in.dtype());
    memcpy_async(staging.data(), src_in.data(), size_t(src_in.numel()) * src_in.itemsize(), s);
    if (!non_blocking || !direct) s.synchronize();
    if (!direct) copy_(dst, staging);
    return;
  }
  // device -> device
  if (dst.dtype() != src_in.dtype() || !dense(dst) || !dense(src_in))
    need_kernels("a CUDA copy with a dtype change or a non-contiguous layout");
  if (dd == sd) {
    memcpy_async(dst.data(), src_in.data(), nbytes, s);
  } else {
    // Different devices: the copy is ordered after work on both sides (the source's current stream too).
    Event ready;
    ready.record(current_stream(sd.index));
    ready.wait(s);
    memcpy_async(dst.data(), src_in.data(), nbytes, s);  // UVA: the driver routes peer or host-staged
  }
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
  copy_between(out, self.is_contiguous() || d.is_cpu() ? self : contiguous(self), non_blocking);
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

Tensor zero_cuda(const Tensor& self) {
  if (!self.is_contiguous()) need_kernels("zero_ of a non-contiguous CUDA tensor");
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
}

}  // namespace
}  // namespace vt::cuda
