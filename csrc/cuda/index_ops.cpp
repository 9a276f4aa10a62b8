// The indexing ops on CUDA: index, index_put(_), index_select, index_add(_), embedding (the row kernels),
// gather, scatter(_), scatter_add(_), one_hot (the gather/scatter kernels), nonzero and masked_select
// (ordered compaction). Argument checks are the CPU ones (cpu/index_checks.h, cpu/index_advanced.h); index
// ranges are checked inside the kernels and reported at the next synchronization (cuda/error_flag.h).
#include "cpu/index_advanced.h"
#include "cpu/index_checks.h"
#include "cuda/index_launch.h"
#include "dispatch/dispatcher.h"
#include "ops/iterator.h"
#include "ops/views.h"

namespace vt::cuda {
namespace {

// A host value (a Python number, or a 0-d CPU tensor x[idx] = v made) as a 0-d tensor on `dev`, filled by a
// kernel: no host synchronization, unlike a copy from pageable memory.
Tensor scalar_on(const Tensor& v, DType dtype, Device dev) {
  static TypedOp<Tensor(const Tensor&, const Tensor&)> fill("fill_");
  return fill(empty(DimVec{}, dtype, dev), wrap_number(host_item(v)));
}

Tensor zeros_on(IntArrayRef shape, DType dtype, Device dev) {
  static TypedOp<Tensor(const Tensor&, const Tensor&)> fill("fill_");
  return fill(empty(shape, dtype, dev), wrap_number(Scalar(int64_t(0))));
}

// ---- rows: index, index_put(_), index_select, index_add(_), embedding --------------------------------
std::vector<RowIndex> row_dims(const AdvancedIndex& a) {
  std::vector<RowIndex> dims;
  for (const IndexedDim& d : a.dims) dims.push_back(RowIndex{d.index, d.dim});
  return dims;
}

Tensor index_cuda(const Tensor& self, const TensorList& indices) {
  AdvancedIndex a = make_advanced_index(self, indices);
  if (a.dims.empty()) return clone(a.src);
  return take_rows_cuda(a.src, a.first, row_dims(a), a.bshape, /*wrap=*/true, IndexOp::Index);
}

Tensor index_put_icuda(const Tensor& self, const TensorList& indices, const Tensor& values, bool accumulate) {
  check_writable(self, "index_put_");
  AdvancedIndex a = make_advanced_index(self, indices);
  Tensor vals = values;
  if (values.device().is_cpu() && values.dim() == 0)
    vals = values.is_wrapped_number() ? scalar_on(values, self.dtype(), self.device())
                                      : scalar_on(values, values.dtype(), self.device());
  vals = on_device(vals, self.device(), "index_put_");
  Tensor v = values_for(self, vals, a.result_shape());
  if (a.dims.empty()) {  // no advanced index: every element once
    static TypedOp<Tensor(const Tensor&, const Tensor&, Scalar)> add_("add_");
    if (accumulate) add_(a.src, v, Scalar(int64_t(1)));
    else copy_(a.src, v);
    return self;
  }
  launch_rows(accumulate ? RowMode::Add : RowMode::Put, a.src, a.first, row_dims(a), a.bshape, v, Scalar(int64_t(1)),
              /*wrap=*/true, IndexOp::IndexPut);
  return self;
}

Tensor index_put_cuda(const Tensor& self, const TensorList& indices, const Tensor& values, bool accumulate) {
  Tensor out = clone(self);
  index_put_icuda(out, indices, values, accumulate);
  return out;
}

Tensor index_select_cuda(const Tensor& self, int64_t dim, const Tensor& index) {
  DimIndexArgs a = prepare_index_select(self, dim, index);
  Tensor out = take_rows_cuda(a.self, a.dim, {RowIndex{index, a.dim}},
                              DimVec{a.n}, /*wrap=*/false, IndexOp::IndexSelect);
  return self.dim() == 0 && a.n == 1 ? make_view(out, DimVec{}, DimVec{}, out.storage_offset()) : out;
}

Tensor embedding_cuda(const Tensor& weight, const Tensor& indices, int64_t /*padding_idx: backward only*/) {
  check_embedding(weight, indices);
  return take_rows_cuda(weight, 0, {RowIndex{indices, 0}}, indices.sizes(), /*wrap=*/false, IndexOp::Embedding);
}

Tensor index_add_icuda(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, Scalar alpha) {
  DimIndexArgs a = prepare_index_add(self, dim, index, source);
  launch_rows(RowMode::Add, a.self, a.dim, {RowIndex{index, a.dim}},
              DimVec{a.n}, a.src, alpha, /*wrap=*/false, IndexOp::IndexAdd);
  return self;
}

Tensor index_add_cuda(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, Scalar alpha) {
  Tensor out = clone(self);
  index_add_icuda(out, dim, index, source, alpha);
  return out;
}

// ---- gather / scatter / one_hot -------------------------------------------------------------------
Tensor gather_cuda(const Tensor& self, int64_t dim, const Tensor& index) {
  GatherArgs a = prepare_gather(self, dim, index);
  Tensor out = empty(index.sizes(), self.dtype(), self.device());
  launch_gather(GatherMode::Gather, a.self, a.dim, a.index, at_least_1d(out), false, IndexOp::Gather);
  return out;
}

GatherMode gather_mode(Reduce r) {
  return r == Reduce::Add ? GatherMode::Add : r == Reduce::Multiply ? GatherMode::Mul : GatherMode::Set;
}

void scatter_cuda_into(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, Reduce r,
                       const char* name, IndexOp op) {
  GatherArgs a = prepare_scatter(self, dim, index, src, name);
  Tensor s = a.scalar ? a.src : on_device(a.src, self.device(), name);
  launch_gather(gather_mode(r), a.self, a.dim, a.index, s, a.scalar, op);
}

Tensor scatter_icuda(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                     std::optional<std::string_view> reduce) {
  scatter_cuda_into(self, dim, index, src, parse_reduce(reduce), "scatter_()", IndexOp::Scatter);
  return self;
}
Tensor scatter_cuda(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                    std::optional<std::string_view> reduce) {
  Reduce r = parse_reduce(reduce);
  Tensor out = clone(self);
  scatter_cuda_into(out, dim, index, src, r, "scatter()", IndexOp::Scatter);
  return out;
}
Tensor scatter_add_icuda(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  scatter_cuda_into(self, dim, index, src, Reduce::Add, "scatter_add_()", IndexOp::ScatterAdd);
  return self;
}
Tensor scatter_add_cuda(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = clone(self);
  scatter_cuda_into(out, dim, index, src, Reduce::Add, "scatter_add()", IndexOp::ScatterAdd);
  return out;
}

// one_hot: zeros, then a 1 scattered along a new last dim. Classes out of range are reported like an
// index (at the next synchronization). num_classes=-1 reads the largest class on the host: one sync.
Tensor one_hot_cuda(const Tensor& self, int64_t num_classes) {
  static TypedOp<Tensor(const Tensor&, IntArrayRef, bool)> amax("amax");
  check_one_hot(self, num_classes);
  int64_t c = num_classes;
  if (c == -1) {
    int64_t hi = host_item(amax(self, DimVec{}, false)).to_int();
    VT_CHECK_VALUE(hi >= 0, "Class values must be non-negative.");
    c = hi + 1;
  }
  DimVec shape = self.sizes();
  shape.push_back(c);
  Tensor out = zeros_on(shape, DType::Int64, self.device());
  if (self.numel() == 0) return out;
  Tensor idx = unsqueeze(self, self.dim());
  launch_gather(GatherMode::Set, out, self.dim(), idx, wrap_number(Scalar(int64_t(1))), /*scalar=*/true,
                IndexOp::OneHot);
  return out;
}

// ---- nonzero / masked_select (one host sync each: the result's size depends on the data) ------------
Tensor nonzero_cuda(const Tensor& self) {
  Tensor s = contiguous(self);
  auto [offsets, total] = compact_offsets(s);
  Tensor out = empty(DimVec{total, s.dim()}, DType::Int64, self.device());
  if (total) launch_nonzero_write(s, offsets, out);
  return out;
}

Tensor masked_select_cuda(const Tensor& self, const Tensor& mask) {
  DimVec shape = masked_select_shape(self, mask);
  Tensor m = contiguous(broadcast_view(on_device(mask, self.device(), "masked_select"), shape));
  Tensor s = contiguous(broadcast_view(self, shape));
  auto [offsets, total] = compact_offsets(m);
  Tensor out = empty(DimVec{total}, self.dtype(), self.device());
  if (total) launch_select_write(s, m, offsets, out);
  return out;
}

VT_REGISTER_KERNELS(CUDA, m) {
  m.impl("index", &index_cuda);
  m.impl("index_put", &index_put_cuda);
  m.impl("index_put_", &index_put_icuda);
  m.impl("index_select", &index_select_cuda);
  m.impl("embedding", &embedding_cuda);
  m.impl("index_add", &index_add_cuda);
  m.impl("index_add_", &index_add_icuda);
  m.impl("gather", &gather_cuda);
  m.impl("scatter", &scatter_cuda);
  m.impl("scatter_", &scatter_icuda);
  m.impl("scatter_add", &scatter_add_cuda);
  m.impl("scatter_add_", &scatter_add_icuda);
  m.impl("one_hot", &one_hot_cuda);
  m.impl("nonzero", &nonzero_cuda);
  m.impl("masked_select", &masked_select_cuda);
}

}  // namespace
}  // namespace vt::cuda
