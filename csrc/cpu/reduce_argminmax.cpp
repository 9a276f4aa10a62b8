// max.dim, min.dim (values and indices), argmax, argmin on CPU. A NaN wins, and its first position;
// ties keep the first index, like PyTorch.
#include "cpu/reduce_minmax.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {
using namespace reduce;

// {value, index} of the winner; index -1 before the first element. WithValues: outputs (values, indices),
// else just indices.
template <class in_t, bool IsMax, bool WithValues>
struct ArgOps {
  using value_t = opmath_t<in_t>;
  static constexpr bool kIndexed = true;  // the driver must fold rows in order, one index each
  struct acc_t {
    value_t v;
    int64_t i;
  };
  static acc_t fold(acc_t a, value_t x, int64_t idx) {
    return (a.i < 0 || beats<IsMax>(x, a.v)) ? acc_t{x, idx} : a;
  }
  acc_t identity() const { return {value_t(0), -1}; }
  // Contiguous float runs, a chunk at a time: the extreme by the vector fold, then (only when it beats
  // the running winner) the first position holding it. Much faster than tracking indices per element.
  static acc_t run_chunked(acc_t a, const in_t* x, int64_t n, int64_t idx0) {
    constexpr int64_t kChunk = 1024;
    using Extreme = ExtremeOps<in_t, IsMax>;
    for (int64_t c = 0; c < n; c += kChunk) {
      int64_t len = std::min(kChunk, n - c);
      value_t m = Extreme{}.run(Extreme{}.identity(), reinterpret_cast<const char*>(x + c), sizeof(in_t), len, 0);
      if (a.i >= 0 && !beats<IsMax>(m, a.v)) continue;
      int64_t k = 0;
      if (math::isnan(m)) while (!math::isnan(value_t(x[c + k]))) k++;
      else while (!(value_t(x[c + k]) == m)) k++;
      a = {value_t(x[c + k]), idx0 + c + k};  // x's own value: max(-0.0, 0.0) keeps the first zero's sign
    }
    return a;
  }
  acc_t run(acc_t a, const char* p, int64_t s, int64_t n, int64_t idx0) const {
    if (s == int64_t(sizeof(in_t))) {
      const in_t* x = reinterpret_cast<const in_t*>(p);
      if constexpr (Simd<in_t, 16>::ok) return run_chunked(a, x, n, idx0);
      for (int64_t i = 0; i < n; i++) a = fold(a, value_t(x[i]), idx0 + i);
    } else {
      for (int64_t i = 0; i < n; i++) a = fold(a, value_t(load<in_t>(p + i * s)), idx0 + i);
    }
    return a;
  }
  void lanes(acc_t* buf, const char* p, int64_t s, int64_t n, int64_t idx) const {
    fold_lanes<in_t>(buf, p, s, n, [idx](acc_t a, in_t x) { return fold(a, value_t(x), idx); });
  }
  acc_t combine(acc_t a, acc_t b) const { return (b.i >= 0 && (a.i < 0 || beats<IsMax>(b.v, a.v))) ? b : a; }
  void store(char* const* out, acc_t a) const {
    if constexpr (WithValues) {
      *reinterpret_cast<in_t*>(out[0]) = in_t(a.v);
      *reinterpret_cast<int64_t*>(out[1]) = a.i;
    } else {
      *reinterpret_cast<int64_t*>(out[0]) = a.i;
    }
  }
};

template <bool IsMax>
std::tuple<Tensor, Tensor> extreme_dim(const char* name, const Tensor& self, int64_t dim, bool keepdim) {
  check_nonempty(self, IntArrayRef(&dim, 1), name);
  auto r = VT_DISPATCH_ALL(self.dtype(), name, [&] {
    return reduce_n<ArgOps<scalar_t, IsMax, true>, 2>(name, {}, self, IntArrayRef(&dim, 1), keepdim,
                                                      {self.dtype(), DType::Int64});
  });
  return {r[0], r[1]};
}
std::tuple<Tensor, Tensor> max_dim_k(const Tensor& self, int64_t dim, bool keepdim) {
  return extreme_dim<true>("max", self, dim, keepdim);
}
std::tuple<Tensor, Tensor> min_dim_k(const Tensor& self, int64_t dim, bool keepdim) {
  return extreme_dim<false>("min", self, dim, keepdim);
}

// Without a dim, the index is into the flattened tensor (PyTorch reshapes to 1-d the same way).
template <bool IsMax>
Tensor arg_extreme(const char* name, const Tensor& self, std::optional<int64_t> dim, bool keepdim) {
  VT_CHECK_TYPE(self.dtype() != DType::Bool, name, "(): does not support bool input");
  Tensor in = dim ? self : reshape(self, DimVec{-1});
  std::optional<IntArrayRef> dims = dim ? one_dim(dim) : std::nullopt;  // the whole flattened tensor
  check_nonempty(in, dims, name);
  Tensor r = VT_DISPATCH_NUMERIC(self.dtype(), name, [&] {
    return reduce1(name, ArgOps<scalar_t, IsMax, false>{}, in, dims, dim ? keepdim : false, DType::Int64);
  });
  if (dim || !keepdim) return r;
  return make_view(r, DimVec(size_t(self.dim()), 1), DimVec(size_t(self.dim()), 1), r.storage_offset());
}
Tensor argmax_k(const Tensor& self, std::optional<int64_t> dim, bool keepdim) {
  return arg_extreme<true>("argmax", self, dim, keepdim);
}
Tensor argmin_k(const Tensor& self, std::optional<int64_t> dim, bool keepdim) {
  return arg_extreme<false>("argmin", self, dim, keepdim);
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("max.dim", &max_dim_k);
  m.impl("min.dim", &min_dim_k);
  m.impl("argmax", &argmax_k);
  m.impl("argmin", &argmin_k);
}

}  // namespace
}  // namespace vt
