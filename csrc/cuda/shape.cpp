// flip and tril/triu on CUDA. flip reuses the generated elementwise copy kernel (kernels/triton/
// elementwise.py, layout "g<ndim>t") with the flipped dims' strides negated; tril/triu have their own
// kernel (kernels/triton/shape.py) that moves elements as integers of their size.
#include <algorithm>

#include "cuda/device.h"
#include "cuda/dim_kernels.h"
#include "cuda/kernel_library.h"
#include "cuda/reduce.h"
#include "ops/views.h"

namespace vt::cuda {

void strided_gather_copy(const Tensor& out, const Tensor& self, int64_t base, IntArrayRef strides) {
  if (out.numel() == 0) return;
  VT_CHECK(out.is_contiguous(), "strided_gather_copy: the output must be contiguous");
  activate(out.device().index);
  // Innermost first (the elementwise kernel's order), size-1 dims dropped, neighbours merged where the
  // source steps evenly across them (the contiguous output always does).
  std::vector<int64_t> sizes, in_strides;
  for (int64_t d = out.dim() - 1; d >= 0; d--) {
    int64_t n = out.sizes()[d], st = strides[size_t(d)];
    if (n == 1) continue;
    if (!sizes.empty() && st == in_strides.back() * sizes.back()) {
      sizes.back() *= n;
      continue;
    }
    sizes.push_back(n);
    in_strides.push_back(st);
  }
  if (sizes.empty()) {
    sizes.push_back(1);
    in_strides.push_back(0);
  }
  const int nd = int(sizes.size());
  const std::string dt = dtype_name(out.dtype());
  const Kernel& k = kernel("ew|copy|" + dt + "|" + dt + "|g" + std::to_string(nd) + "t|0");
  const char* src = static_cast<const char*>(self.data()) + base * int64_t(self.itemsize());
  std::vector<KernelArg> args{KernelArg::ptr(out.data()), KernelArg::ptr(src), KernelArg::i64v(out.numel())};
  for (int64_t n : sizes) args.push_back(KernelArg::i64v(n));
  int64_t os = 1;  // the output's strides, innermost first
  for (int64_t n : sizes) {
    args.push_back(KernelArg::i64v(os));
    os *= n;
  }
  for (int64_t st : in_strides) args.push_back(KernelArg::i64v(st));
  constexpr int64_t kEwBlock = 1024;  // elements per program of the elementwise kernels (elementwise.cpp)
  int64_t blocks = (out.numel() + kEwBlock - 1) / kEwBlock;
  VT_CHECK(blocks < (int64_t(1) << 31), "flip: tensor too large for one launch");
  k.launch(uint32_t(blocks), 1, 1, args, current_stream(out.device().index));
}

void triangle(const Tensor& self, const Tensor& out, bool lower, int64_t diagonal) {
  if (out.numel() == 0) return;
  const int64_t nd = self.dim(), M = self.sizes()[nd - 2], N = self.sizes()[nd - 1];
  const bool in_place = self.is_same(out);
  int64_t B, sb, ob;
  if (!merge_dims(self, 0, nd - 2, B, sb)) {  // batch dims that do not step evenly: go through a dense copy
    Tensor dense = contiguous(self);
    if (!in_place) return triangle(dense, out, lower, diagonal);
    triangle(dense, dense, lower, diagonal);
    copy_(self, dense);
    return;
  }
  VT_CHECK(merge_dims(out, 0, nd - 2, B, ob), "tril/triu: the output's batch dims must merge");
  activate(self.device().index);
  static const char* etypes[] = {nullptr, "int8", "int16", nullptr, "int32", nullptr, nullptr, nullptr, "int64"};
  constexpr int64_t kBlock = 1024;
  const int64_t tiles = (M * N + kBlock - 1) / kBlock;
  VT_CHECK(B * tiles < (int64_t(1) << 31), "tril/triu: tensor too large for one launch");
  const Kernel& k = kernel(std::string("tri|") + (lower ? "1" : "0") + "|" + etypes[self.itemsize()] + "|" +
                           (in_place ? "1" : "0") + "|" + std::to_string(kBlock));
  std::vector<KernelArg> args{KernelArg::ptr(self.data()), KernelArg::ptr(out.data())};
  for (int64_t v : {M, N, tiles, sb, self.strides()[nd - 2], self.strides()[nd - 1], ob, out.strides()[nd - 2],
                    out.strides()[nd - 1], diagonal})
    args.push_back(KernelArg::i64v(v));
  k.launch(uint32_t(B * tiles), 1, 1, args, current_stream(out.device().index));
}

}  // namespace vt::cuda
