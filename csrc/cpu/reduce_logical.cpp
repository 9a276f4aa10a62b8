// any and all on CPU: bool results (uint8 for uint8 inputs, as PyTorch keeps for compatibility).
// Contiguous runs stop at the first element that decides the answer.
#include "cpu/reduce.h"
#include "dispatch/dispatcher.h"

namespace vt {
namespace {
using namespace reduce;

template <class in_t, class out_t, bool IsAll>
struct AnyAllOps {
  using acc_t = bool;
  static bool truth(in_t x) { return opmath_t<in_t>(x) != opmath_t<in_t>(0); }  // NaN counts as true
  acc_t identity() const { return IsAll; }
  acc_t run(acc_t a, const char* p, int64_t s, int64_t n, int64_t) const {
    if (a != IsAll) return a;  // already decided
    for (int64_t i = 0; i < n; i++)
      if (truth(load<in_t>(p + i * s)) != IsAll) return !IsAll;
    return IsAll;
  }
  void lanes(acc_t* buf, const char* p, int64_t s, int64_t n, int64_t) const {
    if constexpr (IsAll) fold_lanes<in_t>(buf, p, s, n, [](bool a, in_t x) { return a && truth(x); });
    else fold_lanes<in_t>(buf, p, s, n, [](bool a, in_t x) { return a || truth(x); });
  }
  acc_t combine(acc_t a, acc_t b) const { return IsAll ? (a && b) : (a || b); }
  void store(char* const* out, acc_t a) const { *reinterpret_cast<out_t*>(out[0]) = out_t(a); }
};

template <bool IsAll>
Tensor any_all(const char* name, const Tensor& self, std::optional<int64_t> dim, bool keepdim) {
  if (self.dtype() == DType::UInt8)
    return reduce1(name, AnyAllOps<uint8_t, uint8_t, IsAll>{}, self, one_dim(dim), keepdim, DType::UInt8);
  return VT_DISPATCH_ALL(self.dtype(), name, [&] {
    return reduce1(name, AnyAllOps<scalar_t, bool, IsAll>{}, self, one_dim(dim), keepdim, DType::Bool);
  });
}
Tensor any_k(const Tensor& self, std::optional<int64_t> dim, bool keepdim) { return any_all<false>("any", self, dim, keepdim); }
Tensor all_k(const Tensor& self, std::optional<int64_t> dim, bool keepdim) { return any_all<true>("all", self, dim, keepdim); }

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("any", &any_k);
  m.impl("all", &all_k);
}

}  // namespace
}  // namespace vt
