// Ops that copy a tensor into a new arrangement: flip, roll, repeat, tril/triu (and tril_/triu_).
// None of them does arithmetic, so they move elements by size (1/2/4/8 bytes) and serve every dtype.
// roll and repeat are copies into views (copy_ runs on either device); flip and tril/triu hand CUDA tensors
// to cuda/shape.cpp after the shared checks.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "cuda/dim_kernels.h"
#include "dispatch/dispatcher.h"
#include "ops/iterator.h"
#include "ops/views.h"

namespace vt {
namespace {

// Calls f(U{}) with U the unsigned integer type as wide as one element.
template <class F> void with_element_type(size_t itemsize, F&& f) {
  switch (itemsize) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
    default: VT_THROW(Error, "unsupported element size ", itemsize);
  }
}

// dst[i * ds] = src[i * ss] for n elements (strides in elements, any sign).
template <class U> void copy_run(U* dst, int64_t ds, const U* src, int64_t ss, int64_t n) {
  if (ds == 1 && ss == 1) std::memcpy(dst, src, size_t(n) * sizeof(U));
  else if (ds == 1) for (int64_t i = 0; i < n; i++) dst[i] = src[i * ss];
  else for (int64_t i = 0; i < n; i++) dst[i * ds] = src[i * ss];
}
template <class U> void zero_run(U* dst, int64_t ds, int64_t n) {
  if (ds == 1) std::memset(dst, 0, size_t(n) * sizeof(U));
  else for (int64_t i = 0; i < n; i++) dst[i * ds] = U(0);
}

// The element offset of row `r` of a tensor whose last dim is the run: rows enumerate the other dims in
// row-major order.
int64_t row_offset(int64_t r, IntArrayRef sizes, IntArrayRef strides) {
  int64_t off = 0;
  for (int64_t d = int64_t(sizes.size()) - 2; d >= 0 && r > 0; d--) {
    off += (r % sizes[d]) * strides[d];
    r /= sizes[d];
  }
  return off;
}

// ---- flip ----------------------------------------------------------------------------------------------
// A flipped dim is read from its last element backwards: start there and negate its stride.
Tensor flip_k(const Tensor& self, IntArrayRef dims) {
  const int64_t nd = self.dim();
  std::vector<bool> flipped(size_t(std::max<int64_t>(nd, 1)), false);
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, nd, "flip");
    VT_CHECK_VALUE(!flipped[w], "dim ", w, " appears multiple times in the list of dims");
    flipped[w] = true;
  }
  Tensor out = empty(self.sizes(), self.dtype(), self.device());
  if (out.numel() == 0) return out;
  if (nd == 0) return copy_(out, self);
  DimVec strides = self.strides();
  int64_t base = 0;
  for (int64_t d = 0; d < nd; d++)
    if (flipped[d]) {
      base += (self.sizes()[d] - 1) * strides[d];
      strides[d] = -strides[d];
    }
  if (self.device().is_cuda()) {
    cuda::strided_gather_copy(out, self, base, strides);
    return out;
  }
  const int64_t inner = self.sizes()[nd - 1], rows = out.numel() / inner;
  with_element_type(self.itemsize(), [&](auto tag) {
    using U = decltype(tag);
    const U* src = static_cast<const U*>(self.data()) + base;
    U* dst = static_cast<U*>(out.data());
    parallel_for(0, rows, std::max<int64_t>(1, kParallelGrain / inner), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++)
        copy_run(dst + r * inner, 1, src + row_offset(r, self.sizes(), strides), strides[nd - 1], inner);
    });
  });
  return out;
}

// ---- roll ----------------------------------------------------------------------------------------------
// Each rolled dim splits into two blocks that swap places, so the result is 2^k block copies for k
// rolled dims (shifts on a repeated dim add up, as rolling twice would).
Tensor roll_k(const Tensor& self, IntArrayRef shifts, IntArrayRef dims) {
  VT_CHECK_VALUE(!shifts.empty(), "`shifts` required");
  if (dims.empty()) {
    VT_CHECK_VALUE(shifts.size() == 1, "shifts and dimensions must align. shifts: ", shifts.size(), ", dims:0");
    const int64_t zero = 0;
    return view(roll_k(reshape(self, DimVec{-1}), shifts, IntArrayRef(&zero, 1)), self.sizes());
  }
  VT_CHECK_VALUE(shifts.size() == dims.size(), "shifts and dimensions must align. shifts: ", shifts.size(),
                 ", dims:", dims.size());
  const int64_t nd = self.dim();
  VT_CHECK_INDEX(nd > 0, "roll: dimension specified as ", dims[0], " but tensor has no dimensions");
  DimVec shift(size_t(nd), 0);
  for (size_t i = 0; i < dims.size(); i++) {
    const int64_t d = wrap_dim(dims[i], nd, "roll"), n = self.sizes()[d];
    if (n > 0) shift[d] = ((shift[d] + shifts[i]) % n + n) % n;
  }
  Tensor out = empty(self.sizes(), self.dtype(), self.device());
  if (out.numel() == 0) return out;
  std::vector<int64_t> rolled;
  for (int64_t d = 0; d < nd; d++)
    if (shift[d] != 0) rolled.push_back(d);
  for (uint64_t mask = 0; mask < (uint64_t(1) << rolled.size()); mask++) {
    Tensor src = self, dst = out;
    for (size_t j = 0; j < rolled.size(); j++) {
      const int64_t d = rolled[j], n = self.sizes()[d], s = shift[d];
      if (mask >> j & 1) {  // the last s elements wrap around to the front
        src = narrow(src, d, n - s, s);
        dst = narrow(dst, d, 0, s);
      } else {
        src = narrow(src, d, 0, n - s);
        dst = narrow(dst, d, s, n - s);
      }
    }
    copy_(dst, src);
  }
  return out;
}

