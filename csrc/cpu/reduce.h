// Shared machinery of the CPU reductions (sum, prod, max, argmax, var, norm, logsumexp, any ...).
//
// A reduction is described by an "ops" struct; the driver here walks the input and calls it:
//
//   struct Ops {
//     using acc_t = ...;                                   // the running state (a sum, {value, index} ...)
//     acc_t identity() const;                              // the state before any element
//     acc_t run(acc_t a, const char* p, int64_t stride, int64_t n, int64_t idx0) const;
//         // folds n elements p, p+stride, ... (byte stride) into a; idx0: reduce index of the first
//     void lanes(acc_t* buf, const char* p, int64_t stride, int64_t n, int64_t idx) const;
//         // folds element j (at p + j*stride) into buf[j], j < n: one row (reduce index idx) of n outputs
//     acc_t combine(acc_t a, acc_t b) const;               // merges two states; a covers earlier indices
//     void store(char* const* out, acc_t a) const;         // writes the result into each output's element
//     static constexpr bool kIndexed = true;               // optional: rows must be folded one at a time
//   };
//
// The iterator (ops/iterator.h) orders dims innermost-first by input stride and coalesces them. Then
// either each output folds its own runs of input ("runs": the innermost dim is reduced; `run` uses
// vector accumulators or cascade summation), or a block of neighbouring outputs is folded one input row
// at a time ("lanes": out[j] op= in[j], which vectorises), chosen when the innermost dim is kept or the
// reduced runs are short. Long folds are merged pairwise through a binary counter (Cascade, in
// reduce_fold.h), so float32 sums of millions of elements stay accurate. Threads split the outputs when
// there are enough of them, otherwise the reduced range (per-thread partial states, combined in order);
// no two threads ever write the same output element.
#pragma once
#include <array>
#include <limits>
#include <optional>

#include "cpu/cast.h"
#include "cpu/math.h"
#include "cpu/reduce_driver.h"
#include "cpu/reduce_fold.h"
#include "ops/iterator.h"
#include "ops/views.h"

namespace vt::reduce {

// Integer sums and products accumulate in uint64: it wraps like int64 two's complement, without UB.
template <class T> using sum_acc_t = std::conditional_t<std::is_integral_v<T>, uint64_t, opmath_t<T>>;
// Where integer (and bool) sums and products land: int64, like PyTorch.
template <class T> using sum_out_t = std::conditional_t<std::is_integral_v<T>, int64_t, T>;

// PyTorch's names for dtypes, for the messages whose wording PyTorch users search for.
inline const char* torch_type_name(DType d) {
  static constexpr const char* names[] = {"Bool", "Byte", "Char", "Short", "Int",
                                          "Long", "Half", "BFloat16", "Float", "Double"};
  return names[int(d)];
}

// ---- dims ------------------------------------------------------------------------------------------
// `dim=None` and `dim=[]` both reduce every dim (PyTorch does the same for sum, mean, amax ...).
inline bool reduces_all(std::optional<IntArrayRef> dims) { return !dims || dims->empty(); }

// A single optional dim (`int? dim`) as a list.
inline std::optional<IntArrayRef> one_dim(const std::optional<int64_t>& dim) {
  if (!dim) return std::nullopt;
  return IntArrayRef(&*dim, 1);
}

// How many input elements fold into each output.
inline int64_t reduced_count(const Tensor& self, std::optional<IntArrayRef> dims, const char* op) {
  if (reduces_all(dims)) return self.numel();
  ReduceDims rd = make_reduce_dims(self, dims, false, op);
  int64_t n = 1;
  for (size_t d = 0; d < rd.mask.size(); d++) n *= rd.mask[d] ? self.sizes()[d] : 1;
  return n;
}

// max/min/argmax... have no identity: an empty reduced range is an error, worded like PyTorch's.
inline void check_nonempty(const Tensor& self, std::optional<IntArrayRef> dims, const char* op) {
  if (self.numel() != 0) return;
  VT_CHECK(!reduces_all(dims) && self.dim() > 0, op, "(): Expected reduction dim to be specified for "
           "input.numel() == 0. Specify the reduction dim with the 'dim' argument.");
  ReduceDims rd = make_reduce_dims(self, dims, false, op);
  for (size_t d = 0; d < rd.mask.size(); d++)
    VT_CHECK_INDEX(!rd.mask[d] || self.sizes()[d] != 0, op, "(): Expected reduction dim ", d,
                   " to have non-zero size.");
}

// The keepdim-shaped view of an output allocated without the reduced dims (their strides do not matter:
// the iterator's view zeroes them).
inline Tensor with_reduced_dims(const Tensor& out, const ReduceDims& rd) {
  if (out.dim() == int64_t(rd.out_shape.size())) return out;
  DimVec strides(rd.out_shape.size(), 0);
  for (size_t d = 0, k = 0; d < rd.mask.size(); d++)
    if (!rd.mask[d]) strides[d] = out.strides()[k++];
  return make_view(out, rd.out_shape, strides, out.storage_offset());
}


// Reduces `self` over `dims` with `ops` into N fresh contiguous outputs of the given dtypes (like
// PyTorch's). An empty reduced range stores the identity. The commonest call, every dim of a contiguous
// tensor (`x.sum()`), allocates nothing but its output.
template <class Ops, size_t N>
std::array<Tensor, N> reduce_n(const char* name, const Ops& ops, const Tensor& self, std::optional<IntArrayRef> dims,
                               bool keepdim, const std::array<DType, N>& dtypes) {
  std::array<Tensor, N> outs;
  std::array<char*, N> p;
  auto flat = [&] {
    for (size_t k = 0; k < N; k++) p[k] = static_cast<char*>(outs[k].data());
    ops.store(p.data(), detail::run_flat(ops, static_cast<const char*>(self.data()), int64_t(self.itemsize()),
                                         self.numel()));
  };
  if (reduces_all(dims) && self.is_contiguous() && self.numel() > 0) {
    DimVec shape(keepdim ? size_t(self.dim()) : 0, 1);
    for (size_t k = 0; k < N; k++) outs[k] = empty(shape, dtypes[k], self.device());
    flat();
    return outs;
  }
  ReduceDims rd = make_reduce_dims(self, dims, keepdim, name);
  for (size_t k = 0; k < N; k++) outs[k] = empty(rd.kept_shape, dtypes[k], self.device());
  int64_t nout = outs[0].numel();
  if (self.numel() == 0) {
    for (int64_t i = 0; i < nout; i++) {
      for (size_t k = 0; k < N; k++) p[k] = static_cast<char*>(outs[k].data()) + i * int64_t(outs[k].itemsize());
      ops.store(p.data(), ops.identity());
    }
  } else if (nout == 1 && self.is_contiguous()) {
    flat();
  } else {
    TensorIterator it = TensorIteratorConfig(name)
                            .add_output(restride_for_reduction(with_reduced_dims(outs[0], rd), self, rd))
                            .add_input(self)
                            .promote_inputs(false)
                            .output_dtype(dtypes[0])
                            .is_reduction(true)
                            .build();
    detail::run_iter(ops, it, outs);
  }
  return outs;
}

template <class Ops>
Tensor reduce1(const char* name, const Ops& ops, const Tensor& self, std::optional<IntArrayRef> dims, bool keepdim,
               DType dt) {
  return reduce_n<Ops, 1>(name, ops, self, dims, keepdim, {dt})[0];
}

}  // namespace vt::reduce
