#include "cpu/index_advanced.h"

#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt {

namespace {

bool is_mask(const Tensor& t) { return t.dtype() == DType::Bool || t.dtype() == DType::UInt8; }

Tensor insert_unit_dim(const Tensor& t, int64_t d) {
  DimVec sizes = t.sizes(), strides = t.strides();
  sizes.insert(size_t(d), 1);
  strides.insert(size_t(d), 1);
  return make_view(t, std::move(sizes), std::move(strides), t.storage_offset());
}

// Column k of nonzero's (n, ndim) result: the positions of the mask along its k-th dim.
Tensor nonzero_column(const Tensor& nz, int64_t k) {
  return make_view(nz, DimVec{nz.sizes()[0]}, DimVec{nz.strides()[0]}, nz.storage_offset() + k * nz.strides()[1]);
}

DimVec broadcast_index_shapes(const std::vector<Tensor>& ts) {
  size_t nd = 0;
  for (const Tensor& t : ts) nd = std::max(nd, size_t(t.dim()));
  DimVec out(nd, 1);
  bool ok = true;
  for (const Tensor& t : ts)
    for (size_t d = 0; d < size_t(t.dim()); d++) {
      int64_t s = t.sizes()[d], &o = out[nd - size_t(t.dim()) + d];
      if (s != 1 && o != 1 && s != o) ok = false;
      else if (s != 1) o = s;
    }
  if (!ok) {
    std::string shapes;
    for (const Tensor& t : ts) shapes += (shapes.empty() ? "" : ", ") + shape_str(t.sizes());
    VT_THROW(IndexError, "shape mismatch: indexing tensors could not be broadcast together with shapes ", shapes);
  }
  return out;
}

}  // namespace

AdvancedIndex make_advanced_index(const Tensor& self, const TensorList& indices) {
  static TypedOp<Tensor(const Tensor&)> nonzero("nonzero");
  VT_CHECK_INDEX(!indices.empty(), "at least one index must be provided");
  int64_t specified = 0;  // dims of self the list names (a 0-d mask adds a dim and names it: net zero)
  for (const Tensor& t : indices) {
    if (t.defined())
      VT_CHECK_INDEX(is_mask(t) || t.dtype() == DType::Int64 || t.dtype() == DType::Int32,
                     "tensors used as indices must be long, int, byte or bool tensors, got ", dtype_name(t.dtype()));
    specified += !t.defined() ? 1 : is_mask(t) ? t.dim() : 1;
  }
  VT_CHECK_INDEX(specified <= self.dim(), "too many indices for tensor of dimension ", self.dim(), " (got ",
                 specified, ")");

  Tensor src = self;
  std::vector<Tensor> per_dim;  // one entry per dim of src; undefined = full slice
  std::vector<int64_t> orig_dim;  // the dim of self each entry names, for error messages
  int64_t self_dim = 0;
  for (const Tensor& t : indices) {
    if (!t.defined() || !is_mask(t)) {
      per_dim.push_back(t);
      orig_dim.push_back(self_dim++);
      continue;
    }
    Tensor mask = t;
    int64_t d0 = int64_t(per_dim.size());
    if (mask.dim() == 0) {  // x[True]: a new dim of size 1, selected (or not) by a 1-element mask
      src = insert_unit_dim(src, d0);
      mask = insert_unit_dim(mask, 0);
      self_dim--;
    }
    for (int64_t k = 0; k < mask.dim(); k++)
      VT_CHECK_INDEX(mask.sizes()[k] == src.sizes()[d0 + k], "The shape of the mask ", shape_str(mask.sizes()),
                     " at index ", k, " does not match the shape of the indexed tensor ", shape_str(src.sizes()),
                     " at index ", d0 + k);
    Tensor nz = nonzero(mask);
    for (int64_t k = 0; k < mask.dim(); k++) {
      per_dim.push_back(nonzero_column(nz, k));
      orig_dim.push_back(std::max<int64_t>(self_dim++, 0));
    }
  }
  per_dim.resize(size_t(src.dim()));

  AdvancedIndex a;
  std::vector<int64_t> pos;
  std::vector<Tensor> used;
  for (int64_t d = 0; d < src.dim(); d++)
    if (per_dim[d].defined()) {
      pos.push_back(d);
      used.push_back(per_dim[d]);
    }
  a.src = src;
  if (pos.empty()) return a;
  a.bshape = broadcast_index_shapes(used);
  bool adjacent = pos.back() - pos.front() + 1 == int64_t(pos.size());
  a.first = adjacent ? pos.front() : 0;
  if (!adjacent) {  // indexed dims first, the rest after them in order
    DimVec sizes, strides;
    for (int64_t d : pos) { sizes.push_back(src.sizes()[d]); strides.push_back(src.strides()[d]); }
    for (int64_t d = 0; d < src.dim(); d++)
      if (!per_dim[d].defined()) { sizes.push_back(src.sizes()[d]); strides.push_back(src.strides()[d]); }
    a.src = make_view(src, std::move(sizes), std::move(strides), src.storage_offset());
  }
  int64_t isz = int64_t(src.itemsize());
  for (int64_t d : pos)
    a.dims.push_back(IndexedDim{per_dim[d], src.sizes()[d], src.strides()[d] * isz, orig_dim[d]});
  return a;
}

Tensor values_for(const Tensor& self, const Tensor& values, IntArrayRef result) {
  Tensor v = values.is_wrapped_number() ? scalar_tensor(host_item(values), self.dtype()) : values;
  VT_CHECK_TYPE(v.dtype() == self.dtype(), "Index put requires the source and destination dtypes match, got ",
                dtype_name(self.dtype()), " for the destination and ", dtype_name(v.dtype()), " for the source.");
  v = unaliased(v, self);
  while (v.dim() > int64_t(result.size()) && v.sizes()[0] == 1) v = drop_dims(v, 0, 1);
  bool ok = v.dim() <= int64_t(result.size());
  for (int64_t d = 0; ok && d < v.dim(); d++) {
    int64_t s = v.sizes()[v.dim() - 1 - d];
    ok = s == 1 || s == result[result.size() - 1 - size_t(d)];
  }
  VT_CHECK_VALUE(ok, "shape mismatch: value tensor of shape ", shape_str(v.sizes()),
                 " cannot be broadcast to indexing result of shape ", shape_str(result));
  return broadcast_view(v, result);
}


}  // namespace vt
