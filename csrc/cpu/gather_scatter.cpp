// gather, scatter(_) (tensor or Python-number source; reduce None, 'add' or 'multiply') and scatter_add(_)
// on CPU, with PyTorch's shape rules: index has self's number of dims, and may be smaller than self (and
// than src) in every dim except `dim`. Indices are never wrapped: they must lie in [0, self.size(dim)).
//
// gather walks the index's whole shape (each output element is independent). scatter walks the index
// with `dim` squashed to size 1 and loops along `dim` inside: every write of one iteration element lands
// on a line of self along `dim` that no other element touches, so threads never race, and duplicate
// indices apply in order (the last one wins for plain scatter).
#include <cstdlib>

#include "cpu/index_checks.h"
#include "cpu/index_utils.h"
#include "dispatch/dispatcher.h"
#include "ops/iterator.h"
#include "ops/views.h"

namespace vt {
namespace {

// self's strides over another shape (the index's): the loops address self themselves along `dim`.
Tensor view_over(const Tensor& t, IntArrayRef shape, int64_t zero_dim) {
  DimVec st = t.strides();
  if (zero_dim >= 0) st[zero_dim] = 0;
  return make_view(t, DimVec(shape), std::move(st), t.storage_offset());
}

Tensor gather_k(const Tensor& self, int64_t dim, const Tensor& index) {
  GatherArgs a = prepare_gather(self, dim, index);
  const Tensor &s = a.self, &idx = a.index;
  dim = a.dim;
  Tensor out = empty(index.sizes(), self.dtype(), self.device());
  if (out.numel() == 0) return out;
  const int64_t size = s.sizes()[dim], step = s.strides()[dim] * int64_t(s.itemsize());
  TensorIterator it = TensorIteratorConfig("gather").add_input(at_least_1d(out)).add_input(view_over(s, idx.sizes(), dim))
                          .add_input(idx).promote_inputs(false).build();
  dispatch_itemsize(self.itemsize(), [&](auto tag) {
    using T = decltype(tag);
    it.for_each([&](char** p, const int64_t* st, int64_t n) {
      auto one = [&](T* o, const char* row, int64_t v) {
        if (__builtin_expect(uint64_t(v) >= uint64_t(size), 0)) throw_index_out_of_bounds(v, dim, size, "gather(): ");
        *o = *reinterpret_cast<const T*>(row + v * step);
      };
      if (st[0] == int64_t(sizeof(T)) && st[1] == 0 && st[2] == 8) {  // gathering along the innermost dim
        T* o = reinterpret_cast<T*>(p[0]);
        const int64_t* ix = reinterpret_cast<const int64_t*>(p[2]);
        for (int64_t i = 0; i < n; i++) one(o + i, p[1], ix[i]);
      } else {
        for (int64_t i = 0; i < n; i++)
          one(reinterpret_cast<T*>(p[0] + i * st[0]), p[1] + i * st[1], *reinterpret_cast<const int64_t*>(p[2] + i * st[2]));
      }
    });
  });
  return out;
}

// self[.., index[i..], ..] (op)= src[i..] for every position of index (src: a Python number when `scalar`).
void scatter_into(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src_in, Reduce reduce,
                  const char* name, const char* prefix) {
  GatherArgs a = prepare_scatter(self, dim, index, src_in, name);
  const Tensor &s = a.self, &idx = a.index, &src = a.src;
  const bool scalar = a.scalar;
  dim = a.dim;
  if (idx.numel() == 0) return;
  check_index_range(idx, s.sizes()[dim], dim, prefix);  // all of it, before the first write

  DimVec squashed = idx.sizes();
  const int64_t len = squashed[dim];
  squashed[dim] = 1;
  const size_t isz = s.itemsize();
  const int64_t step = s.strides()[dim] * int64_t(isz), istep = idx.strides()[dim] * 8;
  const int64_t sstep = scalar ? 0 : src.strides()[dim] * int64_t(isz);
  Tensor srcv = scalar ? make_view(src, squashed, DimVec(squashed.size(), 0), src.storage_offset())
                       : view_over(src, squashed, -1);
  TensorIterator it = TensorIteratorConfig(name).add_input(view_over(s, squashed, -1)).add_input(view_over(idx, squashed, -1))
                          .add_input(srcv).promote_inputs(false).build();
  VT_DISPATCH_ALL(self.dtype(), name, [&] {
    using M = opmath_t<scalar_t>;
    auto run = [&](auto combine) {
      it.for_each([&](char** p, const int64_t* st, int64_t n) {
        // Element i of the run owns one line of self along dim; k walks that line's index entries.
        auto apply = [&](int64_t i, int64_t k) {
          const int64_t v = *reinterpret_cast<const int64_t*>(p[1] + i * st[1] + k * istep);
          scalar_t* x = reinterpret_cast<scalar_t*>(p[0] + i * st[0] + v * step);
          *x = combine(*x, *reinterpret_cast<const scalar_t*>(p[2] + i * st[2] + k * sstep));
        };
        // Loop innermost over whichever direction the index is denser in (a line's entries still apply
        // in order either way, so the result is the same).
        if (n == 1 || std::abs(istep) <= std::abs(st[1])) {
          for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < len; k++) apply(i, k);
        } else {
          for (int64_t k = 0; k < len; k++)
            for (int64_t i = 0; i < n; i++) apply(i, k);
        }
      }, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(len, 1)));
    };
    switch (reduce) {
      case Reduce::None: run([](scalar_t, scalar_t y) { return y; }); break;
      case Reduce::Add: run([](scalar_t x, scalar_t y) { return static_cast<scalar_t>(M(x) + M(y)); }); break;
      case Reduce::Multiply: run([](scalar_t x, scalar_t y) { return static_cast<scalar_t>(M(x) * M(y)); }); break;
    }
  });
}

Tensor scatter_ik(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                  std::optional<std::string_view> reduce) {
  scatter_into(self, dim, index, src, parse_reduce(reduce), "scatter_()", "scatter(): ");
  return self;
}
Tensor scatter_k(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src,
                 std::optional<std::string_view> reduce) {
  Reduce r = parse_reduce(reduce);
  Tensor out = clone(self);
  scatter_into(out, dim, index, src, r, "scatter()", "scatter(): ");
  return out;
}
Tensor scatter_add_ik(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  scatter_into(self, dim, index, src, Reduce::Add, "scatter_add_()", "scatter_add(): ");
  return self;
}
Tensor scatter_add_k(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = clone(self);
  scatter_into(out, dim, index, src, Reduce::Add, "scatter_add()", "scatter_add(): ");
  return out;
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("gather", &gather_k);
  m.impl("scatter", &scatter_k);
  m.impl("scatter_", &scatter_ik);
  m.impl("scatter_add", &scatter_add_k);
  m.impl("scatter_add_", &scatter_add_ik);
}

}  // namespace
}  // namespace vt
