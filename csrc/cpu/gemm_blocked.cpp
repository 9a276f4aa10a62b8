// The blocked GEMM driver for float/double compute: packing from any strides, the five loops around the
// micro-kernel, and how the work is split between threads. Also the float16/bfloat16 entry points.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "core/parallel.h"
#include "cpu/gemm.h"

namespace vt::gemm {
namespace detail {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Per-thread packing buffers, kept between calls (a GEMM is often followed by another of the same size).
// Slot 0 holds the calling thread's B panel (shared by the workers), slot 1 each worker's A block.
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
template <int R, class T, class In> void pack_a_rows(const In* src, int64_t rs, int64_t kc, T* __restrict dst) {
  const In* rows[R];
  for (int i = 0; i < R; i++) rows[i] = src + i * rs;
  for (int64_t p = 0; p < kc; p++)
    for (int i = 0; i < R; i++) dst[p * R + i] = T(rows[i][p]);
}

template <class T, class In>
void pack_a(MatRef<const In> a, int64_t mc, int64_t kc, int R, T* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += R, dst += R * kc) {
    const int r = int(std::min<int64_t>(R, mc - i0));
    const In* src = a.p + i0 * a.rs;
    if (a.cs == 1 && r == R && (R == 6 || R == 4)) {  // row-major A, the common case: R read streams
      if (R == 6) pack_a_rows<6>(src, a.rs, kc, dst);
      else pack_a_rows<4>(src, a.rs, kc, dst);
      continue;
    }
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

// Packed B: panel q (R columns) at dst + q*R*kc, stored dst[p*R + j]; columns past nc are zero. It is
// packed in units that read B in memory order: groups of rows when B's rows are contiguous (a column strip
// would touch a new page per row), whole panels otherwise.
constexpr int64_t kPackRows = 16;

template <int R, class T, class In> inline void copy_row(const In* __restrict src, T* __restrict dst) {
  if constexpr (std::is_same_v<T, In>) std::memcpy(dst, src, R * sizeof(T));  // a fixed-size memcpy: vector moves
  else for (int j = 0; j < R; j++) dst[j] = T(src[j]);
}

// Rows [p0, p1) of every panel, B's rows contiguous (b.cs == 1).
template <class T, class In>
void pack_b_rows(MatRef<const In> b, int64_t kc, int64_t nc, int R, int64_t p0, int64_t p1, T* dst) {
  const int64_t full = nc / R;
  for (int64_t p = p0; p < p1; p++) {
    const In* row = b.p + p * b.rs;
    T* d = dst + p * R;
    int64_t q = 0;
    if (R == 16) for (; q < full; q++) copy_row<16>(row + q * 16, d + q * 16 * kc);
    else if (R == 8) for (; q < full; q++) copy_row<8>(row + q * 8, d + q * 8 * kc);
    for (; q * R < nc; q++) {
      const int r = int(std::min<int64_t>(R, nc - q * R));
      for (int j = 0; j < R; j++) d[q * R * kc + j] = j < r ? T(row[q * R + j]) : T(0);
    }
  }
}

// Panel q whole (all kc rows), for any other layout; the loop order follows the smaller stride.
template <class T, class In>
void pack_b_panel(MatRef<const In> b, int64_t kc, int64_t nc, int R, int64_t q, T* dst) {
  T* d = dst + q * R * kc;
  const int64_t j0 = q * R;
  const int r = int(std::min<int64_t>(R, nc - j0));
  const In* src = b.p + j0 * b.cs;
  if constexpr (std::is_same_v<T, float> && std::is_same_v<In, float>) {
    if (b.rs == 1 && r == 16 && R == 16 && avx2_enabled()) return pack_b_cols_f32_avx2(src, b.cs, kc, d);
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

template <class In> int64_t pack_b_units(MatRef<const In> b, int64_t kc, int64_t nc, int R) {
  return b.cs == 1 ? (kc + kPackRows - 1) / kPackRows : (nc + R - 1) / R;
}
template <class T, class In>
void pack_b_unit(MatRef<const In> b, int64_t kc, int64_t nc, int R, int64_t u, T* dst) {
  if (b.cs == 1) pack_b_rows(b, kc, nc, R, u * kPackRows, std::min(kc, (u + 1) * kPackRows), dst);
  else pack_b_panel(b, kc, nc, R, u, dst);
}

// C = beta * C (beta == 0 writes zeros without reading C): the whole GEMM when k == 0 or alpha == 0.
template <class T> void scale_c(int64_t m, int64_t n, T beta, MatRef<T> c) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) c.at(i, j) = beta == T(0) ? T(0) : beta * c.at(i, j);
}

// One GEMM is a sequence of stages. A stage takes NC columns of C through a range of K: B's block for it
// (KC-deep panels, one after the other) is packed into a buffer every thread reads, then each compute task
// (a row block x a column chunk) runs the K range for its tile, packing its own A block per KC slice. As in
// BLIS a stage normally covers one KC slice, so the packed panel stays in L3; when all of K fits in
// kFusedPackBytes it covers all of K, and a mid-size GEMM is one parallel region instead of k / KC.
// Within a stage, packing units and tasks are claimed from atomic counters, so a thread that starts late
// (a sleeping pool worker, a core busy with another process) simply does less. Stages end with
// parallel_for, so C's K slices accumulate in order and the buffer is free for the next stage.
constexpr size_t kFusedPackBytes = size_t(4) << 20;

struct Plan {
  int64_t m, k;
  int MR, NR;
  int64_t KC, NC;
  int64_t mc, n_rb;  // rows per task, row blocks
  int64_t ks;        // K covered by one stage: KC, or all of k
};

template <class T>
Plan make_plan(const MicroKernel<T>& uk, int64_t m, int64_t n, int64_t k, int nthreads) {
  Plan p{m, k, uk.mr, uk.nr, uk.kc, uk.nc, uk.mc, 0, uk.kc};
  // With threads: about three row blocks each (never under 8 micro-rows), enough to even out a late start.
  if (nthreads > 1)
    p.mc = std::min<int64_t>(uk.mc, std::max<int64_t>(8 * p.MR, ceil_div(ceil_div(m, 3 * nthreads), p.MR) * p.MR));
  // Then even the blocks out (m = 150 is two blocks of 78 rows, not 144 + 6).
  p.n_rb = ceil_div(m, p.mc);
  p.mc = ceil_div(ceil_div(m, p.n_rb), p.MR) * p.MR;
  p.n_rb = ceil_div(m, p.mc);
  if (size_t(k) * size_t(std::min(p.NC, ceil_div(n, p.NR) * p.NR)) * sizeof(T) <= kFusedPackBytes) p.ks = k;
  return p;
}

template <class T> struct Stage {
  int64_t jc, nc, pc0, pc1;  // C's columns [jc, jc + nc), K range [pc0, pc1)
  int64_t panels;            // NR-wide micro-panels of B per KC slice
  int64_t n_cc;              // column chunks per row block: > 1 only when row blocks cannot feed the threads
  T beta;                    // the caller's beta for K slice 0, then 1 (accumulate)
  int64_t tasks(const Plan& p) const { return p.n_rb * n_cc; }
  int64_t kc(const Plan& p, int64_t pc) const { return std::min(p.KC, pc1 - pc); }
  // KC slice pc of the packed block: earlier slices are all full.
  size_t offset(const Plan& p, int64_t pc) const { return size_t((pc - pc0) * panels * p.NR); }
};

// Packing units of a stage, slice by slice (each slice's units as pack_b_units counts them).
template <class T, class In>
struct StagePacker {
  const Plan& p;
  const Stage<T>& s;
  MatRef<const In> b;
  T* bpack;
  int64_t per_slice;  // units in a full KC slice (the last slice may have fewer)
  int64_t total = 0;
  StagePacker(const Plan& p_, const Stage<T>& s_, MatRef<const In> b_, T* bp) : p(p_), s(s_), b(b_), bpack(bp) {
    per_slice = pack_b_units(b, p.KC, s.nc, p.NR);
    for (int64_t pc = s.pc0; pc < s.pc1; pc += p.KC) total += pack_b_units(b, s.kc(p, pc), s.nc, p.NR);
  }
  void pack(int64_t u) const {
    const int64_t pc = s.pc0 + u / per_slice * p.KC;
    pack_b_unit(MatRef<const In>{b.p + pc * b.rs + s.jc * b.cs, b.rs, b.cs}, s.kc(p, pc), s.nc, p.NR,
                u % per_slice, bpack + s.offset(p, pc));
  }
};

template <class T, class In>
void run_task(const Plan& p, const Stage<T>& s, int64_t t, const MicroKernel<T>& uk, T alpha, MatRef<const In> a,
              const T* bpack, MatRef<T> c, T* apack) {
  const int64_t ic = t % p.n_rb * p.mc, mc = std::min(p.mc, p.m - ic), cc = t / p.n_rb;
  const int64_t q0 = s.panels * cc / s.n_cc, q1 = s.panels * (cc + 1) / s.n_cc;
  if (q0 == q1) return;
  for (int64_t pc = s.pc0; pc < s.pc1; pc += p.KC) {
    const int64_t kc = s.kc(p, pc);
    const T beta = pc == 0 ? s.beta : T(1);
    pack_a(MatRef<const In>{a.p + ic * a.rs + pc * a.cs, a.rs, a.cs}, mc, kc, p.MR, apack);
    const T* bslice = bpack + s.offset(p, pc);
    // B's micro-panel (kc x NR) stays in L1 while the A micro-panels stream from L2.
    for (int64_t q = q0; q < q1; q++) {
      const int nr = int(std::min<int64_t>(p.NR, s.nc - q * p.NR));
      const T* bp = bslice + q * kc * p.NR;
      T* cq = c.p + ic * c.rs + (s.jc + q * p.NR) * c.cs;
      for (int64_t ir = 0; ir < mc; ir += p.MR) {
        const int mr = int(std::min<int64_t>(p.MR, mc - ir));
        uk.fn(kc, apack + ir * kc, bp, cq + ir * c.rs, c.rs, c.cs, mr, nr, alpha, beta);
      }
    }
  }
}

inline void cpu_relax(int& spins) {
#if defined(__x86_64__) || defined(__i386__)
  if (++spins < 1024) return __builtin_ia32_pause();
#endif
  std::this_thread::yield();  // the thread we wait for may have lost its core
}

}  // namespace

template <class T, class In>
void blocked_gemm(const MicroKernel<T>& uk, int64_t m, int64_t n, int64_t k, T alpha, MatRef<const In> a,
                  MatRef<const In> b, T beta, MatRef<T> c) {
  if (m <= 0 || n <= 0) return;
  // alpha == 0 does not read A or B (BLAS semantics: NaN there does not reach C).
  if (k <= 0 || alpha == T(0)) return scale_c(m, n, beta, c);
  if ((m <= 4 || n <= 4) && skinny_gemm(m, n, k, alpha, a, b, beta, c)) return;
  const int nthreads = (m * n * k >= kParallelMacs && !in_parallel_region()) ? get_num_threads() : 1;
  const Plan p = make_plan(uk, m, n, k, nthreads);
  T* bpack = t_scratch[0].get<T>(size_t(p.ks * std::min(p.NC, ceil_div(n, p.NR) * p.NR)));
  const size_t apack_size = size_t(p.mc * std::min(p.KC, k));
  for (int64_t jc = 0; jc < n; jc += p.NC) {
    for (int64_t pc = 0; pc < k; pc += p.ks) {
      Stage<T> s{jc, std::min(p.NC, n - jc), pc, std::min(k, pc + p.ks), 0, 1, beta};
      s.panels = ceil_div(s.nc, p.NR);
      if (nthreads > 1 && p.n_rb < 2 * nthreads) s.n_cc = std::min(ceil_div(2 * nthreads, p.n_rb), s.panels);
      const StagePacker<T, In> packer(p, s, b, bpack);
      const int64_t tasks = s.tasks(p), units = packer.total;
      if (nthreads == 1) {
        T* apack = t_scratch[1].get<T>(apack_size);
        for (int64_t u = 0; u < units; u++) packer.pack(u);
        for (int64_t t = 0; t < tasks; t++) run_task(p, s, t, uk, alpha, a, bpack, c, apack);
        continue;
      }
      std::atomic<int64_t> next_unit{0}, units_done{0}, next_task{0};
      parallel_for(0, nthreads, 1, [&](int64_t, int64_t) {
        T* apack = t_scratch[1].get<T>(apack_size);
        for (int64_t u; (u = next_unit.fetch_add(1)) < units;) {
          packer.pack(u);
          units_done.fetch_add(1, std::memory_order_release);
        }
        // Every unit is claimed by now, so this waits only for threads that are packing one: it cannot
        // hang on a thread that never started.
        for (int spins = 0; units_done.load(std::memory_order_acquire) < units;) cpu_relax(spins);
        for (int64_t t; (t = next_task.fetch_add(1)) < tasks;) run_task(p, s, t, uk, alpha, a, bpack, c, apack);
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
