// DLPack: zero-copy exchange with numpy, torch and anything else that speaks it (both the classic
// "dltensor" and the versioned "dltensor_versioned" capsules, with the read-only flag).
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "python/common.h"

namespace vt::py {

namespace {

// The DLPack ABI (dlpack.h v1.0), declared here rather than vendored.
enum { kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3 };
enum { kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4, kDLBool = 6 };
struct DLDevice { int32_t device_type, device_id; };
struct DLDataType { uint8_t code, bits; uint16_t lanes; };
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor*);
};
struct DLPackVersion { uint32_t major, minor; };
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned*);
  uint64_t flags;
  DLTensor dl_tensor;
};
constexpr uint64_t kReadOnly = 1, kIsCopied = 2;

DLDataType to_dl(DType d) {
  switch (d) {
    case DType::Bool: return {kDLBool, 8, 1};
    case DType::UInt8: return {kDLUInt, 8, 1};
    case DType::Int8: return {kDLInt, 8, 1};
    case DType::Int16: return {kDLInt, 16, 1};
    case DType::Int32: return {kDLInt, 32, 1};
    case DType::Int64: return {kDLInt, 64, 1};
    case DType::Float16: return {kDLFloat, 16, 1};
    case DType::BFloat16: return {kDLBfloat, 16, 1};
    case DType::Float32: return {kDLFloat, 32, 1};
    case DType::Float64: return {kDLFloat, 64, 1};
  }
  return {};
}
DType from_dl(DLDataType t) {
  VT_CHECK_TYPE(t.lanes == 1, "from_dlpack: vector dtypes (lanes=", t.lanes, ") are not supported");
  for (int i = 0; i < kNumDTypes; i++) {
    DLDataType d = to_dl(DType(i));
    if (d.code == t.code && d.bits == t.bits) return DType(i);
  }
  if (t.code == kDLUInt && t.bits == 1) return DType::Bool;
  VT_THROW(TypeError, "from_dlpack: unsupported dtype (code ", int(t.code), ", ", int(t.bits), " bits)");
}

// What a capsule we export owns: a reference to the tensor and its shape/stride arrays.
struct ExportCtx {
  Tensor t;
  std::vector<int64_t> shape, strides;
};
template <class M>
void fill(M* m, ExportCtx* ctx) {
  const Tensor& t = ctx->t;
  m->manager_ctx = ctx;
  m->dl_tensor.data = t.data();
  m->dl_tensor.device = {t.device().is_cpu() ? kDLCPU : kDLCUDA, t.device().is_cpu() ? 0 : t.device().index};
  m->dl_tensor.ndim = int32_t(t.dim());
  m->dl_tensor.dtype = to_dl(t.dtype());
  m->dl_tensor.shape = ctx->shape.data();
  m->dl_tensor.strides = ctx->strides.data();
  m->dl_tensor.byte_offset = 0;
}
void delete_classic(DLManagedTensor* m) {
  delete static_cast<ExportCtx*>(m->manager_ctx);
  delete m;
}
void delete_versioned(DLManagedTensorVersioned* m) {
  delete static_cast<ExportCtx*>(m->manager_ctx);
  delete m;
}

// Capsule destructors: only run the deleter if nobody consumed (renamed) the capsule.
void classic_capsule_dtor(PyObject* cap) {
  if (PyCapsule_IsValid(cap, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  }
}
void versioned_capsule_dtor(PyObject* cap) {
  if (PyCapsule_IsValid(cap, "dltensor_versioned")) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap, "dltensor_versioned"));
    if (m && m->deleter) m->deleter(m);
  }
}

nb::object to_dlpack(const Tensor& t, bool versioned) {
  auto* ctx = new ExportCtx{t, t.sizes().vec(), t.strides().vec()};
  if (versioned) {
    auto* m = new DLManagedTensorVersioned{};
    m->version = {1, 0};
    m->deleter = &delete_versioned;
    m->flags = t.impl()->storage()->writable() ? 0 : kReadOnly;
    fill(m, ctx);
    return nb::steal(PyCapsule_New(m, "dltensor_versioned", &versioned_capsule_dtor));
  }
  auto* m = new DLManagedTensor{};
  m->deleter = &delete_classic;
  fill(m, ctx);
  return nb::steal(PyCapsule_New(m, "dltensor", &classic_capsule_dtor));
}

// Imported memory: the producer's deleter runs when our storage dies (with the GIL, since producers such as
// numpy release Python objects in it).
template <class M>
void run_producer_deleter(void*, void* ctx) {
  auto* m = static_cast<M*>(ctx);
  if (!m->deleter) return;
  if (!Py_IsInitialized()) return;
  nb::gil_scoped_acquire g;
  m->deleter(m);
}

