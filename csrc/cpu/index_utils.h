// What the indexing kernels share (index, index_put, index_select, index_add, embedding, gather/scatter):
// the index dtype switch, a row-major strided walk, index bounds checks that run before any write, and the
// one loop that moves whole "rows" between two views at per-index byte offsets.
//
// The row model (PyTorch's AdvancedIndex, reshaped): an indexing op touches `dst` and `src`, two views of
// the same shape R (the dims that are not indexed), once per position b of the index shape B:
//     dst[r + dst_off[b]]  (=, +=)  src[r + src_off[b]]        (offsets in bytes)
// For a read (x[idx], index_select, embedding) src_off comes from the index values and dst_off from the
// fresh output's strides; for a write (index_put_, index_add_) the other way round.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"

namespace vt {

// Calls f(index_t{}) for an int32 or int64 index tensor (callers check the dtype first).
template <class F> decltype(auto) dispatch_index_type(DType dt, F&& f) {
  if (dt == DType::Int32) return f(int32_t{});
  return f(int64_t{});
}

// Calls f(T{}) with an unsigned type of the given size: copies do not need to know the dtype.
template <class F> void dispatch_itemsize(size_t size, F&& f) {
  switch (size) {
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    default: f(uint64_t{}); break;
  }
}

// Calls f(i, offset) for every position of `shape` in row-major order: i counts positions, offset is
// Σ coord_d * strides[d] (in whatever unit the strides are).
template <class F> void for_each_strided(IntArrayRef shape, IntArrayRef strides, F&& f) {
  int64_t nd = int64_t(shape.size());
  for (int64_t s : shape)
    if (s == 0) return;
  if (nd == 0) { f(int64_t(0), int64_t(0)); return; }
  DimVec ctr(size_t(nd), 0);
  int64_t inner = shape[nd - 1], ist = strides[nd - 1], off = 0, i = 0;
  for (;;) {
    for (int64_t k = 0; k < inner; k++) f(i++, off + k * ist);
    int64_t d = nd - 2;
    for (; d >= 0; d--) {
      off += strides[d];
      if (++ctr[d] < shape[d]) break;
      off -= ctr[d] * strides[d];
      ctr[d] = 0;
    }
    if (d < 0) return;
  }
}

// `t` itself, or a 0-d `t` viewed as a 1-element vector (PyTorch's gather/scatter/index_select treat it so).
Tensor at_least_1d(const Tensor& t);
// `t` broadcast to `shape` (a view: stride 0 along new or size-1 dims). The caller checked compatibility.
Tensor broadcast_view(const Tensor& t, IntArrayRef shape);
// `t` without dims [start, start + count) (a view; used to name the non-indexed dims R).
Tensor drop_dims(const Tensor& t, int64_t start, int64_t count);
// Offsets per index position b (row-major over the index shape): a table, or b * step when they are evenly
// spaced, as the side of a row move that is not indexed usually is; that case costs no memory.
class RowOffsets {
 public:
  static RowOffsets evenly(int64_t n, int64_t step) {
    RowOffsets r;
    r.n_ = n;
    r.step_ = step;
    return r;
  }
  static RowOffsets table(int64_t n) {
    RowOffsets r;
    r.n_ = n;
    r.table_.reset(new int64_t[size_t(std::max<int64_t>(n, 1))]);
    return r;
  }
  int64_t size() const { return n_; }
  int64_t operator[](int64_t b) const { return table_ ? table_[b] : b * step_; }
  int64_t* data() { return table_.get(); }

 private:
  std::unique_ptr<int64_t[]> table_;
  int64_t n_ = 0, step_ = 0;
};

// Offsets (strides times `itemsize`), row-major over `shape`, of a view with these strides.
RowOffsets strided_offsets(IntArrayRef shape, IntArrayRef strides, size_t itemsize);

// One indexed dim: its index tensor (int32/int64, broadcastable to the index shape B), the size it indexes
// (for bounds checks), the byte stride it moves along, and the dim number error messages name.
struct IndexedDim {
  Tensor index;
  int64_t size;
  int64_t stride_bytes;
  int64_t dim;
};
// Byte offsets over B (row-major): Σ_j index_j[b] * stride_bytes_j. Every index is bounds-checked here,
// before anything is written: in [-size, size) with negatives wrapped (advanced indexing), or [0, size).
// The error reads like PyTorch's: "index 5 is out of bounds for dimension 0 with size 3".
RowOffsets index_offsets(const std::vector<IndexedDim>& dims, IntArrayRef bshape, bool wrap_negative,
                                   const char* op);
// The IndexError both of these raise; `prefix` names the op ("" for advanced indexing, as in PyTorch).
[[noreturn]] void throw_index_out_of_bounds(int64_t v, int64_t dim, int64_t size, const char* prefix);
// Raises the same IndexError for the first value of an int64 index outside [0, size) (for scatter_, which
// checks everything before its first write). Large indices are scanned in parallel.
void check_index_range(const Tensor& index, int64_t size, int64_t dim, const char* op);

enum class RowOp { Copy, Add };
// The row loop described at the top. dst and src have the same shape and dtype; dst_off and src_off the
// same length. Add computes dst + alpha * src in opmath. Copy without accumulation may split over the
// index positions; Add splits only over R, so duplicate indices never race.
void move_rows(const Tensor& dst, const Tensor& src, const RowOffsets& dst_off, const RowOffsets& src_off, RowOp op, Scalar alpha, const char* name);

// Allocates before + B + after (src's dims around the `k` indexed dims at `first` replaced by bshape) and
// fills it from src at the given byte offsets. The read half of index, index_select and embedding.
Tensor take_rows(const Tensor& src, int64_t first, int64_t k, IntArrayRef bshape, const RowOffsets& src_off,
                 const char* name);

// The tensor to read from while writing into `dst`: `src` itself, or a copy when they share memory.
Tensor unaliased(const Tensor& src, const Tensor& dst);

}  // namespace vt
