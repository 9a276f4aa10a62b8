// index and index_put(_) on CPU: PyTorch's advanced indexing, the engine under x[idx] and x[idx] = v.
// The canonical form (cpu/index_advanced.h) reduces both to the row loop of index_utils.h.
#include "cpu/index_advanced.h"
#include "cpu/index_utils.h"
#include "dispatch/dispatcher.h"
#include "ops/iterator.h"
#include "ops/views.h"

namespace vt {
namespace {

Tensor index_k(const Tensor& self, const TensorList& indices) {
  AdvancedIndex a = make_advanced_index(self, indices);
  if (a.dims.empty()) return clone(a.src);
  RowOffsets off = index_offsets(a.dims, a.bshape, /*wrap_negative=*/true, "");
  return take_rows(a.src, a.first, int64_t(a.dims.size()), a.bshape, off, "index");
}

Tensor index_put_ik(const Tensor& self, const TensorList& indices, const Tensor& values, bool accumulate) {
  check_writable(self, "index_put_");
  AdvancedIndex a = make_advanced_index(self, indices);
  DimVec result = a.result_shape();
  Tensor v = values_for(self, values, result);
  int64_t k = int64_t(a.dims.size()), nbd = int64_t(a.bshape.size());
  // Every index is checked (offsets computed) before the first write.
  RowOffsets dst_off = a.dims.empty() ? RowOffsets::evenly(1, 0)
                                       : index_offsets(a.dims, a.bshape, /*wrap_negative=*/true, "");
  RowOffsets src_off =
      a.dims.empty() ? RowOffsets::evenly(1, 0)
                     : strided_offsets(a.bshape, IntArrayRef(v.strides()).subspan(size_t(a.first), size_t(nbd)),
                                       v.itemsize());
  move_rows(drop_dims(a.src, a.first, k), drop_dims(v, a.first, nbd), dst_off, src_off,
            accumulate ? RowOp::Add : RowOp::Copy, Scalar(int64_t(1)), "index_put_");
  return self;
}

Tensor index_put_k(const Tensor& self, const TensorList& indices, const Tensor& values, bool accumulate) {
  Tensor out = clone(self);
  index_put_ik(out, indices, values, accumulate);
  return out;
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("index", &index_k);
  m.impl("index_put", &index_put_k);
  m.impl("index_put_", &index_put_ik);
}

}  // namespace
}  // namespace vt