template <class M>
Tensor import_managed(M* m, bool read_only) {
  const DLTensor& d = m->dl_tensor;
  VT_CHECK_TYPE(d.device.device_type == kDLCPU || d.device.device_type == kDLCUDAHost, "from_dlpack: only CPU "
                "memory can be imported for now (device type ", d.device.device_type, ")");
  VT_CHECK_VALUE(d.ndim >= 0 && d.ndim <= 64, "from_dlpack: bad ndim ", d.ndim);
  DType dt = from_dl(d.dtype);
  DimVec sizes(size_t(d.ndim)), strides;
  for (int i = 0; i < d.ndim; i++) {
    sizes[i] = d.shape[i];
    VT_CHECK_VALUE(sizes[i] >= 0, "from_dlpack: negative size");
  }
  if (d.strides) {
    strides = DimVec(size_t(d.ndim));
    for (int i = 0; i < d.ndim; i++) {
      strides[i] = d.strides[i];
      VT_CHECK_VALUE(strides[i] >= 0 || sizes[i] <= 1,
                     "from_dlpack: negative strides are not supported; make a copy of the array first (e.g. "
                     "array.copy())");
      if (strides[i] < 0) strides[i] = 0;
    }
  } else {
    strides = contiguous_strides(sizes);
  }
  int64_t extent = 0, n = 1;
  for (int i = 0; i < d.ndim; i++) {
    n *= sizes[i];
    extent += (sizes[i] - 1) * strides[i];
  }
  size_t nbytes = n == 0 ? 0 : size_t(extent + 1) * itemsize(dt);
  char* base = static_cast<char*>(d.data) + d.byte_offset;
  Storage st = Storage::make(DataPtr(base, m, &run_producer_deleter<M>, Device()), nbytes, !read_only);
  return Tensor(Ref<TensorImpl>::make(std::move(st), dt, std::move(sizes), std::move(strides), 0));
}

Tensor from_capsule(nb::handle cap) {
  PyObject* c = cap.ptr();
  if (PyCapsule_IsValid(c, "dltensor_versioned")) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(c, "dltensor_versioned"));
    VT_CHECK_VALUE(m->version.major == 1, "from_dlpack: unsupported DLPack version ", m->version.major);
    Tensor t = import_managed(m, m->flags & kReadOnly);
    PyCapsule_SetName(c, "used_dltensor_versioned");
    return t;
  }
  if (PyCapsule_IsValid(c, "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
    Tensor t = import_managed(m, false);
    PyCapsule_SetName(c, "used_dltensor");
    return t;
  }
  VT_THROW(TypeError, "from_dlpack: expected a DLPack capsule that has not been consumed yet");
}

}  // namespace

void bind_dlpack(nb::module_& m) {
  nb::class_<Tensor> cls = nb::borrow<nb::class_<Tensor>>(tensor_type());
  cls.def("__dlpack__", [](const Tensor& t, nb::handle stream, nb::handle max_version, nb::handle dl_device,
                           nb::handle copy) {
        (void)stream;
        VT_CHECK_VALUE(copy.is_none() || !nb::cast<bool>(copy), "__dlpack__: copy=True is not supported");
        (void)dl_device;
        bool versioned = !max_version.is_none() && nb::cast<int>(max_version[0]) >= 1;
        return to_dlpack(t, versioned);
      }, nb::kw_only(), nb::arg("stream") = nb::none(), nb::arg("max_version") = nb::none(),
      nb::arg("dl_device") = nb::none(), nb::arg("copy") = nb::none());
  cls.def("__dlpack_device__", [](const Tensor& t) {
    return nb::make_tuple(t.device().is_cpu() ? int(kDLCPU) : int(kDLCUDA), t.device().is_cpu() ? 0 : int(t.device().index));
  });
  m.def("_from_dlpack", [](nb::handle obj) {
    if (PyCapsule_CheckExact(obj.ptr())) return wrap(from_capsule(obj));
    VT_CHECK_TYPE(nb::hasattr(obj, "__dlpack__"), "from_dlpack: expected an object with __dlpack__ or a DLPack "
                  "capsule, got ", Py_TYPE(obj.ptr())->tp_name);
    nb::object cap;
    try {
      cap = obj.attr("__dlpack__")(nb::arg("max_version") = nb::make_tuple(1, 0));
    } catch (nb::python_error& e) {
      if (!e.matches(PyExc_TypeError)) throw;
      cap = obj.attr("__dlpack__")();  // a producer that predates versioned capsules
    }
    return wrap(from_capsule(cap));
  });
}

}  // namespace vt::py
