// The blocked GEMM driver for float/double compute: packing from any strides, the five loops around the
// micro-kernel, and how the work is split between threads. Also the float16/bfloat16 entry points.
#include <algorithm>
#include <cstdlib>
#include <memory>

#include "core/parallel.h"
#include "cpu/gemm.h"

namespace vt::gemm {
namespace detail {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Per-thread packing buffers, kept between calls (a GEMM is often followed by another of the same size).
// Slot 0 holds the calling thread's shared B panel, slot 1 each worker's private A block.
struct Scratch {
  void* p = nullptr;
  size_t cap = 0;
  ~Scratch() { std::free(p); }
  template <class T> T* get(size_t n) {
    size_t bytes = (n * sizeof(T) + 63) & ~size_t(63);
    if (bytes > cap) {
      std::free(p);
      p = std::aligned_alloc(64, bytes);
      VT_CHECK_T(p, OutOfMemoryError, "gemm: cannot allocate ", bytes, " bytes of packing buffer");
      cap = bytes;
    }
    return static_cast<T*>(p);
  }
};
thread_local Scratch t_scratch[2];

// Packs the mc x kc block of A at `a` into micro-panels of R rows: panel q holds rows q*R.., stored
// step-major (dst[q*R*kc + p*R + i]) so the micro-kernel reads it sequentially. Rows past mc are zero.
// The loop order follows the smaller stride, so row-major and transposed A both read memory in order.
template <class T, class In>
void pack_a(MatRef<const In> a, int64_t mc, int64_t kc, int R, T* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += R, dst += R * kc) {
    const int r = int(std::min<int64_t>(R, mc - i0));
    const In* src = a.p + i0 * a.rs;
    if (a.cs == 1) {
      for (int i = 0; i < r; i++)
        for (int64_t p = 0; p < kc; p++) dst[p * R + i] = T(src[i * a.rs + p]);
    } else if (std::abs(a.cs) <= std::abs(a.rs)) {
      for (int i = 0; i < r; i++)
        for (int64_t p = 0; p < kc; p++) dst[p * R + i] = T(src[i * a.rs + p * a.cs]);
    } else {
      for (int64_t p = 0; p < kc; p++)
        for (int i = 0; i < r; i++) dst[p * R + i] = T(src[i * a.rs + p * a.cs]);
    }
    for (int i = r; i < R; i++)
      for (int64_t p = 0; p < kc; p++) dst[p * R + i] = T(0);
  }
}

// Packs panels [q0, q1) of R columns of the kc x nc block of B at `b`: panel q at dst + q*R*kc, stored
// dst[p*R + j]. Columns past nc are zero.
template <class T, class In>
void pack_b(MatRef<const In> b, int64_t kc, int64_t nc, int R, int64_t q0, int64_t q1, T* dst) {
  for (int64_t q = q0; q < q1; q++) {
    T* d = dst + q * R * kc;
    const int64_t j0 = q * R;
    const int r = int(std::min<int64_t>(R, nc - j0));
    const In* src = b.p + j0 * b.cs;
    if (b.cs == 1 && r == R) {
      for (int64_t p = 0; p < kc; p++)
        for (int j = 0; j < R; j++) d[p * R + j] = T(src[p * b.rs + j]);
      continue;
    }
    if (std::abs(b.cs) <= std::abs(b.rs)) {
      for (int64_t p = 0; p < kc; p++)
        for (int j = 0; j < r; j++) d[p * R + j] = T(src[p * b.rs + j * b.cs]);
    } else {
      for (int j = 0; j < r; j++)
        for (int64_t p = 0; p < kc; p++) d[p * R + j] = T(src[p * b.rs + j * b.cs]);
    }
    for (int64_t p = 0; p < kc; p++)
      for (int j = r; j < R; j++) d[p * R + j] = T(0);
  }
}

// C = beta * C (beta == 0 writes zeros without reading C): the whole GEMM when k == 0 or alpha == 0.
template <class T> void scale_c(int64_t m, int64_t n, T beta, MatRef<T> c) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) c.at(i, j) = beta == T(0) ? T(0) : beta * c.at(i, j);
}

}  // namespace

