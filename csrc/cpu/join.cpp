// cat (CPU) and stack (Composite: unsqueeze each input, then cat), with PyTorch's rules: type promotion
// across the inputs, the legacy skipping of 1-D empty tensors, and matching sizes outside the cat dim.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "dispatch/dispatcher.h"
#include "ops/iterator.h"
#include "ops/views.h"

namespace vt {
namespace {

// PyTorch still accepts shape-(0,) tensors next to tensors of any rank and ignores them.
bool legacy_skipped(const Tensor& t) { return t.dim() == 1 && t.sizes()[0] == 0; }

// All inputs contiguous with the output's dtype: each output row (the dims before `dim`) is the inputs'
// slabs back to back. The output's bytes are split evenly over threads, whatever the slab sizes.
void cat_contiguous(const Tensor& out, const std::vector<Tensor>& parts, int64_t dim) {
  const size_t isz = out.itemsize();
  int64_t outer = 1;
  for (int64_t d = 0; d < dim; d++) outer *= out.sizes()[d];
  std::vector<int64_t> slab(parts.size()), prefix(parts.size() + 1, 0);  // bytes per output row
  for (size_t i = 0; i < parts.size(); i++) {
    slab[i] = parts[i].numel() / outer * int64_t(isz);
    prefix[i + 1] = prefix[i] + slab[i];
  }
  const int64_t row = prefix.back(), total = row * outer;
  char* dst = static_cast<char*>(out.data());
  parallel_for(0, total, kParallelGrain * 8, [&](int64_t begin, int64_t end) {
    int64_t pos = begin;
    while (pos < end) {
      const int64_t o = pos / row, in_row = pos % row;
      const size_t i = size_t(std::upper_bound(prefix.begin(), prefix.end(), in_row) - prefix.begin() - 1);
      const int64_t off = in_row - prefix[i], len = std::min(slab[i] - off, end - pos);
      std::memcpy(dst + pos, static_cast<const char*>(parts[i].data()) + o * slab[i] + off, size_t(len));
      pos += len;
    }
  });
}

Tensor cat_k(const TensorList& tensors, int64_t dim) {
  VT_CHECK_VALUE(!tensors.empty(), "torch.cat(): expected a non-empty list of Tensors");
  ResultTypeState types;
  const Tensor* ref = nullptr;
  for (size_t i = 0; i < tensors.size(); i++) {
    const Tensor& t = tensors[i];
    VT_CHECK_VALUE(t.dim() > 0, "zero-dimensional tensor (at position ", i, ") cannot be concatenated");
    VT_CHECK_VALUE(t.device() == tensors[0].device(), "torch.cat(): all input tensors must be on the same device. "
                   "Received ", tensors[0].device().str(), " and ", t.device().str());
    types.update(t);
    if (!ref && !legacy_skipped(t)) ref = &t;
  }
  const DType dtype = types.result();
  if (!ref) return empty(DimVec{0}, dtype, tensors[0].device());
  const int64_t nd = ref->dim();
  dim = wrap_dim(dim, nd, "cat");
  DimVec shape = ref->sizes();
  shape[dim] = 0;
  std::vector<Tensor> parts;
  bool contiguous = true;
  for (size_t i = 0; i < tensors.size(); i++) {
    const Tensor& t = tensors[i];
    if (legacy_skipped(t)) continue;
    VT_CHECK_VALUE(t.dim() == nd, "Tensors must have same number of dimensions: got ", nd, " and ", t.dim());
    for (int64_t d = 0; d < nd; d++)
      VT_CHECK_VALUE(d == dim || t.sizes()[d] == ref->sizes()[d], "Sizes of tensors must match except in dimension ",
                     dim, ". Expected size ", ref->sizes()[d], " but got size ", t.sizes()[d], " for tensor number ",
                     i, " in the list.");
    shape[dim] += t.sizes()[dim];
    if (t.numel() == 0) continue;
    contiguous &= t.is_contiguous() && t.dtype() == dtype;
    parts.push_back(t);
  }
  Tensor out = empty(shape, dtype, ref->device());
  if (out.numel() == 0) return out;
  if (contiguous && out.device().is_cpu()) {
    cat_contiguous(out, parts, dim);
    return out;
  }
  // Mixed dtypes or strided inputs (and CUDA): copy_ casts and walks any strides (threads large CPU copies;
  // on CUDA one copy kernel per input, each writing its slab of the output).
  int64_t offset = 0;
  for (const Tensor& t : parts) {
    copy_(narrow(out, dim, offset, t.sizes()[dim]), t);
    offset += t.sizes()[dim];
  }
  return out;
}

Tensor stack_k(const TensorList& tensors, int64_t dim) {
  VT_CHECK_VALUE(!tensors.empty(), "stack expects a non-empty TensorList");
  const DimVec& first = tensors[0].sizes();
  for (size_t i = 1; i < tensors.size(); i++)
    VT_CHECK_VALUE(tensors[i].sizes() == first, "stack expects each tensor to be equal size, but got ",
                   shape_str(first), " at entry 0 and ", shape_str(tensors[i].sizes()), " at entry ", i);
  dim = wrap_dim(dim, int64_t(first.size()) + 1, "stack");
  TensorList parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(unsqueeze(t, dim));
  static TypedOp<Tensor(const TensorList&, int64_t)> cat_op("cat");
  return cat_op(parts, dim);
}

VT_REGISTER_KERNELS_ALL(m) { m.impl("cat", &cat_k); }
VT_REGISTER_KERNELS(Composite, m) { m.impl("stack", &stack_k); }

}  // namespace
}  // namespace vt
