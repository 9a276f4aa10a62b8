// The CPU GEMM engine: C = alpha * A @ B + beta * C on strided matrices, for every numeric dtype.
//
// Floating types run a cache-blocked, packed GEMM (the BLIS/GotoBLAS structure): B is packed into KCxNC
// panels shared by all threads, each thread packs its MCxKC block of A, and a register-blocked micro-kernel
// (AVX2+FMA when the CPU has it, portable C++ otherwise) computes MRxNR tiles. Packing reads any strides,
// so transposed and non-contiguous operands are never copied first. Products with at most four rows or
// columns (matrix-vector) skip packing and stream the big operand once. float16/bfloat16 are widened to
// float while packing and accumulate in float. Integer types take a simple blocked loop that accumulates in
// 64 bits and wraps like PyTorch.
//
// Files: gemm_blocked.cpp (driver, packing, threads), gemm_avx2.cpp / gemm_portable.cpp (micro-kernels and
// the run-time choice), gemm_skinny.cpp (few rows or columns), gemm_int.cpp (integers).
//
//   gemm::gemm<float>(m, n, k, 1.f, {a, lda, 1}, {b, ldb, 1}, 0.f, {c, ldc, 1});
#pragma once
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"

namespace vt::gemm {

// Element (i, j) of a strided matrix is p[i * rs + j * cs] (strides in elements).
template <class T> struct MatRef {
  T* p;
  int64_t rs, cs;
  T& at(int64_t i, int64_t j) const { return p[i * rs + j * cs]; }
};

// The type alpha and beta (and the accumulator) have: float for the half types, int64 for integers.
template <class T>
using scalar_of = std::conditional_t<std::is_integral_v<T>, int64_t, opmath_t<T>>;

// C (m x n) = alpha * A (m x k) @ B (k x n) + beta * C. beta == 0 never reads C, so NaN there is ignored
// (BLAS and PyTorch semantics). C must not overlap A or B. Multithreaded when the product is large and the
// caller is not already inside a parallel region.
// Instantiated for float, double, Half, BFloat16, uint8_t, int8_t, int16_t, int32_t, int64_t.
template <class T>
void gemm(int64_t m, int64_t n, int64_t k, scalar_of<T> alpha, MatRef<const T> a, MatRef<const T> b,
          scalar_of<T> beta, MatRef<T> c);

// Below this many multiply-adds (~80 us on one core) a float GEMM stays on the calling thread: waking a
// pool worker takes ~40 us, more when other processes hold the cores.
constexpr int64_t kParallelMacs = int64_t(1) << 23;

// ---- internals shared by the engine's files --------------------------------------------------------
namespace detail {

// A micro-kernel computes acc = sum_p Ap[p] (x) Bp[p] over kc packed steps (Ap: kc x MR, Bp: kc x NR, both
// contiguous) and stores alpha * acc + beta * C into the top-left mr x nr corner of the tile at c.
template <class T>
using MicroKernelFn = void (*)(int64_t kc, const T* ap, const T* bp, T* c, int64_t rsc, int64_t csc, int mr,
                               int nr, T alpha, T beta);

template <class T> struct MicroKernel {
  MicroKernelFn<T> fn = nullptr;
  int mr = 0, nr = 0;            // register tile
  int64_t mc = 0, kc = 0, nc = 0;  // cache blocks: A block mc x kc (L2), B panel kc x nc (L3)
  const char* name = "";
};

// The kernels this build has; the avx2 ones return fn == nullptr when the CPU lacks AVX2/FMA.
MicroKernel<float> avx2_kernel_f32();
MicroKernel<double> avx2_kernel_f64();
MicroKernel<float> portable_kernel_f32();
MicroKernel<double> portable_kernel_f64();

// The kernel gemm() uses: the fastest the CPU runs, unless a test forced the portable one.
template <class T> const MicroKernel<T>& active_kernel();
void force_portable_kernels(bool on);  // for tests: exercise the fallback on any machine
bool avx2_enabled();                   // the CPU runs AVX2+FMA and no test forced the portable code

// Packs a 16-column micro-panel of a column-major float B (B[p, j] at src[j * ld + p]) kc steps deep into
// dst[p * 16 + j]. Only when avx2_enabled().
void pack_b_cols_f32_avx2(const float* src, int64_t ld, int64_t kc, float* dst);

// The blocked driver for float/double compute over storage type In (In != T: widened while packing).
template <class T, class In>
void blocked_gemm(const MicroKernel<T>& uk, int64_t m, int64_t n, int64_t k, T alpha, MatRef<const In> a,
                  MatRef<const In> b, T beta, MatRef<T> c);

// At most four rows or columns (matrix-vector and near): unpacked loops, reading operands in place.
// Returns false for layouts it does not handle (neither B's rows nor B's columns and A's rows contiguous).
template <class T, class In>
bool skinny_gemm(int64_t m, int64_t n, int64_t k, T alpha, MatRef<const In> a, MatRef<const In> b, T beta,
                 MatRef<T> c);

// Writes alpha * acc + beta * C for an mr x nr corner of a tile (acc row-major with row stride ld).
template <class T>
inline void store_tile(const T* acc, int ld, T* c, int64_t rsc, int64_t csc, int mr, int nr, T alpha, T beta) {
  for (int i = 0; i < mr; i++) {
    T* row = c + i * rsc;
    const T* ar = acc + i * ld;
    if (beta == T(0)) {
      for (int j = 0; j < nr; j++) row[j * csc] = alpha * ar[j];
    } else {
      for (int j = 0; j < nr; j++) row[j * csc] = alpha * ar[j] + beta * row[j * csc];
    }
  }
}

}  // namespace detail
}  // namespace vt::gemm
