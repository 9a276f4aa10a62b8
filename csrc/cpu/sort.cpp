// sort, argsort and topk on CPU, one row (a slice along `dim`) at a time, rows spread over threads.
//
// Ordering follows PyTorch: NaN is larger than every number (so it comes last ascending, first
// descending, and topk(largest=True) picks NaNs first). sort is always stable, as PyTorch's CPU kernel
// is, so `stable` changes nothing here. topk selects with nth_element (linear time) and sorts only the k
// winners; ties break by position, so its output is deterministic.
#include <algorithm>
#include <tuple>

#include "cpu/index_utils.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {

template <class K> inline bool is_nan(K v) {
  if constexpr (std::is_floating_point_v<K>) return v != v;
  else return false;
}
// Strict weak orders on keys with NaN above everything.
template <class K> inline bool nan_last_less(K a, K b) { return a < b || (is_nan(b) && !is_nan(a)); }
template <class K> inline bool nan_first_greater(K a, K b) { return a > b || (is_nan(a) && !is_nan(b)); }

enum class Select { SortAll, TopKSorted, TopKUnsorted };

// For every row of self along dim: the first k entries under the order (descending or ascending), written
// to values/indices (same shape as self except k along dim).
void select_rows(const Tensor& self, int64_t dim, int64_t k, bool descending, Select how, const Tensor& values,
                 const Tensor& indices, const char* name) {
  Tensor s = at_least_1d(self), v = at_least_1d(values), ix = at_least_1d(indices);
  const int64_t len = s.sizes()[dim];
  if (v.numel() == 0) return;
  // Per-row starting offsets (elements) of the input and both outputs.
  Tensor srest = drop_dims(s, dim, 1), vrest = drop_dims(v, dim, 1), irest = drop_dims(ix, dim, 1);
  std::vector<int64_t> s_off = strided_offsets(srest.sizes(), srest.strides(), 1);
  std::vector<int64_t> v_off = strided_offsets(vrest.sizes(), vrest.strides(), 1);
  std::vector<int64_t> i_off = strided_offsets(irest.sizes(), irest.strides(), 1);
  const int64_t rows = int64_t(s_off.size());
  const int64_t sst = s.strides()[dim], vst = v.strides()[dim], ist = ix.strides()[dim];
  VT_DISPATCH_ALL(self.dtype(), name, [&] {
    using K = opmath_t<scalar_t>;
    using Item = std::pair<K, int64_t>;
    const scalar_t* in = s.data_as<scalar_t>();
    scalar_t* vo = v.data_as<scalar_t>();
    int64_t* io = ix.data_as<int64_t>();
    auto order = [descending](const Item& a, const Item& b) {
      return descending ? nan_first_greater(a.first, b.first) : nan_last_less(a.first, b.first);
    };
    auto order_by_pos = [&](const Item& a, const Item& b) {
      return order(a, b) || (!order(b, a) && a.second < b.second);
    };
    parallel_for(0, rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(len, 1)), [&](int64_t r0, int64_t r1) {
      std::vector<Item> buf(static_cast<size_t>(len));
      for (int64_t r = r0; r < r1; r++) {
        const scalar_t* row = in + s_off[size_t(r)];
        for (int64_t j = 0; j < len; j++) buf[size_t(j)] = Item(K(row[j * sst]), j);
        if (how == Select::SortAll) {
          std::stable_sort(buf.begin(), buf.end(), order);
        } else {
          if (k < len) std::nth_element(buf.begin(), buf.begin() + k, buf.end(), order_by_pos);
          if (how == Select::TopKSorted) std::sort(buf.begin(), buf.begin() + k, order_by_pos);
        }
        scalar_t* vr = vo + v_off[size_t(r)];
        int64_t* ir = io + i_off[size_t(r)];
        for (int64_t j = 0; j < k; j++) {
          vr[j * vst] = static_cast<scalar_t>(buf[size_t(j)].first);
          ir[j * ist] = buf[size_t(j)].second;
        }
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
  select_rows(self, dim, k, largest, sorted ? Select::TopKSorted : Select::TopKUnsorted, values, indices, "topk");
  return {values, indices};
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("sort", &sort_k);
  m.impl("argsort", &argsort_k);
  m.impl("topk", &topk_k);
}

}  // namespace
}  // namespace vt
