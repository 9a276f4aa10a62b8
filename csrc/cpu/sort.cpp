// sort, argsort and topk on CPU, one row (a slice along `dim`) at a time, rows spread over threads.
//
// Ordering follows PyTorch: NaN is larger than every number (so it comes last ascending, first
// descending, and topk(largest=True) picks NaNs first). sort is always stable, as PyTorch's CPU kernel
// is, so `stable` changes nothing here. topk selects with nth_element (linear time) and sorts only the k
// winners; ties break by position, so its output is deterministic.
#include <algorithm>
#include <tuple>

#include "cpu/index_utils.h"
#include "cuda/dim_kernels.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {

template <class K> inline bool is_nan(K v) {
  if constexpr (std::is_floating_point_v<K>) return v != v;
  else return false;
}

enum class Select { SortAll, TopKSorted, TopKUnsorted };

// Below this ratio of k to the row length, topk keeps a k-element heap while scanning the row once
// (almost every element costs one comparison) instead of copying the row and running nth_element.
constexpr int64_t kHeapRatio = 16;

// One row: its first k entries under the order (Desc: descending), NaN above every number.
template <bool Desc, class scalar_t>
void select_row(const scalar_t* row, int64_t sst, int64_t len, int64_t k, Select how,
                std::vector<std::pair<opmath_t<scalar_t>, int64_t>>& buf, scalar_t* vr, int64_t vst, int64_t* ir,
                int64_t ist) {
  using K = opmath_t<scalar_t>;
  using Item = std::pair<K, int64_t>;
  auto before = [](K a, K b) {  // a strictly before b
    if constexpr (Desc) return a > b || (is_nan(a) && !is_nan(b));
    else return a < b || (is_nan(b) && !is_nan(a));
  };
  // topk's total order: ties go to the earlier position, so the answer does not depend on the algorithm.
  auto by_key_pos = [&](const Item& a, const Item& b) {
    return before(a.first, b.first) || (!before(b.first, a.first) && a.second < b.second);
  };
  if (how != Select::SortAll && k > 0 && k * kHeapRatio <= len) {
    buf.resize(size_t(k));
    for (int64_t j = 0; j < k; j++) buf[size_t(j)] = Item(K(row[j * sst]), j);
    std::make_heap(buf.begin(), buf.end(), by_key_pos);  // the worst kept entry on top
    for (int64_t j = k; j < len; j++) {
      K x = K(row[j * sst]);
      if (!before(x, buf.front().first)) continue;  // a tie loses to the earlier position already kept
      std::pop_heap(buf.begin(), buf.end(), by_key_pos);
      buf.back() = Item(x, j);
      std::push_heap(buf.begin(), buf.end(), by_key_pos);
    }
    if (how == Select::TopKSorted) std::sort_heap(buf.begin(), buf.end(), by_key_pos);
  } else {
    buf.resize(size_t(len));
    for (int64_t j = 0; j < len; j++) buf[size_t(j)] = Item(K(row[j * sst]), j);
    if (how == Select::SortAll) {
      auto mid = buf.end();
      if constexpr (std::is_floating_point_v<K>) {  // NaNs to their end first, so the sort compares plainly
        mid = std::stable_partition(buf.begin(), buf.end(), [](const Item& a) { return is_nan(a.first) == Desc; });
        if (Desc) {
          std::stable_sort(mid, buf.end(), [](const Item& a, const Item& b) { return a.first > b.first; });
          mid = buf.begin();
        }
      }
      if (!Desc || !std::is_floating_point_v<K>)
        std::stable_sort(buf.begin(), mid, [](const Item& a, const Item& b) { return Desc ? a.first > b.first : a.first < b.first; });
    } else {
      if (k < len) std::nth_element(buf.begin(), buf.begin() + k, buf.end(), by_key_pos);
      if (how == Select::TopKSorted) std::sort(buf.begin(), buf.begin() + k, by_key_pos);
    }
  }
  for (int64_t j = 0; j < k; j++) {
    vr[j * vst] = static_cast<scalar_t>(buf[size_t(j)].first);
    ir[j * ist] = buf[size_t(j)].second;
  }
}

