#include "cpu/index_utils.h"

#include <algorithm>
#include <cstring>

#include "ops/iterator.h"
#include "ops/views.h"

namespace vt {

namespace {

DimVec broadcast_strides(const Tensor& t, IntArrayRef shape) {
  DimVec st(shape.size(), 0);
  size_t off = shape.size() - size_t(t.dim());
  for (size_t d = 0; d < size_t(t.dim()); d++) st[off + d] = t.sizes()[d] == 1 ? 0 : t.strides()[d];
  return st;
}

// True when a view with these strides walks `shape` row-major with one element stride `unit` (0 when
// broadcast; size-1 dims don't matter), so that position b sits at b * unit.
bool evenly_spaced(IntArrayRef shape, IntArrayRef strides, int64_t& unit) {
  int64_t expect = 1;
  bool have_unit = false;
  unit = 0;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 1) continue;
    if (!have_unit) { unit = strides[d]; have_unit = true; }
    if (strides[d] != unit * expect) return false;
    expect *= shape[d];
  }
  return true;
}

}  // namespace

void throw_index_out_of_bounds(int64_t v, int64_t dim, int64_t size, const char* prefix) {
  VT_THROW(IndexError, prefix, "index ", v, " is out of bounds for dimension ", dim, " with size ", size);
}

Tensor at_least_1d(const Tensor& t) {
  return t.dim() > 0 ? t : make_view(t, DimVec{1}, DimVec{1}, t.storage_offset());
}

Tensor broadcast_view(const Tensor& t, IntArrayRef shape) {
  if (t.sizes() == DimVec(shape)) return t;
  return make_view(t, DimVec(shape), broadcast_strides(t, shape), t.storage_offset());
}

Tensor drop_dims(const Tensor& t, int64_t start, int64_t count) {
  DimVec sizes = t.sizes(), strides = t.strides();
  for (int64_t i = 0; i < count; i++) {
    sizes.erase(size_t(start));
    strides.erase(size_t(start));
  }
  return make_view(t, std::move(sizes), std::move(strides), t.storage_offset());
}

RowOffsets strided_offsets(IntArrayRef shape, IntArrayRef strides, size_t itemsize) {
  int64_t n = numel_of(shape), isz = int64_t(itemsize), unit;
  if (evenly_spaced(shape, strides, unit)) return RowOffsets::evenly(n, unit * isz);
  RowOffsets off = RowOffsets::table(n);
  int64_t* o = off.data();
  for_each_strided(shape, strides, [&](int64_t i, int64_t at) { o[i] = at * isz; });
  return off;
}

RowOffsets index_offsets(const std::vector<IndexedDim>& dims, IntArrayRef bshape, bool wrap_negative, const char* op) {
  int64_t nb = numel_of(bshape);
  RowOffsets off = RowOffsets::table(nb);
  if (nb == 0) return off;
  for (size_t j = 0; j < dims.size(); j++) {
    const IndexedDim& d = dims[j];
    VT_CHECK_VALUE(d.index.device().is_cpu(), op, "expected indices on the CPU for a CPU tensor, got ",
                   d.index.device().str());
    const bool first = j == 0;  // the first index dim stores, the others add
    DimVec st = broadcast_strides(d.index, bshape);
    dispatch_index_type(d.index.dtype(), [&](auto tag) {
      using index_t = decltype(tag);
      const index_t* p = d.index.data_as<index_t>();
      const int64_t size = d.size, step = d.stride_bytes;
      int64_t* o = off.data();
      auto one = [&](int64_t b, int64_t at) {
        int64_t v = int64_t(p[at]), w = (wrap_negative && v < 0) ? v + size : v;
        if (__builtin_expect(w < 0 || w >= size, 0)) throw_index_out_of_bounds(v, d.dim, size, op);
        o[b] = first ? w * step : o[b] + w * step;
      };
      int64_t unit;
      if (evenly_spaced(bshape, st, unit) && (unit == 1 || nb == 1))  // the usual case: a contiguous index
        parallel_for(0, nb, kParallelGrain, [&](int64_t b0, int64_t b1) { for (int64_t b = b0; b < b1; b++) one(b, b); });
      else
        for_each_strided(bshape, st, one);
    });
  }
  return off;
}

void check_index_range(const Tensor& index, int64_t size, int64_t dim, const char* op) {
  if (index.numel() == 0) return;
  TensorIterator it = TensorIteratorConfig(op).add_input(index).promote_inputs(false).build();
  it.for_each([&](char** p, const int64_t* st, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
      int64_t v = *reinterpret_cast<const int64_t*>(p[0] + i * st[0]);
      if (__builtin_expect(uint64_t(v) >= uint64_t(size), 0)) throw_index_out_of_bounds(v, dim, size, op);
    }
  });
}

