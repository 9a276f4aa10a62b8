// cumsum and cumprod along a dim on CPU. Integer and bool inputs produce int64 unless dtype= says
// otherwise (the input is cast to the result dtype first); half types accumulate in float. CUDA tensors
// go to cuda/scan.cpp after the same dtype rules.
#include "cpu/reduce.h"
#include "cpu/reduce_lines.h"
#include "cuda/dim_kernels.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {
using namespace reduce;

template <class T, bool IsProd>
struct Scan {
  using acc_t = sum_acc_t<T>;  // uint64 for integers: wraps like int64 without UB
  static acc_t step(acc_t a, T x) { return IsProd ? acc_t(a * acc_t(x)) : acc_t(a + acc_t(x)); }
  static void put(const Lines& L, int64_t line, int64_t k, acc_t a) {
    *reinterpret_cast<T*>(L.out_at(line, k)) = T(a);
  }

  static void along(const Lines& L) {
    for (int64_t i = 0; i < L.count; i++) {
      acc_t a = acc_t(IsProd);
      for (int64_t k = 0; k < L.len; k++) put(L, i, k, a = step(a, load<T>(L.in_at(i, k))));
    }
  }
  // Row by row over a block of neighbouring lines: the inner loop walks adjacent elements.
  static void across(const Lines& L) {
    acc_t acc[kLinesBlock];
    for (int64_t j0 = 0; j0 < L.count; j0 += kLinesBlock) {
      int64_t c = std::min(kLinesBlock, L.count - j0);
      for (int64_t j = 0; j < c; j++) acc[j] = acc_t(IsProd);
      for (int64_t k = 0; k < L.len; k++)
        for (int64_t j = 0; j < c; j++) put(L, j0 + j, k, acc[j] = step(acc[j], load<T>(L.in_at(j0 + j, k))));
    }
  }
};

template <bool IsProd>
Tensor scan_impl(const char* name, const Tensor& self, int64_t dim, std::optional<DType> dtype) {
  int64_t d = wrap_dim(dim, self.dim(), name);
  DType out_dt = dtype ? *dtype : is_integral(self.dtype(), true) ? DType::Int64 : self.dtype();
  // The CUDA kernel widens integers as it reads; an explicit dtype converts first, as on CPU.
  if (self.device().is_cuda())
    return cuda::scan(IsProd ? "prod" : "sum", dtype ? to_dtype(self, out_dt) : self, d, out_dt);
  Tensor in = to_dtype(self, out_dt);
  Tensor out = empty(in.sizes(), out_dt, in.device());
  VT_DISPATCH_ALL(out_dt, name, [&] {
    for_each_lines(name, out, in, d, [](const Lines& L) {
      if (L.across()) Scan<scalar_t, IsProd>::across(L);
      else Scan<scalar_t, IsProd>::along(L);
    });
  });
  return out;
}

Tensor cumsum_k(const Tensor& self, int64_t dim, std::optional<DType> dtype) {
  return scan_impl<false>("cumsum", self, dim, dtype);
}
Tensor cumprod_k(const Tensor& self, int64_t dim, std::optional<DType> dtype) {
  return scan_impl<true>("cumprod", self, dim, dtype);
}

VT_REGISTER_KERNELS_ALL(m) {
  m.impl("cumsum", &cumsum_k);
  m.impl("cumprod", &cumprod_k);
}

}  // namespace
}  // namespace vt
