// GEMMs through the generated Triton kernel (kernels/triton/matmul.py), when cuBLASLt is not available:
//
//   mm|<dtype>|<out dtype>|<tf32 0/1>|<A r/c><B r/c><C n/g>|<BLOCK_M>|<BLOCK_N>|<BLOCK_K>
//
// Arguments, in the generator's order: a, b, c, out pointers; M, N, K; A's batch, row and column strides; B's;
// C's (zeros without C); alpha and beta as float64. Grid: (tiles of out, batches), batches in chunks of 65535.
#include <algorithm>

#include "cuda/blas.h"
#include "cuda/kernel_library.h"

namespace vt::cuda {

namespace {

int64_t tile(int64_t extent, int64_t cap) {
  int64_t t = 16;  // tl.dot needs at least 16 along each dim
  while (t < extent && t < cap) t <<= 1;
  return t;
}

}  // namespace

void triton_gemm(const GemmProblem& p) {
  // Tensor-core dtypes (and TF32) take 128 x 128 tiles; exact float32 and float64 run on FMA units, where
  // a 64 x 64 tile keeps the accumulator in registers with 4 warps.
  const bool tensor_cores = p.dtype == DType::Float16 || p.dtype == DType::BFloat16 || p.tf32;
  const int64_t cap = tensor_cores ? 128 : 64;
  const int64_t bk_cap = p.dtype == DType::Float64 ? 16 : p.dtype == DType::Float32 ? 32 : 64;
  const int64_t bm = tile(p.m, cap), bn = tile(p.n, cap), bk = tile(p.k, bk_cap);
  const bool with_c = p.c.defined() && p.beta != 0;
  const std::string name = dtype_name(p.dtype);
  std::string layout;
  layout += p.a.row_major() ? 'r' : 'c';
  layout += p.b.row_major() ? 'r' : 'c';
  layout += with_c ? 'g' : 'n';
  // the aligned form (kernel_library.h) when A, B, out and every size and stride the kernel declares
  // (matmul.aligned_args) are multiples of 16; out is contiguous, so its batch stride is M * N
  const bool aligned =
      multiples_of_16({address(p.a.ptr), address(p.b.ptr), address(p.out.data()), uint64_t(p.m), uint64_t(p.n),
                       uint64_t(p.k), uint64_t(p.a.bs), uint64_t(p.a.ld()),
                       uint64_t(p.b.bs), uint64_t(p.b.ld())});
  const Kernel& k = kernel("mm|" + name + "|" + name + "|" + (p.tf32 ? "1" : "0") + "|" + layout + "|" +
                           std::to_string(bm) + "|" + std::to_string(bn) + "|" + std::to_string(bk) +
                           (aligned ? kAlignedSuffix : ""));
  const int64_t tiles = ((p.m + bm - 1) / bm) * ((p.n + bn - 1) / bn);
  VT_CHECK(tiles < (int64_t(1) << 31), "matmul: output too large for one launch (", p.m, " x ", p.n, ")");
  const int64_t isz = int64_t(itemsize(p.dtype));
  const Stream stream = current_stream(p.device);
  constexpr int64_t kMaxGridY = 65535;
  for (int64_t b0 = 0; b0 < p.batch; b0 += kMaxGridY) {
    const int64_t nb = std::min(kMaxGridY, p.batch - b0);
    auto at = [&](const void* base, int64_t batch_stride) {
      return KernelArg::ptr(static_cast<const char*>(base) + b0 * batch_stride * isz);
    };
    const int64_t cbs = with_c ? p.c.strides()[0] : 0;
    std::vector<KernelArg> args{at(p.a.ptr, p.a.bs), at(p.b.ptr, p.b.bs),
                                with_c ? at(p.c.data(), cbs) : at(p.out.data(), 0), at(p.out.data(), p.m * p.n)};
    for (int64_t v : {p.m, p.n, p.k, p.a.bs, p.a.rs, p.a.cs, p.b.bs, p.b.rs, p.b.cs, cbs,
                      with_c ? p.c.strides()[1] : 0, with_c ? p.c.strides()[2] : 0})
      args.push_back(KernelArg::i64v(v));
    args.push_back(KernelArg::f64v(p.alpha));
    args.push_back(KernelArg::f64v(with_c ? p.beta : 0.0));
    k.launch(uint32_t(tiles), uint32_t(nb), 1, args, stream);
  }
}

}  // namespace vt::cuda
