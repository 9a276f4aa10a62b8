// Matrix products on CUDA: mm, bmm, addmm and dot (matmul, linear and outer are Composite over them).
//
// Two backends run the same GemmProblem:
//   cuBLASLt  loaded at run time with dlopen (blas_lt.cpp): the default wherever the library is found.
//   Triton    a generated kernel (kernels/triton/matmul.py, blas_triton.cpp) when cuBLASLt is missing or the
//             user chose it (vt.backends.cuda.preferred_blas_library("triton")).
// blas.cpp turns tensors into a GemmProblem (operand layouts from strides, no copy where the backends can
// read the operand as it is; empty dims), picks the backend and owns the float32 precision switch.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace vt::cuda {

// ---- settings (vt.backends.cuda.matmul, vt.set_float32_matmul_precision) ---------------------------------
// float32 matmul precision as PyTorch names it: 0 "highest" (exact float32), 1 "high" and 2 "medium" (TF32).
void set_float32_matmul_precision(int level);
int float32_matmul_precision();

enum class BlasBackend { CublasLt, Triton };
// The preferred backend; CublasLt falls back to Triton when the library cannot be loaded.
void set_preferred_blas_backend(BlasBackend b);
BlasBackend preferred_blas_backend();
// The backend GEMMs run on now (tries to load cuBLASLt on the first call; never throws).
BlasBackend blas_backend();
// Extra directories to look for libcublasLt in (Python's sys.path: the pip wheels' site-packages).
void set_blas_search_dirs(std::vector<std::string> dirs);
// Where cuBLASLt was loaded from (file and version), or why it could not be (both try to load it first).
std::string cublaslt_path();
std::string cublaslt_unavailable_reason();

// ---- the ops (inputs already validated by csrc/cpu/linalg.cpp: shapes, devices, equal dtypes) ------------
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor addmm(const Tensor& self, const Tensor& a, const Tensor& b, double beta, double alpha);
Tensor dot(const Tensor& a, const Tensor& b);

// ---- shared by the backends -------------------------------------------------------------------------------
// One operand batch in element strides: rs/cs row and column stride, bs batch stride (0: the same matrix for
// every batch). A and B always have rs == 1 or cs == 1 (the other stride is the leading dimension).
struct GemmOperand {
  const void* ptr = nullptr;
  int64_t rs = 0, cs = 0, bs = 0;
  bool row_major() const { return cs == 1; }
  int64_t ld() const { return row_major() ? rs : cs; }
};

// out[i] = alpha * A[i] @ B[i] + beta * C[i] for i < batch; A m x k, B k x n, out contiguous m x n per batch.
struct GemmProblem {
  DType dtype;
  int device = 0;
  int64_t batch = 1, m = 0, n = 0, k = 0;  // all > 0
  GemmOperand a, b;
  Tensor c;       // beta's input, expanded to [batch, m, n] (any strides); undefined when beta == 0
  Tensor out;     // [batch, m, n] contiguous
  double alpha = 1, beta = 0;
  bool tf32 = false;  // float32 inputs may be rounded to TF32
};

// cuBLASLt (blas_lt.cpp). cublaslt_available() loads the library once. cublaslt_gemm returns false when
// cuBLASLt has no algorithm for the problem (the caller then runs Triton) and throws a clear error naming the
// cuBLASLt call and status when a call fails.
bool cublaslt_available();
bool cublaslt_gemm(const GemmProblem& p);
// The generated Triton kernel (blas_triton.cpp).
void triton_gemm(const GemmProblem& p);

}  // namespace vt::cuda