// ---- repeat ----------------------------------------------------------------------------------------------
// View the result as (r0, s0, r1, s1, ...) and copy self into it broadcast along every r_i (PyTorch's way).
Tensor repeat_k(const Tensor& self, IntArrayRef repeats) {
  const int64_t nr = int64_t(repeats.size()), nd = self.dim();
  VT_CHECK_VALUE(nr >= nd, "Number of dimensions of repeat dims can not be smaller than number of dimensions "
                 "of tensor");
  DimVec target, interleaved, unit;
  for (int64_t i = 0; i < nr; i++) {
    const int64_t s = i < nr - nd ? 1 : self.sizes()[i - (nr - nd)];
    target.push_back(s * repeats[i]);
    interleaved.push_back(repeats[i]);
    interleaved.push_back(s);
    unit.push_back(1);
    unit.push_back(s);
  }
  for (int64_t r : repeats)
    VT_CHECK_VALUE(r >= 0, "Trying to create tensor with negative dimension ", r, ": ", shape_str(target));
  Tensor out = empty(target, self.dtype(), self.device());
  if (out.numel() == 0) return out;
  copy_(view(out, interleaved), expand(reshape(self, unit), interleaved));
  return out;
}

// ---- tril / triu ----------------------------------------------------------------------------------------
// Row i of each matrix keeps columns [lo, hi): tril keeps j <= i + diagonal, triu keeps j >= i + diagonal.
template <bool Lower>
Tensor triangle(const Tensor& self, int64_t diagonal, bool in_place, const char* op) {
  VT_CHECK_VALUE(self.dim() >= 2, op, ": input tensor must have at least 2 dimensions");
  if (in_place) check_writable(self, op);
  Tensor out = in_place ? self : empty(self.sizes(), self.dtype(), self.device());
  if (out.numel() == 0) return out;
  if (self.device().is_cuda()) {
    cuda::triangle(self, out, Lower, diagonal);
    return out;
  }
  const int64_t nd = self.dim(), m = self.sizes()[nd - 2], n = self.sizes()[nd - 1], rows = self.numel() / n;
  auto keep = [&](int64_t i, int64_t& lo, int64_t& hi) {
    lo = Lower ? 0 : std::clamp<int64_t>(i + diagonal, 0, n);
    hi = Lower ? std::clamp<int64_t>(i + diagonal + 1, 0, n) : n;
  };
  with_element_type(self.itemsize(), [&](auto tag) {
    using U = decltype(tag);
    const U* src = static_cast<const U*>(self.data());
    U* dst = static_cast<U*>(out.data());
    const int64_t ss = self.strides()[nd - 1];
    parallel_for(0, rows, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++) {
        int64_t lo, hi;
        keep(r % m, lo, hi);
        const int64_t so = row_offset(r, self.sizes(), self.strides());
        if (in_place) {
          zero_run(dst + so, ss, lo);
          zero_run(dst + so + hi * ss, ss, n - hi);
        } else {
          U* row = dst + r * n;
          zero_run(row, 1, lo);
          copy_run(row + lo, 1, src + so + lo * ss, ss, hi - lo);
          zero_run(row + hi, 1, n - hi);
        }
      }
    });
  });
  return out;
}

Tensor tril_k(const Tensor& self, int64_t diagonal) { return triangle<true>(self, diagonal, false, "tril"); }
Tensor triu_k(const Tensor& self, int64_t diagonal) { return triangle<false>(self, diagonal, false, "triu"); }
Tensor tril_ik(const Tensor& self, int64_t diagonal) { return triangle<true>(self, diagonal, true, "tril_"); }
Tensor triu_ik(const Tensor& self, int64_t diagonal) { return triangle<false>(self, diagonal, true, "triu_"); }

VT_REGISTER_KERNELS_ALL(m) {
  m.impl("flip", &flip_k);
  m.impl("roll", &roll_k);
  m.impl("repeat", &repeat_k);
  m.impl("tril", &tril_k);
  m.impl("triu", &triu_k);
  m.impl("tril_", &tril_ik);
  m.impl("triu_", &triu_ik);
}

}  // namespace
}  // namespace vt