template <class T, class In>
void blocked_gemm(const MicroKernel<T>& uk, int64_t m, int64_t n, int64_t k, T alpha, MatRef<const In> a,
                  MatRef<const In> b, T beta, MatRef<T> c) {
  if (m <= 0 || n <= 0) return;
  // alpha == 0 does not read A or B (BLAS semantics: NaN there does not reach C).
  if (k <= 0 || alpha == T(0)) return scale_c(m, n, beta, c);
  const int MR = uk.mr, NR = uk.nr;
  // Threads split the rows (each packs its own A block against the shared B panel); when there are
  // fewer row panels than threads, they split the columns instead.
  const int nthreads = (m * n * k >= kParallelMacs && !in_parallel_region()) ? get_num_threads() : 1;
  const int64_t m_panels = ceil_div(m, MR);
  const int64_t tm = std::min<int64_t>(nthreads, m_panels), tn = std::max<int64_t>(1, nthreads / tm);
  const int64_t ntasks = tm * tn;
  const int64_t nc_max = std::min<int64_t>(uk.nc, ceil_div(n, NR) * NR), kc_max = std::min<int64_t>(uk.kc, k);
  // Fewer rows per thread than MC: shrink the A block so each thread's rows are one block.
  const int64_t mc_max = std::min<int64_t>(uk.mc, ceil_div(m_panels, tm) * MR);
  T* bpack = t_scratch[0].get<T>(size_t(nc_max * kc_max));

  for (int64_t jc = 0; jc < n; jc += uk.nc) {
    const int64_t nc = std::min<int64_t>(uk.nc, n - jc);
    const int64_t n_panels = ceil_div(nc, NR);
    for (int64_t pc = 0; pc < k; pc += uk.kc) {
      const int64_t kc = std::min<int64_t>(uk.kc, k - pc);
      const T beta_p = pc == 0 ? beta : T(1);  // later K blocks accumulate onto the first one's result
      MatRef<const In> bblock{b.p + pc * b.rs + jc * b.cs, b.rs, b.cs};
      parallel_for(0, n_panels, ceil_div(n_panels, nthreads), [&](int64_t q0, int64_t q1) {
        pack_b(bblock, kc, nc, NR, q0, q1, bpack);
      });
      parallel_for(0, ntasks, 1, [&](int64_t t0, int64_t t1) {
        T* apack = t_scratch[1].get<T>(size_t(mc_max * kc));
        for (int64_t t = t0; t < t1; t++) {
          const int64_t ti = t / tn, tj = t % tn;
          const int64_t row0 = (m_panels * ti / tm) * MR, row1 = std::min<int64_t>(m, (m_panels * (ti + 1) / tm) * MR);
          const int64_t q0 = n_panels * tj / tn, q1 = n_panels * (tj + 1) / tn;
          for (int64_t ic = row0; ic < row1; ic += mc_max) {
            const int64_t mc = std::min<int64_t>(mc_max, row1 - ic);
            pack_a(MatRef<const In>{a.p + ic * a.rs + pc * a.cs, a.rs, a.cs}, mc, kc, MR, apack);
            // B's micro-panel (kc x NR) stays in L1 while the A micro-panels stream from L2.
            for (int64_t q = q0; q < q1; q++) {
              const int64_t j = q * NR;
              const int nr = int(std::min<int64_t>(NR, nc - j));
              const T* bp = bpack + q * NR * kc;
              for (int64_t ir = 0; ir < mc; ir += MR) {
                const int mr = int(std::min<int64_t>(MR, mc - ir));
                T* cp = c.p + (ic + ir) * c.rs + (jc + j) * c.cs;
                uk.fn(kc, apack + ir * kc, bp, cp, c.rs, c.cs, mr, nr, alpha, beta_p);
              }
            }
          }
        }
      });
    }
  }
}

template void blocked_gemm<float, float>(const MicroKernel<float>&, int64_t, int64_t, int64_t, float,
                                         MatRef<const float>, MatRef<const float>, float, MatRef<float>);
template void blocked_gemm<double, double>(const MicroKernel<double>&, int64_t, int64_t, int64_t, double,
                                           MatRef<const double>, MatRef<const double>, double, MatRef<double>);
template void blocked_gemm<float, Half>(const MicroKernel<float>&, int64_t, int64_t, int64_t, float,
                                        MatRef<const Half>, MatRef<const Half>, float, MatRef<float>);
template void blocked_gemm<float, BFloat16>(const MicroKernel<float>&, int64_t, int64_t, int64_t, float,
                                            MatRef<const BFloat16>, MatRef<const BFloat16>, float, MatRef<float>);

namespace {

// float16/bfloat16: the product accumulates into a float copy of C, rounded once at the end.
template <class H>
void reduced_float_gemm(int64_t m, int64_t n, int64_t k, float alpha, MatRef<const H> a, MatRef<const H> b,
                        float beta, MatRef<H> c) {
  if (m <= 0 || n <= 0) return;
  std::unique_ptr<float[]> acc(new float[size_t(m * n)]);
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / n);
  if (beta != 0.f) {
    parallel_for(0, m, grain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++)
        for (int64_t j = 0; j < n; j++) acc[i * n + j] = float(c.at(i, j));
    });
  }
  blocked_gemm<float, H>(active_kernel<float>(), m, n, k, alpha, a, b, beta, MatRef<float>{acc.get(), n, 1});
  parallel_for(0, m, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++)
      for (int64_t j = 0; j < n; j++) c.at(i, j) = H(acc[i * n + j]);
  });
}

}  // namespace
}  // namespace detail

template <>
void gemm<float>(int64_t m, int64_t n, int64_t k, float alpha, MatRef<const float> a, MatRef<const float> b,
                 float beta, MatRef<float> c) {
  detail::blocked_gemm<float, float>(detail::active_kernel<float>(), m, n, k, alpha, a, b, beta, c);
}
template <>
void gemm<double>(int64_t m, int64_t n, int64_t k, double alpha, MatRef<const double> a, MatRef<const double> b,
                  double beta, MatRef<double> c) {
  detail::blocked_gemm<double, double>(detail::active_kernel<double>(), m, n, k, alpha, a, b, beta, c);
}
template <>
void gemm<Half>(int64_t m, int64_t n, int64_t k, float alpha, MatRef<const Half> a, MatRef<const Half> b,
                float beta, MatRef<Half> c) {
  detail::reduced_float_gemm(m, n, k, alpha, a, b, beta, c);
}
template <>
void gemm<BFloat16>(int64_t m, int64_t n, int64_t k, float alpha, MatRef<const BFloat16> a,
                    MatRef<const BFloat16> b, float beta, MatRef<BFloat16> c) {
  detail::reduced_float_gemm(m, n, k, alpha, a, b, beta, c);
}

}  // namespace vt::gemm
