// sum, mean and prod on CPU. Floats accumulate in opmath (float for half types) with cascade summation;
// integers and bools accumulate in 64 bits and return int64, like PyTorch.
#include "cpu/reduce.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {
using namespace reduce;

// Sum, divided by `divisor` at the end for mean. Integer sums wrap like int64.
template <class in_t>
struct SumOps {
  using acc_t = sum_acc_t<in_t>;
  using out_t = sum_out_t<in_t>;
  double divisor = 1;
  acc_t identity() const { return acc_t(0); }
  acc_t run(acc_t a, const char* p, int64_t s, int64_t n, int64_t) const {
    // Identity on values and on vectors; `acc += x` widens (ints wrap through uint64, halves via float).
    return a + cascade_sum<acc_t, in_t>(p, s, n, [](auto x) VT_FOLD { return x; });
  }
  void lanes(acc_t* buf, const char* p, int64_t s, int64_t n, int64_t) const {
    fold_lanes<in_t>(buf, p, s, n, [](auto a, auto x) VT_FOLD { return decltype(a)(a + x); });
  }
  acc_t combine(acc_t a, acc_t b) const { return a + b; }
  void store(char* const* out, acc_t a) const {
    if constexpr (std::is_integral_v<in_t>) *reinterpret_cast<out_t*>(out[0]) = out_t(a);
    else *reinterpret_cast<out_t*>(out[0]) = out_t(divisor == 1 ? a : acc_t(a / acc_t(divisor)));
  }
};

template <class in_t>
struct ProdOps {
  using acc_t = sum_acc_t<in_t>;
  using out_t = sum_out_t<in_t>;
  // Multiplies accumulators, vectors of them, or an accumulator by an element.
  static constexpr auto mul = [](auto a, auto x) VT_FOLD {
    using A = decltype(a);
    return A(a * A(x));
  };
  acc_t identity() const { return acc_t(1); }
  acc_t run(acc_t a, const char* p, int64_t s, int64_t n, int64_t) const {
    return fold_run<in_t>(a, acc_t(1), p, s, n, mul);
  }
  void lanes(acc_t* buf, const char* p, int64_t s, int64_t n, int64_t) const {
    fold_lanes<in_t>(buf, p, s, n, mul);
  }
  acc_t combine(acc_t a, acc_t b) const { return mul(a, b); }
  void store(char* const* out, acc_t a) const { *reinterpret_cast<out_t*>(out[0]) = out_t(a); }
};

// The dtype the result has: `dtype=` if given, else int64 for integers and bools, else the input's.
DType sum_result_dtype(const Tensor& self, std::optional<DType> dtype) {
  if (dtype) return *dtype;
  return is_integral(self.dtype(), true) ? DType::Int64 : self.dtype();
}

// Runs Ops over self (cast to `dtype=` first). Integer inputs reduce into int64, cast after if asked.
// is_mean: divide the sum by the number of reduced elements.
template <template <class> class Ops>
Tensor sum_like(const char* name, const Tensor& self, std::optional<IntArrayRef> dims, bool keepdim,
                std::optional<DType> dtype, bool is_mean = false) {
  DType out_dt = sum_result_dtype(self, dtype);
  Tensor in = to_dtype(self, dtype ? *dtype : self.dtype());
  Tensor r = VT_DISPATCH_ALL(in.dtype(), name, [&] {
    Ops<scalar_t> ops;
    if constexpr (requires { ops.divisor; })
      if (is_mean) ops.divisor = double(reduced_count(in, dims, name));
    return reduce1(name, ops, in, dims, keepdim, dtype_of<typename Ops<scalar_t>::out_t>::value);
  });
  return to_dtype(r, out_dt);
}

Tensor sum_k(const Tensor& self, std::optional<IntArrayRef> dim, bool keepdim, std::optional<DType> dtype) {
  return sum_like<SumOps>("sum", self, dim, keepdim, dtype);
}

Tensor mean_k(const Tensor& self, std::optional<IntArrayRef> dim, bool keepdim, std::optional<DType> dtype) {
  VT_CHECK_TYPE(dtype || is_floating(self.dtype()), "mean(): could not infer output dtype. Input dtype must be either "
                "a floating point or complex dtype. Got: ", torch_type_name(self.dtype()));
  VT_CHECK_TYPE(!dtype || is_floating(*dtype), "mean(): could not infer output dtype. Optional dtype must be either "
                "a floating point or complex dtype. Got: ", torch_type_name(*dtype));
  return sum_like<SumOps>("mean", self, dim, keepdim, dtype, true);
}

Tensor prod_k(const Tensor& self, std::optional<int64_t> dim, bool keepdim, std::optional<DType> dtype) {
  return sum_like<ProdOps>("prod", self, one_dim(dim), keepdim, dtype);
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("sum", &sum_k);
  m.impl("mean", &mean_k);
  m.impl("prod", &prod_k);
}

}  // namespace
}  // namespace vt
