// AVX2+FMA micro-kernels: 6x16 for float (12 ymm accumulators), 4x8 for double (8 accumulators), and the
// float packing of a column-major B (x @ W^T, the linear layer's case) through 8x8 register transposes.
//
// The file is compiled for baseline x86-64; only the kernels carry target("avx2,fma"), and they are
// handed out only after cpu/capability.h says the CPU runs them, so one binary serves every CPU.
#include "cpu/capability.h"
#include "cpu/gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VT_GEMM_X86 1
#endif

namespace vt::gemm::detail {

#ifdef VT_GEMM_X86
namespace {


// Both kernels keep the whole tile in registers: acc[i][h] is row i, columns 8h..8h+7 (float) or
// 4h..4h+3 (double). GCC keeps the fully unrolled array in ymm registers.
__attribute__((target("avx2,fma"))) void kernel_f32_6x16(int64_t kc, const float* a, const float* b, float* c,
                                                         int64_t rsc, int64_t csc, int mr, int nr, float alpha,
                                                         float beta) {
  constexpr int MR = 6, NR = 16;
  __m256 acc[MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int i = 0; i < mr; i++) _mm_prefetch(reinterpret_cast<const char*>(c + i * rsc), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; p++) {
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += MR;
    b += NR;
  }
  if (mr == MR && nr == NR && csc == 1) {
    __m256 va = _mm256_set1_ps(alpha);
    if (beta == 0.f) {
#pragma GCC unroll 6
      for (int i = 0; i < MR; i++) {
        _mm256_storeu_ps(c + i * rsc, _mm256_mul_ps(va, acc[i][0]));
        _mm256_storeu_ps(c + i * rsc + 8, _mm256_mul_ps(va, acc[i][1]));
      }
    } else {
      __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
      for (int i = 0; i < MR; i++) {
        float* r = c + i * rsc;
        _mm256_storeu_ps(r, _mm256_fmadd_ps(va, acc[i][0], _mm256_mul_ps(vb, _mm256_loadu_ps(r))));
        _mm256_storeu_ps(r + 8, _mm256_fmadd_ps(va, acc[i][1], _mm256_mul_ps(vb, _mm256_loadu_ps(r + 8))));
      }
    }
    return;
  }
  alignas(32) float tile[MR * NR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) {
    _mm256_store_ps(tile + i * NR, acc[i][0]);
    _mm256_store_ps(tile + i * NR + 8, acc[i][1]);
  }
  store_tile(tile, NR, c, rsc, csc, mr, nr, alpha, beta);
}

__attribute__((target("avx2,fma"))) void kernel_f64_4x8(int64_t kc, const double* a, const double* b, double* c,
                                                        int64_t rsc, int64_t csc, int mr, int nr, double alpha,
                                                        double beta) {
  constexpr int MR = 4, NR = 8;
  __m256d acc[MR][2];
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_pd();
  for (int i = 0; i < mr; i++) _mm_prefetch(reinterpret_cast<const char*>(c + i * rsc), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; p++) {
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * NR), _MM_HINT_T0);
    __m256d b0 = _mm256_load_pd(b), b1 = _mm256_load_pd(b + 4);
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++) {
      __m256d ai = _mm256_broadcast_sd(a + i);
      acc[i][0] = _mm256_fmadd_pd(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_pd(ai, b1, acc[i][1]);
    }
    a += MR;
    b += NR;
  }
  if (mr == MR && nr == NR && csc == 1) {
    __m256d va = _mm256_set1_pd(alpha);
    if (beta == 0.0) {
#pragma GCC unroll 4
      for (int i = 0; i < MR; i++) {
        _mm256_storeu_pd(c + i * rsc, _mm256_mul_pd(va, acc[i][0]));
        _mm256_storeu_pd(c + i * rsc + 4, _mm256_mul_pd(va, acc[i][1]));
      }
    } else {
      __m256d vb = _mm256_set1_pd(beta);
#pragma GCC unroll 4
      for (int i = 0; i < MR; i++) {
        double* r = c + i * rsc;
        _mm256_storeu_pd(r, _mm256_fmadd_pd(va, acc[i][0], _mm256_mul_pd(vb, _mm256_loadu_pd(r))));
        _mm256_storeu_pd(r + 4, _mm256_fmadd_pd(va, acc[i][1], _mm256_mul_pd(vb, _mm256_loadu_pd(r + 4))));
      }
    }
    return;
  }
  alignas(32) double tile[MR * NR];
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++) {
    _mm256_store_pd(tile + i * NR, acc[i][0]);
    _mm256_store_pd(tile + i * NR + 4, acc[i][1]);
  }
  store_tile(tile, NR, c, rsc, csc, mr, nr, alpha, beta);
}

// Transposes 8 rows of 8 floats in registers (the usual unpack / shuffle / lane-permute sequence).
__attribute__((target("avx2,fma"))) inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; i++) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

}  // namespace

__attribute__((target("avx2,fma"))) void pack_b_cols_f32_avx2(const float* src, int64_t ld, int64_t kc, float* dst) {
  int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    for (int h = 0; h < 2; h++) {  // columns 8h .. 8h+7
      __m256 r[8];
      for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(src + (8 * h + j) * ld + p);
      transpose8(r);  // r[q] now holds B[p+q, 8h .. 8h+7]
      for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (p + q) * 16 + 8 * h, r[q]);
    }
  }
  for (; p < kc; p++)
    for (int j = 0; j < 16; j++) dst[p * 16 + j] = src[j * ld + p];
}

// Blocking: an MC x KC block of packed A fills about half of a 1-2 MiB L2, a KC-deep micro-panel of B
// (KC x NR) stays in L1 across the MC/MR micro-kernel calls, and the KC x NC panel of B lives in L3.
MicroKernel<float> avx2_kernel_f32() {
  if (!::vt::cpu::has_avx2()) return {};  // AVX2 includes FMA
  return {&kernel_f32_6x16, 6, 16, 144, 256, 4080, "avx2_fma_6x16"};
}
MicroKernel<double> avx2_kernel_f64() {
  if (!::vt::cpu::has_avx2()) return {};  // AVX2 includes FMA
  return {&kernel_f64_4x8, 4, 8, 96, 256, 2040, "avx2_fma_4x8"};
}

#else  // not x86: only the portable kernels exist

MicroKernel<float> avx2_kernel_f32() { return {}; }
MicroKernel<double> avx2_kernel_f64() { return {}; }
void pack_b_cols_f32_avx2(const float*, int64_t, int64_t, float*) { VT_THROW(Error, "gemm: no AVX2 on this CPU"); }

#endif

}  // namespace vt::gemm::detail
