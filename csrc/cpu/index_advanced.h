// Advanced indexing's canonical form (index, index_put(_): x[idx] and x[idx] = v), shared by the CPU and
// CUDA kernels. The index list names one entry per leading dim of self: None (a full slice), an int32/int64
// tensor, or a bool/uint8 mask covering as many dims as it has (turned into long indices through nonzero,
// called through the dispatcher, so a CUDA mask stays on the GPU). The index tensors broadcast together to a
// shape B. When the indexed dims are adjacent, B replaces them in place; otherwise B goes first, followed by
// the remaining dims in order.
#pragma once
#include <vector>

#include "cpu/index_utils.h"
#include "dispatch/ivalue.h"

namespace vt {

// An advanced index in canonical form: `src` views self with the indexed dims adjacent at `first` (moved to
// the front when they were not adjacent), one IndexedDim per indexed dim, B = bshape.
struct AdvancedIndex {
  Tensor src;
  int64_t first = 0;
  std::vector<IndexedDim> dims;
  DimVec bshape;

  DimVec result_shape() const {
    DimVec s;
    for (int64_t d = 0; d < first; d++) s.push_back(src.sizes()[d]);
    for (int64_t b : bshape) s.push_back(b);
    for (int64_t d = first + int64_t(dims.size()); d < src.dim(); d++) s.push_back(src.sizes()[d]);
    return s;
  }
};

AdvancedIndex make_advanced_index(const Tensor& self, const TensorList& indices);
// The value written by index_put_: self's dtype (PyTorch refuses a mismatch, except for Python numbers),
// broadcast to the indexing result (leading size-1 dims dropped, as x[idx] = v allows), not aliasing self.
Tensor values_for(const Tensor& self, const Tensor& values, IntArrayRef result);

}  // namespace vt
