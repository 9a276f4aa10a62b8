// View and shape ops: metadata only, so one device-generic (Composite) kernel serves every device.
#include "ops/views.h"

#include <algorithm>

#include "dispatch/dispatcher.h"

namespace vt {

// ---- shape arithmetic -------------------------------------------------------------------------------
DimVec infer_size(IntArrayRef shape, int64_t numel) {
  DimVec out(shape);
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); i++) {
    if (shape[i] == -1) {
      VT_CHECK_VALUE(infer < 0, "only one dimension can be inferred");
      infer = int64_t(i);
    } else {
      VT_CHECK_VALUE(shape[i] >= 0, "invalid shape dimension ", shape[i]);
      known *= shape[i];
    }
  }
  bool ok = infer >= 0 ? (known > 0 && numel % known == 0) || (known == 0 && numel == 0 && false) : known == numel;
  VT_CHECK_VALUE(ok, "shape '", shape_str(shape), "' is invalid for input of size ", numel);
  if (infer >= 0) out[infer] = numel / known;
  return out;
}

std::optional<DimVec> view_strides(IntArrayRef os, IntArrayRef ost, IntArrayRef ns) {
  DimVec nst(ns.size());
  if (os.empty()) {
    for (auto& s : nst) s = 1;
    return nst;
  }
  int64_t numel = 1;
  for (int64_t s : os) numel *= s;
  if (numel == 0) return os.size() == ns.size() && std::equal(os.begin(), os.end(), ns.begin())
                             ? std::optional<DimVec>(DimVec(ost))
                             : std::optional<DimVec>(contiguous_strides(ns));
  // Walk both shapes from the innermost dim, matching contiguous chunks of the old layout.
  int64_t view_d = int64_t(ns.size()) - 1, chunk_base = ost.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(os.size()) - 1; d >= 0; d--) {
    tensor_numel *= os[d];
    if (d == 0 || (os[d - 1] != 1 && ost[d - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || ns[view_d] == 1)) {
        nst[view_d] = view_numel * chunk_base;
        view_numel *= ns[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base = ost[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return nst;
}

namespace {

// ---- kernels (Composite) ----------------------------------------------------------------------------
Tensor as_strided_k(const Tensor& self, IntArrayRef size, IntArrayRef stride, std::optional<int64_t> offset) {
  VT_CHECK_VALUE(size.size() == stride.size(), "as_strided: mismatch in length of strides and shape");
  int64_t off = offset.value_or(self.storage_offset());
  VT_CHECK_VALUE(off >= 0, "as_strided: negative storage offset ", off);
  int64_t n = numel_of(size), extent = 0;
  for (size_t i = 0; i < size.size(); i++) {
    VT_CHECK_VALUE(stride[i] >= 0, "as_strided: negative strides are not supported, got ", shape_str(stride));
    extent += (size[i] - 1) * stride[i];
  }
  size_t isz = self.itemsize(), cap = self.impl()->storage()->nbytes();
  if (n > 0)
    VT_CHECK_VALUE(size_t(off + extent + 1) * isz <= cap, "as_strided: sizes ", shape_str(size), ", strides ",
                   shape_str(stride), " and storage offset ", off, " need ", size_t(off + extent + 1) * isz,
                   " bytes, out of bounds for a storage of ", cap, " bytes");
  return make_view(self, DimVec(size), DimVec(stride), off);
}

Tensor view_k(const Tensor& self, IntArrayRef size) {
  DimVec shape = infer_size(size, self.numel());
  auto st = view_strides(self.sizes(), self.strides(), shape);
  VT_CHECK(st, "view size is not compatible with input tensor's size and stride (at least one dimension spans "
               "across two contiguous subspaces). Use .reshape(...) instead.");
  return make_view(self, shape, *st, self.storage_offset());
}

Tensor view_dtype_k(const Tensor& self, DType dtype) {
  size_t oi = self.itemsize(), ni = itemsize(dtype);
  if (oi == ni) return make_view(self, self.sizes(), self.strides(), self.storage_offset(), dtype);
  VT_CHECK_VALUE(self.dim() > 0, "view(dtype): a 0-d tensor can only be viewed as a dtype of the same size");
  VT_CHECK_VALUE(self.strides().back() == 1, "view(dtype): the last dimension must have stride 1 to change the "
                 "element size");
  DimVec sizes = self.sizes(), strides = self.strides();
  int64_t last = sizes.back() * int64_t(oi);
  VT_CHECK_VALUE(last % int64_t(ni) == 0, "view(dtype): the last dimension's size in bytes (", last,
                 ") must be divisible by the new element size ", ni);
  for (size_t d = 0; d + 1 < strides.size(); d++) {
    VT_CHECK_VALUE(strides[d] * int64_t(oi) % int64_t(ni) == 0, "view(dtype): stride ", strides[d],
                   " is not compatible with the new element size");
    strides[d] = strides[d] * int64_t(oi) / int64_t(ni);
  }
  int64_t off_bytes = self.storage_offset() * int64_t(oi);
  VT_CHECK_VALUE(off_bytes % int64_t(ni) == 0, "view(dtype): storage offset is not aligned to the new dtype");
  sizes[sizes.size() - 1] = last / int64_t(ni);
  return make_view(self, sizes, strides, off_bytes / int64_t(ni), dtype);
}

Tensor reshape_k(const Tensor& self, IntArrayRef shape) {
  DimVec s = infer_size(shape, self.numel());
  if (view_strides(self.sizes(), self.strides(), s)) return view(self, s);
  return view(contiguous(self), s);
}

Tensor permute_k(const Tensor& self, IntArrayRef dims) {
  int64_t n = self.dim();
  VT_CHECK_VALUE(int64_t(dims.size()) == n, "permute(): number of dims don't match: the tensor has ", n,
                 " dimensions but ", dims.size(), " were given");
  DimVec sizes(n), strides(n);
  std::vector<bool> seen(n, false);
  for (int64_t i = 0; i < n; i++) {
    int64_t d = wrap_dim(dims[i], n, "permute");
    VT_CHECK_VALUE(!seen[d], "permute(): duplicate dims are not allowed");
    seen[d] = true;
    sizes[i] = self.sizes()[d];
    strides[i] = self.strides()[d];
  }
  return make_view(self, sizes, strides, self.storage_offset());
}

Tensor transpose_k(const Tensor& self, int64_t d0, int64_t d1) {
  int64_t n = self.dim();
  d0 = wrap_dim(d0, n, "transpose");
  d1 = wrap_dim(d1, n, "transpose");
  DimVec sizes = self.sizes(), strides = self.strides();
  if (n > 0) {
    std::swap(sizes[d0], sizes[d1]);
    std::swap(strides[d0], strides[d1]);
  }
  return make_view(self, sizes, strides, self.storage_offset());
}

Tensor t_k(const Tensor& self) {
  VT_CHECK_VALUE(self.dim() <= 2, "t() expects a tensor with <= 2 dimensions, but self is ", self.dim(), "D");
  return self.dim() < 2 ? transpose(self, 0, 0) : transpose(self, 0, 1);
}

Tensor expand_k(const Tensor& self, IntArrayRef size) {
  int64_t n = int64_t(size.size()), nd = self.dim();
  VT_CHECK_VALUE(n >= nd, "expand: the number of sizes provided (", n,
                 ") must be greater or equal to the number of dimensions in the tensor (", nd, ")");
  DimVec sizes(n), strides(n);
  for (int64_t i = n - 1; i >= 0; i--) {
    int64_t j = i - (n - nd);
    int64_t want = size[i];
    if (j < 0) {
      VT_CHECK_VALUE(want >= 0, "expand: the expanded size of the tensor (", want,
                     ") isn't allowed in a leading, non-existing dimension ", i);
      sizes[i] = want;
      strides[i] = 0;
      continue;
    }
    int64_t have = self.sizes()[j];
    if (want == -1) want = have;
    VT_CHECK_VALUE(have == want || have == 1, "expand: the expanded size of the tensor (", want,
                   ") must match the existing size (", have, ") at non-singleton dimension ", i,
                   ".  Target sizes: ", shape_str(size), ".  Tensor sizes: ", shape_str(self.sizes()));
    VT_CHECK_VALUE(want >= 0, "expand: invalid size ", want);
    sizes[i] = want;
    strides[i] = have == want ? self.strides()[j] : 0;
  }
  return make_view(self, sizes, strides, self.storage_offset());
}

Tensor squeeze_k(const Tensor& self, std::optional<IntArrayRef> dims) {
  int64_t n = self.dim();
  std::vector<bool> drop(n, false);
  if (!dims) {
    for (int64_t d = 0; d < n; d++) drop[d] = self.sizes()[d] == 1;
  } else {
    for (int64_t d : *dims) {
      int64_t w = wrap_dim(d, n, "squeeze");
      if (n > 0 && self.sizes()[w] == 1) drop[w] = true;
    }
  }
  DimVec sizes, strides;
  for (int64_t d = 0; d < n; d++)
    if (!drop[d]) {
      sizes.push_back(self.sizes()[d]);
      strides.push_back(self.strides()[d]);
    }
  return make_view(self, sizes, strides, self.storage_offset());
}

Tensor unsqueeze_k(const Tensor& self, int64_t dim) {
  int64_t n = self.dim();
  dim = wrap_dim(dim, n + 1, "unsqueeze");
  DimVec sizes = self.sizes(), strides = self.strides();
  int64_t st = dim < n ? sizes[dim] * strides[dim] : 1;
  sizes.insert(size_t(dim), 1);
  strides.insert(size_t(dim), st);
  return make_view(self, sizes, strides, self.storage_offset());
}

Tensor select_k(const Tensor& self, int64_t dim, int64_t index) {
  VT_CHECK_INDEX(self.dim() > 0, "select() cannot be applied to a 0-dim tensor.");
  dim = wrap_dim(dim, self.dim(), "select");
  int64_t size = self.sizes()[dim];
  VT_CHECK_INDEX(index >= -size && index < size, "select(): index ", index, " out of range for tensor of size ",
                 shape_str(self.sizes()), " at dimension ", dim);
  if (index < 0) index += size;
  DimVec sizes = self.sizes(), strides = self.strides();
  int64_t off = self.storage_offset() + index * strides[dim];
  sizes.erase(size_t(dim));
  strides.erase(size_t(dim));
  return make_view(self, sizes, strides, off);
}

Tensor slice_k(const Tensor& self, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end,
               int64_t step) {
  VT_CHECK_INDEX(self.dim() > 0, "slice() cannot be applied to a 0-dim tensor.");
  dim = wrap_dim(dim, self.dim(), "slice");
  VT_CHECK_VALUE(step > 0, "slice step must be positive");
  int64_t size = self.sizes()[dim];
  int64_t b = start.value_or(0), e = end.value_or(size);
  if (b < 0) b += size;
  if (e < 0) e += size;
  b = std::clamp<int64_t>(b, 0, size);
  e = std::clamp<int64_t>(e, b, size);
  DimVec sizes = self.sizes(), strides = self.strides();
  int64_t off = self.storage_offset() + b * strides[dim];
  sizes[dim] = (e - b + step - 1) / step;
  strides[dim] *= step;
  return make_view(self, sizes, strides, off);
}

Tensor narrow_k(const Tensor& self, int64_t dim, int64_t start, int64_t length) {
  VT_CHECK_INDEX(self.dim() > 0, "narrow() cannot be applied to a 0-dim tensor.");
  dim = wrap_dim(dim, self.dim(), "narrow");
  int64_t size = self.sizes()[dim];
  VT_CHECK_INDEX(start >= -size && start <= size, "narrow(): start ", start, " out of range for dimension of size ",
                 size);
  if (start < 0) start += size;
  VT_CHECK_VALUE(length >= 0 && start + length <= size, "narrow(): start (", start, ") + length (", length,
                 ") exceeds dimension size (", size, ").");
  return slice(self, dim, start, start + length, 1);
}

Tensor flatten_k(const Tensor& self, int64_t start, int64_t end) {
  int64_t n = self.dim();
  start = wrap_dim(start, n, "flatten");
  end = wrap_dim(end, n, "flatten");
  VT_CHECK_VALUE(start <= end, "flatten() has invalid args: start_dim cannot come after end_dim");
  if (n == 0) return reshape(self, DimVec{1});
  if (start == end) return self;
  DimVec shape;
  for (int64_t d = 0; d < start; d++) shape.push_back(self.sizes()[d]);
  int64_t m = 1;
  for (int64_t d = start; d <= end; d++) m *= self.sizes()[d];
  shape.push_back(m);
  for (int64_t d = end + 1; d < n; d++) shape.push_back(self.sizes()[d]);
  return reshape(self, shape);
}

Tensor unflatten_k(const Tensor& self, int64_t dim, IntArrayRef sizes) {
  dim = wrap_dim(dim, self.dim(), "unflatten");
  VT_CHECK_VALUE(!sizes.empty(), "unflatten: sizes must be non-empty");
  DimVec inner = infer_size(sizes, self.dim() ? self.sizes()[dim] : 1);
  DimVec shape;
  for (int64_t d = 0; d < self.dim(); d++) {
    if (d == dim) for (int64_t s : inner) shape.push_back(s);
    else shape.push_back(self.sizes()[d]);
  }
  return view(self, shape);
}

Tensor movedim_k(const Tensor& self, IntArrayRef src, IntArrayRef dst) {
  int64_t n = self.dim();
  VT_CHECK_VALUE(src.size() == dst.size(), "movedim: Invalid source or destination dims: source (",
                 shape_str(src), ") and destination (", shape_str(dst), ") must have the same number of elements");
  if (n == 0) {  // a 0-d tensor: dim 0 (or -1) names it and moving it changes nothing; the tables below are empty
    for (size_t i = 0; i < src.size(); i++) wrap_dim(src[i], 0, "movedim"), wrap_dim(dst[i], 0, "movedim");
    return permute(self, std::vector<int64_t>{});
  }
  std::vector<int64_t> perm(n, -1);
  std::vector<bool> used(n, false), placed(n, false);
  for (size_t i = 0; i < src.size(); i++) {
    int64_t s = wrap_dim(src[i], n, "movedim"), d = wrap_dim(dst[i], n, "movedim");
    VT_CHECK_VALUE(!used[s] && !placed[d], "movedim: repeated dim in source or destination");
    perm[d] = s;
    used[s] = placed[d] = true;
  }
  int64_t next = 0;
  for (int64_t d = 0; d < n; d++) {
    if (perm[d] >= 0) continue;
    while (used[next]) next++;
    perm[d] = next;
    used[next] = true;
  }
  return permute(self, perm);
}

Tensor diagonal_k(const Tensor& self, int64_t offset, int64_t d1, int64_t d2) {
  int64_t n = self.dim();
  VT_CHECK_VALUE(n >= 2, "diagonal: the input must have at least 2 dimensions");
  d1 = wrap_dim(d1, n, "diagonal");
  d2 = wrap_dim(d2, n, "diagonal");
  VT_CHECK_VALUE(d1 != d2, "diagonal dimensions cannot be identical ", d1, ", ", d2);
  int64_t len, off = self.storage_offset();
  if (offset >= 0) {
    len = std::max<int64_t>(std::min(self.sizes()[d1], self.sizes()[d2] - offset), 0);
    if (len > 0) off += offset * self.strides()[d2];
  } else {
    len = std::max<int64_t>(std::min(self.sizes()[d1] + offset, self.sizes()[d2]), 0);
    if (len > 0) off -= offset * self.strides()[d1];
  }
  DimVec sizes, strides;
  for (int64_t d = 0; d < n; d++)
    if (d != d1 && d != d2) {
      sizes.push_back(self.sizes()[d]);
      strides.push_back(self.strides()[d]);
    }
  sizes.push_back(len);
  strides.push_back(self.strides()[d1] + self.strides()[d2]);
  return make_view(self, sizes, strides, off);
}

TensorList unbind_k(const Tensor& self, int64_t dim) {
  VT_CHECK_INDEX(self.dim() > 0, "unbind() cannot be applied to a 0-dim tensor.");
  dim = wrap_dim(dim, self.dim(), "unbind");
  TensorList out;
  for (int64_t i = 0; i < self.sizes()[dim]; i++) out.push_back(select(self, dim, i));
  return out;
}

TensorList split_sizes_k(const Tensor& self, IntArrayRef sizes, int64_t dim) {
  VT_CHECK_INDEX(self.dim() > 0, "split() cannot be applied to a 0-dim tensor.");
  dim = wrap_dim(dim, self.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    VT_CHECK_VALUE(s >= 0, "split_with_sizes expects split_sizes have only non-negative entries, but got ",
                   shape_str(sizes));
    total += s;
  }
  VT_CHECK_VALUE(total == self.sizes()[dim], "split_with_sizes expects split_sizes to sum exactly to ",
                 self.sizes()[dim], " (input tensor's size at dimension ", dim, "), but got split_sizes=",
                 shape_str(sizes));
  TensorList out;
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(slice(self, dim, start, start + s, 1));
    start += s;
  }
  return out;
}

TensorList split_k(const Tensor& self, int64_t split_size, int64_t dim) {
  VT_CHECK_INDEX(self.dim() > 0, "split() cannot be applied to a 0-dim tensor.");
  dim = wrap_dim(dim, self.dim(), "split");
  int64_t size = self.sizes()[dim];
  VT_CHECK_VALUE(split_size > 0 || size == 0, "split expects split_size be non-negative, but got split_size=",
                 split_size);
  DimVec sizes;
  for (int64_t start = 0; start < size; start += split_size) sizes.push_back(std::min(split_size, size - start));
  if (size == 0) sizes.push_back(0);
  return split_sizes_k(self, sizes, dim);
}

TensorList chunk_k(const Tensor& self, int64_t chunks, int64_t dim) {
  VT_CHECK_VALUE(chunks > 0, "chunk expects `chunks` to be greater than 0, got: ", chunks);
  VT_CHECK_INDEX(self.dim() > 0, "chunk() cannot be applied to a 0-dim tensor.");
  int64_t size = self.sizes()[wrap_dim(dim, self.dim(), "chunk")];
  return split_k(self, std::max<int64_t>((size + chunks - 1) / chunks, size == 0 ? 0 : 1), dim);
}

Tensor contiguous_k(const Tensor& self) {
  if (self.is_contiguous()) return self;
  return copy_(empty(self.sizes(), self.dtype(), self.device()), self);
}

VT_REGISTER_KERNELS(Composite, m) {
  m.impl("as_strided", &as_strided_k);
  m.impl("view", &view_k);
  m.impl("view.dtype", &view_dtype_k);
  m.impl("reshape", &reshape_k);
  m.impl("permute", &permute_k);
  m.impl("transpose", &transpose_k);
  m.impl("t", &t_k);
  m.impl("expand", &expand_k);
  m.impl("squeeze", &squeeze_k);
  m.impl("unsqueeze", &unsqueeze_k);
  m.impl("select", &select_k);
  m.impl("slice", &slice_k);
  m.impl("narrow", &narrow_k);
  m.impl("flatten", &flatten_k);
  m.impl("unflatten", &unflatten_k);
  m.impl("movedim", &movedim_k);
  m.impl("diagonal", &diagonal_k);
  m.impl("unbind", &unbind_k);
  m.impl("split", &split_k);
  m.impl("split.sizes", &split_sizes_k);
  m.impl("chunk", &chunk_k);
  m.impl("contiguous", &contiguous_k);
}

}  // namespace

// ---- dispatcher-calling entry points ----------------------------------------------------------------
#define VT_OP_HANDLE(var, sig, name) static TypedOp<sig> var(name)
Tensor as_strided(const Tensor& self, IntArrayRef size, IntArrayRef stride, std::optional<int64_t> offset) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, IntArrayRef, IntArrayRef, std::optional<int64_t>), "as_strided");
  return op(self, size, stride, offset);
}
Tensor view(const Tensor& self, IntArrayRef size) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, IntArrayRef), "view");
  return op(self, size);
}
Tensor reshape(const Tensor& self, IntArrayRef shape) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, IntArrayRef), "reshape");
  return op(self, shape);
}
Tensor permute(const Tensor& self, IntArrayRef dims) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, IntArrayRef), "permute");
  return op(self, dims);
}
Tensor transpose(const Tensor& self, int64_t d0, int64_t d1) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, int64_t, int64_t), "transpose");
  return op(self, d0, d1);
}
Tensor expand(const Tensor& self, IntArrayRef size) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, IntArrayRef), "expand");
  return op(self, size);
}
Tensor squeeze(const Tensor& self, std::optional<IntArrayRef> dims) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, std::optional<IntArrayRef>), "squeeze");
  return op(self, dims);
}
Tensor unsqueeze(const Tensor& self, int64_t dim) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, int64_t), "unsqueeze");
  return op(self, dim);
}
Tensor select(const Tensor& self, int64_t dim, int64_t index) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, int64_t, int64_t), "select");
  return op(self, dim, index);
}
Tensor slice(const Tensor& self, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, int64_t, std::optional<int64_t>, std::optional<int64_t>, int64_t), "slice");
  return op(self, dim, start, end, step);
}
Tensor narrow(const Tensor& self, int64_t dim, int64_t start, int64_t length) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, int64_t, int64_t, int64_t), "narrow");
  return op(self, dim, start, length);
}
Tensor movedim(const Tensor& self, IntArrayRef source, IntArrayRef destination) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, IntArrayRef, IntArrayRef), "movedim");
  return op(self, source, destination);
}
Tensor contiguous(const Tensor& self) {
  VT_OP_HANDLE(op, Tensor(const Tensor&), "contiguous");
  return op(self);
}
Tensor clone(const Tensor& self) {
  VT_OP_HANDLE(op, Tensor(const Tensor&), "clone");
  return op(self);
}
Tensor copy_(const Tensor& self, const Tensor& src) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, const Tensor&, bool), "copy_");
  return op(self, src, false);
}
Tensor to_dtype(const Tensor& self, DType dtype) {
  VT_OP_HANDLE(op, Tensor(const Tensor&, std::optional<DType>, std::optional<Device>, bool), "_to_copy");
  return self.dtype() == dtype ? self : op(self, dtype, std::nullopt, false);
}
Tensor to_host(const Tensor& t) {
  if (t.device().is_cpu()) return t;
  Tensor h = empty(t.sizes(), t.dtype());
  copy_(h, t);
  return h;
}
Scalar host_item(const Tensor& t) {
  VT_CHECK_VALUE(t.numel() == 1, "a Tensor with ", t.numel(), " elements cannot be converted to Scalar");
  return item(to_host(t));
}
#undef VT_OP_HANDLE

}  // namespace vt
