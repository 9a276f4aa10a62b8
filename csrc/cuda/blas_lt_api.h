// The slice of cuBLASLt's C API that blas_lt.cpp calls, declared here (the build has no CUDA toolkit) and
// resolved with dlsym from the libcublasLt found at run time. Values are those of cublasLt.h, cublas_api.h
// and library_types.h; they are the same in CUDA 12 and 13.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "cuda/driver.h"

namespace vt::cuda::lt {

using cublasStatus_t = int;
struct LtContext;
struct LtMatmulDescOpaque;
struct LtMatrixLayoutOpaque;
struct LtMatmulPreferenceOpaque;
using cublasLtHandle_t = LtContext*;
using cublasLtMatmulDesc_t = LtMatmulDescOpaque*;
using cublasLtMatrixLayout_t = LtMatrixLayoutOpaque*;
using cublasLtMatmulPreference_t = LtMatmulPreferenceOpaque*;
struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};

constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;
// cudaDataType_t
constexpr int32_t CUDA_R_32F = 0, CUDA_R_64F = 1, CUDA_R_16F = 2, CUDA_R_16BF = 14;
// cublasComputeType_t
constexpr int32_t CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77, CUBLAS_COMPUTE_64F = 70;
// cublasOperation_t
constexpr int32_t CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
// cublasLtMatmulDescAttributes_t
constexpr int CUBLASLT_MATMUL_DESC_TRANSA = 3, CUBLASLT_MATMUL_DESC_TRANSB = 4, CUBLASLT_MATMUL_DESC_EPILOGUE = 7,
              CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8;
// cublasLtEpilogue_t (uint32_t)
constexpr uint32_t CUBLASLT_EPILOGUE_DEFAULT = 1, CUBLASLT_EPILOGUE_BIAS = 4;
// cublasLtMatrixLayoutAttribute_t: BATCH_COUNT int32_t, STRIDED_BATCH_OFFSET int64_t
constexpr int CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6;
// cublasLtMatmulPreferenceAttributes_t: MAX_WORKSPACE_BYTES uint64_t, MIN_ALIGNMENT_*_BYTES uint32_t
constexpr int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
              CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8;

// Every entry point we call: X(name, (argument types)); all return cublasStatus_t. (C enums pass as int.)
#define VT_CUBLASLT_FUNCS(X)                                                                                  \
  X(cublasLtCreate, (cublasLtHandle_t*))                                                                      \
  X(cublasLtMatmulDescCreate, (cublasLtMatmulDesc_t*, int32_t, int32_t))                                       \
  X(cublasLtMatmulDescDestroy, (cublasLtMatmulDesc_t))                                                        \
  X(cublasLtMatmulDescSetAttribute, (cublasLtMatmulDesc_t, int, const void*, size_t))                         \
  X(cublasLtMatrixLayoutCreate, (cublasLtMatrixLayout_t*, int32_t, uint64_t, uint64_t, int64_t))              \
  X(cublasLtMatrixLayoutDestroy, (cublasLtMatrixLayout_t))                                                    \
  X(cublasLtMatrixLayoutSetAttribute, (cublasLtMatrixLayout_t, int, const void*, size_t))                     \
  X(cublasLtMatmulPreferenceCreate, (cublasLtMatmulPreference_t*))                                            \
  X(cublasLtMatmulPreferenceDestroy, (cublasLtMatmulPreference_t))                                            \
  X(cublasLtMatmulPreferenceSetAttribute, (cublasLtMatmulPreference_t, int, const void*, size_t))             \
  X(cublasLtMatmulAlgoGetHeuristic,                                                                           \
    (cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,                 \
     cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int,                        \
     cublasLtMatmulHeuristicResult_t*, int*))                                                                 \
  X(cublasLtMatmul,                                                                                           \
    (cublasLtHandle_t, cublasLtMatmulDesc_t, const void*, const void*, cublasLtMatrixLayout_t, const void*, \
     cublasLtMatrixLayout_t, const void*, const void*, cublasLtMatrixLayout_t, void*, cublasLtMatrixLayout_t, \
     const cublasLtMatmulAlgo_t*, void*, size_t, CUstream))

struct Api {
#define VT_DECLARE_LT_FN(name, args) cublasStatus_t(*name) args = nullptr;
  VT_CUBLASLT_FUNCS(VT_DECLARE_LT_FN)
#undef VT_DECLARE_LT_FN
  size_t (*cublasLtGetVersion)() = nullptr;                           // optional
  const char* (*cublasLtGetStatusName)(cublasStatus_t) = nullptr;     // optional
  const char* (*cublasLtGetStatusString)(cublasStatus_t) = nullptr;   // optional
  bool loaded = false;
  std::string path;  // the file it came from, with its version
  std::string why;   // when not loaded: every place tried and what went wrong
};

// Loads cuBLASLt on first use (thread-safe, never throws). Search order: $VIBETENSOR_CUBLASLT_LIBRARY (a path or
// name; "none" disables cuBLASLt); the pip wheels next to our module (<site-packages>/nvidia/cu13/lib,
// nvidia/cublas/lib); the same under each set_blas_search_dirs directory; then the loader's own search.
const Api& api();
// Raises vt::Error naming the call and the status (its name and cuBLAS's description).
[[noreturn]] void throw_status(cublasStatus_t s, const char* call);

}  // namespace vt::cuda::lt

#define VT_CUBLASLT(call)                                                                              \
  do {                                                                                                 \
    ::vt::cuda::lt::cublasStatus_t vt_lt_s = ::vt::cuda::lt::api().call;                               \
    if (vt_lt_s != ::vt::cuda::lt::CUBLAS_STATUS_SUCCESS) ::vt::cuda::lt::throw_status(vt_lt_s, #call); \
  } while (0)
