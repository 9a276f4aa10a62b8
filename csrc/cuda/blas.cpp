// mm, bmm, addmm and dot on CUDA as one GemmProblem each (see blas.h): operand layouts read from strides,
// empty dims handled here, then cuBLASLt or the generated Triton kernel.
#include "cuda/blas.h"

#include <algorithm>
#include <atomic>

#include "cuda/device.h"
#include "dispatch/dispatcher.h"
#include "ops/views.h"

namespace vt::cuda {

namespace {

std::atomic<int> g_precision{0};  // "highest": PyTorch's default, float32 matmuls are exact
std::atomic<int> g_preferred{int(BlasBackend::CublasLt)};

// The [batch, rows, cols] tensor t as an operand the backends read in place: unit stride along rows or
// columns and a leading dimension at least the other extent (a transposed matrix, or a slice of a wider
// one). Anything else (both strides > 1, an expanded row) is copied to a contiguous tensor held in `keep`.
GemmOperand operand(const Tensor& t, Tensor& keep) {
  const int64_t r = t.sizes()[1], c = t.sizes()[2];
  const int64_t bs = t.sizes()[0] == 1 ? 0 : t.strides()[0];
  const int64_t rs = t.strides()[1], cs = t.strides()[2];
  if ((cs == 1 || c == 1) && rs >= std::max<int64_t>(1, c)) return {t.data(), rs, 1, bs};
  if ((rs == 1 || r == 1) && cs >= std::max<int64_t>(1, r)) return {t.data(), 1, cs, bs};
  keep = contiguous(t);
  return {keep.data(), c, 1, t.sizes()[0] == 1 ? 0 : r * c};
}

void zero(const Tensor& t) {
  static TypedOp<Tensor(const Tensor&)> op("zero_");
  op(t);
}

void scale(const Tensor& t, double factor) {
  static TypedOp<Tensor(const Tensor&, const Tensor&)> op("mul_");
  op(t, wrap_number(Scalar(factor)));
}

// out = alpha * a @ b + beta * c for 3-D a [B, m, k], b [B, k, n] and c (expanded to [B, m, n]; undefined
// when beta == 0, so NaN and inf in the addmm input never reach the result, as in PyTorch).
Tensor gemm(const Tensor& a, const Tensor& b, const Tensor& c, double alpha, double beta, bool allow_tf32) {
  const int64_t batch = a.sizes()[0], m = a.sizes()[1], k = a.sizes()[2], n = b.sizes()[2];
  Tensor out = empty(DimVec{batch, m, n}, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  if (k == 0) {  // an empty sum: only the beta * c term is left
    if (!c.defined()) {
      zero(out);
    } else {
      copy_(out, c);
      if (beta != 1) scale(out, beta);
    }
    return out;
  }
  GemmProblem p;
  p.dtype = a.dtype();
  p.device = a.device().index;
  p.batch = batch;
  p.m = m;
  p.n = n;
  p.k = k;
  Tensor keep_a, keep_b;  // contiguous copies, when an operand could not be read in place
  p.a = operand(a, keep_a);
  p.b = operand(b, keep_b);
  p.c = c;
  p.out = out;
  p.alpha = alpha;
  p.beta = c.defined() ? beta : 0.0;
  p.tf32 = allow_tf32 && p.dtype == DType::Float32 && float32_matmul_precision() != 0;
  activate(p.device);
  if (blas_backend() == BlasBackend::CublasLt && cublaslt_gemm(p)) return out;
  triton_gemm(p);  // no cuBLASLt, or it has no algorithm for this problem
  return out;
}

}  // namespace

void set_float32_matmul_precision(int level) {
  VT_CHECK_VALUE(level >= 0 && level <= 2, "float32 matmul precision must be 0 (highest), 1 (high) or 2 (medium), "
                 "got ", level);
  g_precision.store(level);
}
int float32_matmul_precision() { return g_precision.load(std::memory_order_relaxed); }

void set_preferred_blas_backend(BlasBackend b) { g_preferred.store(int(b)); }
BlasBackend preferred_blas_backend() { return BlasBackend(g_preferred.load(std::memory_order_relaxed)); }
BlasBackend blas_backend() {
  return preferred_blas_backend() == BlasBackend::CublasLt && cublaslt_available() ? BlasBackend::CublasLt
                                                                                   : BlasBackend::Triton;
}

Tensor mm(const Tensor& a, const Tensor& b) {
  return squeeze(gemm(unsqueeze(a, 0), unsqueeze(b, 0), Tensor(), 1, 0, true), DimVec{0});
}

Tensor bmm(const Tensor& a, const Tensor& b) { return gemm(a, b, Tensor(), 1, 0, true); }

Tensor addmm(const Tensor& self, const Tensor& a, const Tensor& b, double beta, double alpha) {
  const DimVec shape{1, a.sizes()[0], b.sizes()[1]};
  Tensor c = beta != 0 ? expand(self, shape) : Tensor();  // a broadcast bias keeps its zero strides
  return squeeze(gemm(unsqueeze(a, 0), unsqueeze(b, 0), c, alpha, beta, true), DimVec{0});
}

// A 1 x k row times a k x 1 column; never TF32 (PyTorch's dot is exact in float32 whatever the setting).
Tensor dot(const Tensor& a, const Tensor& b) {
  Tensor row = unsqueeze(unsqueeze(a, 0), 0), col = unsqueeze(unsqueeze(b, 1), 0);
  return reshape(gemm(row, col, Tensor(), 1, 0, false), DimVec{});
}

}  // namespace vt::cuda