// For every row of self along dim: the first k entries under the order, written to values/indices (shaped
// like self, with k along dim). Rows are spread over threads.
void select_rows(const Tensor& self, int64_t dim, int64_t k, bool descending, Select how, const Tensor& values,
                 const Tensor& indices, const char* name) {
  if (self.device().is_cuda()) {  // every selection is a stable sort there; topk keeps the first k
    cuda::sort_into(self, dim, k, descending, values, indices);
    return;
  }
  Tensor s = at_least_1d(self), v = at_least_1d(values), ix = at_least_1d(indices);
  const int64_t len = s.sizes()[dim];
  if (v.numel() == 0) return;
  // Per-row starting offsets (elements) of the input and both outputs.
  Tensor srest = drop_dims(s, dim, 1), vrest = drop_dims(v, dim, 1), irest = drop_dims(ix, dim, 1);
  RowOffsets s_off = strided_offsets(srest.sizes(), srest.strides(), 1);
  RowOffsets v_off = strided_offsets(vrest.sizes(), vrest.strides(), 1);
  RowOffsets i_off = strided_offsets(irest.sizes(), irest.strides(), 1);
  const int64_t rows = s_off.size();
  const int64_t sst = s.strides()[dim], vst = v.strides()[dim], ist = ix.strides()[dim];
  VT_DISPATCH_ALL(self.dtype(), name, [&] {
    const scalar_t* in = s.data_as<scalar_t>();
    scalar_t* vo = v.data_as<scalar_t>();
    int64_t* io = ix.data_as<int64_t>();
    parallel_for(0, rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(len, 1)), [&](int64_t r0, int64_t r1) {
      std::vector<std::pair<opmath_t<scalar_t>, int64_t>> buf;
      for (int64_t r = r0; r < r1; r++) {
        auto row = [&](auto desc) {
          select_row<decltype(desc)::value>(in + s_off[r], sst, len, k, how, buf, vo + v_off[r], vst, io + i_off[r], ist);
        };
        if (descending) row(std::true_type{});
        else row(std::false_type{});
      }
    });
  });
}

std::tuple<Tensor, Tensor> sort_impl(const Tensor& self, int64_t dim, bool descending, const char* name) {
  dim = wrap_dim(dim, self.dim(), name);
  Tensor values = empty(self.sizes(), self.dtype(), self.device());
  Tensor indices = empty(self.sizes(), DType::Int64, self.device());
  select_rows(self, dim, self.dim() == 0 ? 1 : self.sizes()[dim], descending, Select::SortAll, values, indices, name);
  return {values, indices};
}

std::tuple<Tensor, Tensor> sort_k(const Tensor& self, int64_t dim, bool descending, bool /*stable: always*/) {
  return sort_impl(self, dim, descending, "sort");
}

Tensor argsort_k(const Tensor& self, int64_t dim, bool descending, bool /*stable: always*/) {
  return std::get<1>(sort_impl(self, dim, descending, "argsort"));
}

std::tuple<Tensor, Tensor> topk_k(const Tensor& self, int64_t k, int64_t dim, bool largest, bool sorted) {
  VT_CHECK_TYPE(self.dtype() != DType::Bool, "topk does not support bool dtypes");
  dim = wrap_dim(dim, self.dim(), "topk");
  int64_t len = self.dim() == 0 ? 1 : self.sizes()[dim];
  VT_CHECK_INDEX(k >= 0 && k <= len, "topk: selected index k out of range (k = ", k, ", size along dim ", dim,
                 " = ", len, ")");
  DimVec shape = self.sizes();
  if (self.dim() > 0) shape[dim] = k;
  Tensor values = empty(shape, self.dtype(), self.device());
  Tensor indices = empty(shape, DType::Int64, self.device());
  // A 0-d tensor is its own top-k for any valid k (PyTorch returns the element even for k = 0).
  select_rows(self, dim, self.dim() == 0 ? 1 : k, largest, sorted ? Select::TopKSorted : Select::TopKUnsorted, values, indices, "topk");
  return {values, indices};
}

VT_REGISTER_KERNELS_ALL(m) {
  m.impl("sort", &sort_k);
  m.impl("argsort", &argsort_k);
  m.impl("topk", &topk_k);
}

}  // namespace
}  // namespace vt
