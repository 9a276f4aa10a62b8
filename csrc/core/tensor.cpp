#include "core/tensor.h"

#include <mutex>
#include <sstream>

namespace vt {

// ---- dtype and device parsing ---------------------------------------------------------------------
bool parse_dtype(std::string_view n, DType& out) {
  static const std::pair<const char*, DType> names[] = {
      {"bool", DType::Bool},       {"uint8", DType::UInt8},     {"int8", DType::Int8},
      {"int16", DType::Int16},     {"short", DType::Int16},     {"int32", DType::Int32},
      {"int", DType::Int32},       {"int64", DType::Int64},     {"long", DType::Int64},
      {"float16", DType::Float16}, {"half", DType::Float16},    {"bfloat16", DType::BFloat16},
      {"float32", DType::Float32}, {"float", DType::Float32},   {"float64", DType::Float64},
      {"double", DType::Float64}};
  for (auto& [s, d] : names)
    if (n == s) { out = d; return true; }
  return false;
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::Bool) return b;
  if (b == DType::Bool) return a;
  bool fa = is_floating(a), fb = is_floating(b);
  if (fa && fb) {
    if ((a == DType::Float16 && b == DType::BFloat16) || (a == DType::BFloat16 && b == DType::Float16))
      return DType::Float32;
    return itemsize(a) >= itemsize(b) ? a : b;
  }
  if (fa) return a;
  if (fb) return b;
  // Both integral. uint8 with a signed type needs a signed type wide enough for 0..255.
  if (a == DType::UInt8 || b == DType::UInt8) {
    DType s = a == DType::UInt8 ? b : a;
    return s == DType::Int8 ? DType::Int16 : s;
  }
  return itemsize(a) >= itemsize(b) ? a : b;
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device(DeviceType::CPU, 0);
  if (s == "cuda") return Device(DeviceType::CUDA, -1);  // -1: the current device, resolved later
  if (s.rfind("cuda:", 0) == 0) {
    std::string idx = s.substr(5);
    VT_CHECK_VALUE(!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos && idx.size() < 5,
                   "invalid device string: '", s, "'");
    return Device(DeviceType::CUDA, int16_t(std::stoi(idx)));
  }
  if (s.rfind("cpu:", 0) == 0 && s.size() > 4 && s.find_first_not_of("0123456789", 4) == std::string::npos)
    return Device(DeviceType::CPU, 0);
  VT_THROW(ValueError, "invalid device string: '", s, "' (expected 'cpu', 'cuda' or 'cuda:N')");
}

// ---- storage ----------------------------------------------------------------------------------------
namespace {
std::mutex g_alloc_mu;
AllocatorGetter g_getters[kNumDeviceTypes] = {};
}  // namespace

void register_allocator(DeviceType type, AllocatorGetter getter) {
  std::lock_guard<std::mutex> g(g_alloc_mu);
  g_getters[int(type)] = getter;
}

Allocator& allocator_for(Device d) {
  if (d.is_cpu()) return cpu_allocator();
  AllocatorGetter g = g_getters[int(d.type)];
  VT_CHECK(g, "no allocator for device ", d.str(), ": the CUDA runtime is not available");
  Allocator* a = g(d.index);
  VT_CHECK(a, "no allocator for device ", d.str());
  return *a;
}

Storage new_storage(size_t nbytes, Device d) {
  return Storage::make(allocator_for(d).allocate(nbytes), nbytes);
}

// ---- TensorImpl -----------------------------------------------------------------------------------
TensorImpl::TensorImpl(Storage storage, DType dtype, DimVec sizes, DimVec strides, int64_t offset)
    : storage_(std::move(storage)), sizes_(std::move(sizes)), strides_(std::move(strides)), offset_(offset),
      dtype_(dtype) {
  refresh();
}

void TensorImpl::set_sizes_strides(DimVec sizes, DimVec strides, int64_t offset) {
  sizes_ = std::move(sizes);
  strides_ = std::move(strides);
  offset_ = offset;
  refresh();
}

void TensorImpl::refresh() {
  numel_ = 1;
  for (int64_t s : sizes_) numel_ *= s;
  // PyTorch's rule: size-1 dims may have any stride; an empty tensor is contiguous.
  contiguous_ = true;
  if (numel_ == 0) return;
  int64_t expected = 1;
  for (size_t i = sizes_.size(); i-- > 0;) {
    if (sizes_[i] == 1) continue;
    if (strides_[i] != expected) { contiguous_ = false; return; }
    expected *= sizes_[i];
  }
}

int64_t Tensor::size(int64_t d) const { return sizes()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }

