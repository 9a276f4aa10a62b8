// index_select, index_add(_), embedding, masked_select, nonzero and one_hot on CPU.
//
// The first three index one dim with a vector (embedding: dim 0 with any shape) and share the row loop of
// index_utils.h. masked_select and nonzero keep positions in row-major order, so they walk contiguous data
// with an ordered parallel compaction (count per chunk, prefix sum, then write).
#include <algorithm>
#include <cstring>

#include "cpu/index_checks.h"
#include "cpu/index_utils.h"
#include "dispatch/dispatcher.h"
#include "ops/iterator.h"
#include "ops/views.h"

namespace vt {
namespace {

Tensor index_select_k(const Tensor& self, int64_t dim, const Tensor& index) {
  DimIndexArgs a = prepare_index_select(self, dim, index);
  const Tensor& src = a.self;
  RowOffsets off = index_offsets({IndexedDim{index, src.sizes()[a.dim], src.strides()[a.dim] * int64_t(src.itemsize()), a.dim}},
                                 DimVec{a.n}, /*wrap_negative=*/false, "index_select(): ");
  Tensor out = take_rows(src, a.dim, 1, DimVec{a.n}, off, "index_select");
  return self.dim() == 0 && a.n == 1 ? make_view(out, DimVec{}, DimVec{}, out.storage_offset()) : out;
}

Tensor embedding_k(const Tensor& weight, const Tensor& indices, int64_t /*padding_idx: only the backward uses it*/) {
  check_embedding(weight, indices);
  RowOffsets off = index_offsets(
      {IndexedDim{indices, weight.sizes()[0], weight.strides()[0] * int64_t(weight.itemsize()), 0}}, indices.sizes(),
      /*wrap_negative=*/false, "embedding: ");
  return take_rows(weight, 0, 1, indices.sizes(), off, "embedding");
}

// ---- index_add -------------------------------------------------------------------------------------
Tensor index_add_ik(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, Scalar alpha) {
  DimIndexArgs a = prepare_index_add(self, dim, index, source);
  const Tensor &dst = a.self, &src = a.src;
  size_t isz = dst.itemsize();
  RowOffsets dst_off = index_offsets({IndexedDim{index, dst.sizes()[a.dim], dst.strides()[a.dim] * int64_t(isz), a.dim}},
                                     DimVec{a.n}, /*wrap_negative=*/false, "index_add_(): ");
  RowOffsets src_off = strided_offsets(DimVec{a.n}, DimVec{src.strides()[a.dim]}, isz);
  move_rows(drop_dims(dst, a.dim, 1), drop_dims(src, a.dim, 1), dst_off, src_off, RowOp::Add, alpha, "index_add_");
  return self;
}

Tensor index_add_k(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, Scalar alpha) {
  Tensor out = clone(self);
  index_add_ik(out, dim, index, source, alpha);
  return out;
}

// ---- ordered compaction: masked_select and nonzero ---------------------------------------------------
// Positions i in [0, n) where keep(i), in increasing order: alloc(total) is called once with their count,
// then emit(rank, i) for each (in parallel over chunks, each chunk knowing where its ranks start).
template <class Keep, class Alloc, class Emit>
void ordered_compact(int64_t n, const Keep& keep, const Alloc& alloc, const Emit& emit) {
  int64_t nchunks = std::clamp<int64_t>(n / kParallelGrain, 1, 64);
  int64_t step = (n + nchunks - 1) / std::max<int64_t>(nchunks, 1);
  std::vector<int64_t> start(size_t(nchunks) + 1, 0);
  parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
      int64_t cnt = 0;
      for (int64_t i = c * step, e = std::min(n, i + step); i < e; i++) cnt += keep(i) ? 1 : 0;
      start[size_t(c) + 1] = cnt;
    }
  });
  for (size_t c = 1; c < start.size(); c++) start[c] += start[c - 1];
  alloc(start.back());
  parallel_for(0, nchunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
      int64_t r = start[size_t(c)];
      for (int64_t i = c * step, e = std::min(n, i + step); i < e; i++)
        if (keep(i)) emit(r++, i);
    }
  });
}

Tensor masked_select_k(const Tensor& self, const Tensor& mask) {
  DimVec shape = masked_select_shape(self, mask);
  Tensor m = contiguous(broadcast_view(mask, shape)), s = contiguous(broadcast_view(self, shape));
  const bool* mp = m.data_as<bool>();
  const char* sp = static_cast<const char*>(s.data());
  Tensor out;
  dispatch_itemsize(self.itemsize(), [&](auto tag) {
    using T = decltype(tag);
    T* op = nullptr;
    ordered_compact(
        s.numel(), [&](int64_t i) { return mp[i]; },
        [&](int64_t total) { out = empty(DimVec{total}, self.dtype(), self.device()); op = out.data_as<T>(); },
        [&](int64_t r, int64_t i) { op[r] = reinterpret_cast<const T*>(sp)[i]; });
  });
  return out;
}

Tensor nonzero_k(const Tensor& self) {
  Tensor s = contiguous(self);
  int64_t nd = s.dim();
  DimVec sizes = s.sizes();
  Tensor out;
  VT_DISPATCH_ALL(s.dtype(), "nonzero", [&] {
    const scalar_t* p = s.data_as<scalar_t>();
    int64_t* o = nullptr;
    ordered_compact(
        s.numel(), [&](int64_t i) { return opmath_t<scalar_t>(p[i]) != opmath_t<scalar_t>(0); },
        [&](int64_t total) { out = empty(DimVec{total, nd}, DType::Int64, s.device()); o = out.data_as<int64_t>(); },
        [&](int64_t r, int64_t i) {
          for (int64_t d = nd - 1; d >= 0; d--) {  // the row-major coordinates of flat position i
            o[r * nd + d] = i % sizes[d];
            i /= sizes[d];
          }
        });
  });
  return out;
}

// ---- one_hot ---------------------------------------------------------------------------------------
Tensor one_hot_k(const Tensor& self, int64_t num_classes) {
  check_one_hot(self, num_classes);
  Tensor s = contiguous(self);
  const int64_t* p = s.data_as<int64_t>();
  int64_t n = s.numel();
  int64_t lo = 0, hi = -1;
  if (n > 0) {
    auto [mn, mx] = std::minmax_element(p, p + n);
    lo = *mn;
    hi = *mx;
  }
  VT_CHECK_VALUE(lo >= 0, "Class values must be non-negative.");
  int64_t c = num_classes == -1 ? hi + 1 : num_classes;
  VT_CHECK_VALUE(hi < c, "Class values must be smaller than num_classes.");
  DimVec shape = self.sizes();
  shape.push_back(c);
  Tensor out = empty(shape, DType::Int64, self.device());
  int64_t* o = out.data_as<int64_t>();
  parallel_for(0, n, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(c, 1)), [&](int64_t b, int64_t e) {
    std::memset(o + b * c, 0, size_t((e - b) * c) * sizeof(int64_t));
    for (int64_t i = b; i < e; i++) o[i * c + p[i]] = 1;
  });
  return out;
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("index_select", &index_select_k);
  m.impl("embedding", &embedding_k);
  m.impl("index_add", &index_add_k);
  m.impl("index_add_", &index_add_ik);
  m.impl("masked_select", &masked_select_k);
  m.impl("nonzero", &nonzero_k);
  m.impl("one_hot", &one_hot_k);
}

}  // namespace
}  // namespace vt
