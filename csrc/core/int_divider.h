// Division by a run-time invariant divisor as a multiply-high, an add and a shift (Granlund and Montgomery,
// "Division by invariant integers using multiplication", 1994; PyTorch's IntDivider takes the same form):
// for 0 <= n < 2^31 and 1 <= d < 2^31,
//     n / d == (umulhi(n, magic) + n) >> shift,   shift = ceil(log2 d), magic = 2^32 (2^shift - d) / d + 1.
// The GPU's strided elementwise kernels split every element's index into coordinates, one division per dim;
// as a 64-bit division that is a long emulated sequence per element (kernels/triton/elementwise.py, layout f,
// takes these three numbers per dim instead).
#pragma once
#include <bit>
#include <cstdint>

namespace vt {

struct IntDivider {
  uint32_t divisor = 1, magic = 1, shift = 0;

  IntDivider() = default;
  explicit IntDivider(uint32_t d) : divisor(d), shift(uint32_t(std::bit_width(d - 1))) {
    magic = uint32_t(((uint64_t(1) << 32) * ((uint64_t(1) << shift) - d)) / d + 1);
  }
  uint32_t div(uint32_t n) const {
    uint32_t hi = uint32_t((uint64_t(n) * magic) >> 32);
    return (hi + n) >> shift;
  }
};

}  // namespace vt