// ---- construction ---------------------------------------------------------------------------------
DimVec contiguous_strides(IntArrayRef sizes) {
  DimVec st(sizes.size());
  int64_t s = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    st[i] = s;
    s *= std::max<int64_t>(sizes[i], 1);
  }
  return st;
}

int64_t numel_of(IntArrayRef sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) {
    VT_CHECK_VALUE(s >= 0, "negative dimension ", s, " in shape ", shape_str(sizes));
    VT_CHECK_VALUE(!__builtin_mul_overflow(n, s, &n), "shape ", shape_str(sizes), " has too many elements");
  }
  return n;
}

Tensor empty(IntArrayRef sizes, DType dtype, Device device) {
  int64_t n = numel_of(sizes);
  size_t nbytes;
  VT_CHECK_VALUE(!__builtin_mul_overflow(size_t(n), itemsize(dtype), &nbytes), "tensor of shape ",
                 shape_str(sizes), " is too large");
  return Tensor(Ref<TensorImpl>::make(new_storage(nbytes, device), dtype, DimVec(sizes),
                                      contiguous_strides(sizes), 0));
}

Tensor empty_strided(IntArrayRef sizes, IntArrayRef strides, DType dtype, Device device) {
  VT_CHECK_VALUE(sizes.size() == strides.size(), "empty_strided: sizes has ", sizes.size(),
                 " dims but strides has ", strides.size());
  int64_t n = numel_of(sizes), extent = n == 0 ? 0 : 1;
  for (size_t i = 0; i < sizes.size(); i++) {
    VT_CHECK_VALUE(strides[i] >= 0, "empty_strided: negative stride ", strides[i]);
    if (n) extent += (sizes[i] - 1) * strides[i];
  }
  return Tensor(Ref<TensorImpl>::make(new_storage(size_t(extent) * itemsize(dtype), device), dtype,
                                      DimVec(sizes), DimVec(strides), 0));
}

Tensor empty_like(const Tensor& t) { return empty(t.sizes(), t.dtype(), t.device()); }

Tensor scalar_tensor(Scalar s, DType dtype, Device device) {
  VT_CHECK(device.is_cpu(), "scalar_tensor on ", device.str(), " needs a device copy");
  Tensor t = empty({}, dtype, device);
  VT_DISPATCH_ALL(dtype, "scalar_tensor", [&] { *t.data_as<scalar_t>() = s.to<scalar_t>(); });
  return t;
}

Tensor wrap_number(Scalar s) {
  Tensor t = scalar_tensor(s, s.kind() == Scalar::Kind::Float ? DType::Float64 : s.promotion_dtype());
  t.impl()->set_wrapped_number(true);
  return t;
}

Tensor make_view(const Tensor& t, DimVec sizes, DimVec strides, int64_t offset) {
  return make_view(t, std::move(sizes), std::move(strides), offset, t.dtype());
}
Tensor make_view(const Tensor& t, DimVec sizes, DimVec strides, int64_t offset, DType dtype) {
  return Tensor(Ref<TensorImpl>::make(t.impl()->storage(), dtype, std::move(sizes), std::move(strides), offset));
}

// ---- helpers --------------------------------------------------------------------------------------
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);  // a 0-d tensor accepts dim 0 and -1, like PyTorch
  VT_CHECK_INDEX(dim >= -n && dim < n, op, ": dimension out of range (expected to be in range of [", -n,
                 ", ", n - 1, "], but got ", dim, ")");
  return dim < 0 ? dim + n : dim;
}

DimVec broadcast_shapes(IntArrayRef a, IntArrayRef b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  DimVec out(n);
  for (size_t i = 0; i < n; i++) {
    int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    VT_CHECK_VALUE(x == y || x == 1 || y == 1, op, ": the size of tensor a (", x,
                   ") must match the size of tensor b (", y, ") at non-singleton dimension ", i,
                   " (shapes ", shape_str(a), " and ", shape_str(b), ")");
    out[i] = x == 1 ? y : x;
  }
  return out;
}

Scalar item(const Tensor& t) {
  VT_CHECK_VALUE(t.numel() == 1, "a Tensor with ", t.numel(), " elements cannot be converted to Scalar");
  VT_CHECK(t.device().is_cpu(), "item() on ", t.device().str(), " needs a device copy first");
  return VT_DISPATCH_ALL(t.dtype(), "item", [&]() -> Scalar {
    scalar_t v = *t.data_as<scalar_t>();
    if constexpr (std::is_same_v<scalar_t, bool>) return Scalar(v);
    else if constexpr (std::is_integral_v<scalar_t>) return Scalar(int64_t(v));
    else return Scalar(double(opmath_t<scalar_t>(v)));
  });
}

std::string shape_str(IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); i++) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

}  // namespace vt