void move_rows(const Tensor& dst, const Tensor& src, const RowOffsets& doff, const RowOffsets& soff, RowOp op,
               Scalar alpha, const char* name) {
  const int64_t nb = doff.size();
  if (nb == 0 || dst.numel() == 0) return;
  TensorIterator it = TensorIteratorConfig(name).add_input(dst).add_input(src).promote_inputs(false).build();
  const int64_t rows = it.numel();
  const int64_t isz = int64_t(dst.itemsize());
  // elem(d, s) moves one element; span(d, s, n) moves n elements contiguous in both views.
  auto run = [&](auto elem, auto span) {
    auto part = [&](int64_t b0, int64_t b1, int64_t r0, int64_t r1) {
      it.serial_for_each([&](char** p, const int64_t* st, int64_t n) {
        if (n > 1 && st[0] != isz) {
          // R is strided in dst (x[:, idx], index_select along the last dim): the index positions are
          // the dense direction there, so walk them innermost.
          for (int64_t i = 0; i < n; i++) {
            char* d = p[0] + i * st[0];
            const char* s = p[1] + i * st[1];
            for (int64_t b = b0; b < b1; b++) elem(d + doff[b], s + soff[b]);
          }
          return;
        }
        for (int64_t b = b0; b < b1; b++) {
          char* d = p[0] + doff[b];
          const char* s = p[1] + soff[b];
          if (st[1] == isz || n == 1) span(d, s, n);
          else for (int64_t i = 0; i < n; i++) elem(d + i * st[0], s + i * st[1]);
        }
      }, r0, r1);
    };
    if (op == RowOp::Add || rows >= nb)
      parallel_for(0, rows, std::max<int64_t>(1, kParallelGrain / nb), [&](int64_t r0, int64_t r1) { part(0, nb, r0, r1); });
    else
      parallel_for(0, nb, std::max<int64_t>(1, kParallelGrain / rows), [&](int64_t b0, int64_t b1) { part(b0, b1, 0, rows); });
  };
  if (op == RowOp::Copy) {
    dispatch_itemsize(dst.itemsize(), [&](auto tag) {
      using T = decltype(tag);
      run([](char* d, const char* s) { *reinterpret_cast<T*>(d) = *reinterpret_cast<const T*>(s); },
          [](char* d, const char* s, int64_t n) {
            if (n == 1) *reinterpret_cast<T*>(d) = *reinterpret_cast<const T*>(s);
            else std::memcpy(d, s, size_t(n) * sizeof(T));
          });
    });
    return;
  }
  VT_DISPATCH_ALL(dst.dtype(), name, [&] {
    using M = opmath_t<scalar_t>;
    const M a = alpha.to<M>();
    auto add = [a](scalar_t& x, scalar_t y) { x = static_cast<scalar_t>(M(x) + a * M(y)); };
    run([add](char* d, const char* s) { add(*reinterpret_cast<scalar_t*>(d), *reinterpret_cast<const scalar_t*>(s)); },
        [add](char* d, const char* s, int64_t n) {
          scalar_t* x = reinterpret_cast<scalar_t*>(d);
          const scalar_t* y = reinterpret_cast<const scalar_t*>(s);
          for (int64_t i = 0; i < n; i++) add(x[i], y[i]);
        });
  });
}

Tensor take_rows(const Tensor& src, int64_t first, int64_t k, IntArrayRef bshape, const RowOffsets& src_off,
                 const char* name) {
  DimVec shape;
  for (int64_t d = 0; d < first; d++) shape.push_back(src.sizes()[d]);
  for (int64_t s : bshape) shape.push_back(s);
  for (int64_t d = first + k; d < src.dim(); d++) shape.push_back(src.sizes()[d]);
  Tensor out = empty(shape, src.dtype(), src.device());
  if (out.numel() == 0) return out;
  int64_t nbd = int64_t(bshape.size());
  RowOffsets dst_off = strided_offsets(bshape, IntArrayRef(out.strides()).subspan(size_t(first), size_t(nbd)), out.itemsize());
  move_rows(drop_dims(out, first, nbd), drop_dims(src, first, k), dst_off, src_off, RowOp::Copy, Scalar(), name);
  return out;
}

Tensor unaliased(const Tensor& src, const Tensor& dst) {
  if (src.impl()->storage().get() != dst.impl()->storage().get()) return src;
  return clone(src);
}

}  // namespace vt
