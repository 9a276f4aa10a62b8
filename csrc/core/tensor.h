// TensorImpl is a strided view on a Storage; Tensor is the one-pointer handle everything passes around.
#pragma once
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/scalar.h"
#include "core/small_vec.h"
#include "core/storage.h"

namespace vt {

// Autograd state is owned by the autograd layer (Python, for now); the core only needs to know whether a
// tensor takes part, so dispatch can skip autograd for everything else.
struct AutogradMeta {
  virtual ~AutogradMeta() = default;
  bool requires_grad = false;
};

class TensorImpl : public RefCounted<TensorImpl> {
 public:
  TensorImpl(Storage storage, DType dtype, DimVec sizes, DimVec strides, int64_t offset);

  const DimVec& sizes() const { return sizes_; }
  const DimVec& strides() const { return strides_; }
  int64_t dim() const { return int64_t(sizes_.size()); }
  int64_t numel() const { return numel_; }
  int64_t storage_offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_->device(); }
  const Storage& storage() const { return storage_; }
  bool is_contiguous() const { return contiguous_; }
  void* data() const { return static_cast<char*>(storage_->data()) + offset_ * int64_t(itemsize(dtype_)); }

  // Versions: bumped by every in-place write; shared by all tensors on the storage.
  uint32_t version() const { return storage_->version().load(std::memory_order_relaxed); }
  void bump_version() { storage_->version().fetch_add(1, std::memory_order_relaxed); }

  AutogradMeta* autograd() const { return autograd_.get(); }
  void set_autograd(std::unique_ptr<AutogradMeta> m) { autograd_ = std::move(m); }
  bool requires_grad() const { return autograd_ && autograd_->requires_grad; }

  // A Python number turned into a 0-d tensor: it takes part in type promotion as a "wrapped number".
  bool is_wrapped_number() const { return wrapped_number_; }
  void set_wrapped_number(bool v) { wrapped_number_ = v; }

  // In-place metadata changes (as_strided_, resize_, squeeze_ ...).
  void set_sizes_strides(DimVec sizes, DimVec strides, int64_t offset);
  void set_storage(Storage s) { storage_ = std::move(s); }

 private:
  void refresh();
  Storage storage_;
  DimVec sizes_, strides_;
  int64_t offset_, numel_ = 1;
  DType dtype_;
  bool contiguous_ = true;
  bool wrapped_number_ = false;
  std::unique_ptr<AutogradMeta> autograd_;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Ref<TensorImpl> impl) : impl_(std::move(impl)) {}
  bool defined() const { return bool(impl_); }
  TensorImpl* impl() const { return impl_.get(); }
  const Ref<TensorImpl>& impl_ref() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  const DimVec& sizes() const { return impl_->sizes(); }
  const DimVec& strides() const { return impl_->strides(); }
  int64_t size(int64_t d) const;    // negative dims wrap
  int64_t stride(int64_t d) const;
  int64_t dim() const { return impl_->dim(); }
  int64_t numel() const { return impl_->numel(); }
  DType dtype() const { return impl_->dtype(); }
  Device device() const { return impl_->device(); }
  bool is_contiguous() const { return impl_->is_contiguous(); }
  int64_t storage_offset() const { return impl_->storage_offset(); }
  size_t itemsize() const { return vt::itemsize(dtype()); }
  void* data() const { return impl_->data(); }
  template <class T> T* data_as() const { return static_cast<T*>(impl_->data()); }
  bool requires_grad() const { return impl_->requires_grad(); }
  bool is_wrapped_number() const { return impl_->is_wrapped_number(); }

 private:
  Ref<TensorImpl> impl_;
};

// ---- construction ---------------------------------------------------------------------------------
DimVec contiguous_strides(IntArrayRef sizes);
int64_t numel_of(IntArrayRef sizes);  // checks for negative sizes and overflow
Tensor empty(IntArrayRef sizes, DType dtype, Device device = Device());
Tensor empty_strided(IntArrayRef sizes, IntArrayRef strides, DType dtype, Device device = Device());
Tensor empty_like(const Tensor& t);  // same shape, dtype, device; contiguous
Tensor scalar_tensor(Scalar s, DType dtype, Device device = Device());
Tensor wrap_number(Scalar s);  // 0-d CPU tensor flagged as a wrapped Python number
// A view sharing t's storage (and version counter) with new geometry; the autograd meta is not shared.
Tensor make_view(const Tensor& t, DimVec sizes, DimVec strides, int64_t offset);
Tensor make_view(const Tensor& t, DimVec sizes, DimVec strides, int64_t offset, DType dtype);

// ---- small helpers kernels share -----------------------------------------------------------------
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);  // PyTorch's dim wrapping with an IndexError
DimVec broadcast_shapes(IntArrayRef a, IntArrayRef b, const char* op);
Scalar item(const Tensor& t);  // the value of a one-element tensor
std::string shape_str(IntArrayRef s);

}  // namespace vt
