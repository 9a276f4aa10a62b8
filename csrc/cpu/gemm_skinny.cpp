// GEMMs with at most four rows (or, transposed, four columns): matrix-vector products and their near
// relatives. Each element of the big operand is used at most four times, so packing it would cost as much
// memory traffic as the whole product; these loops read both operands where they are. The loops are
// compiled twice, for the baseline ISA and for AVX2+FMA, and the CPU picks at run time.
#include <algorithm>

#include "core/parallel.h"
#include "cpu/gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#define VT_SKINNY_AVX2 1
#endif

namespace vt::gemm::detail {
namespace {

#define VT_ALWAYS_INLINE inline __attribute__((always_inline))

// Output columns per task in the axpy form: wide, so each row of B is read in long runs (short runs
// with a large row stride cost a TLB miss each), at most M x 2048 accumulators on the stack.
constexpr int64_t kMaxChunk = 2048;
constexpr int kLanes = 16;       // independent partial sums per dot: lets the compiler vectorise the loop
constexpr int64_t kSkinnyParallelMacs = int64_t(1) << 20;  // ~40 us: about what waking a pool worker costs

template <class T, class In> struct Problem {
  int64_t n, k, chunk;
  T alpha;
  MatRef<const In> a, b;
  T beta;
  MatRef<T> c;
};

template <class T> VT_ALWAYS_INLINE void store(T& out, T alpha, T acc, T beta) {
  out = beta == T(0) ? alpha * acc : alpha * acc + beta * out;
}

// B's rows are contiguous: C[i, j0:j0+w] accumulates A[i, p] * B[p, j0:j0+w] over p, each row of B read
// once for all M rows of A.
template <int M, class T, class In> VT_ALWAYS_INLINE void axpy_chunks(int64_t c0, int64_t c1, const Problem<T, In>& pr) {
  T acc[M][kMaxChunk];
  for (int64_t ch = c0; ch < c1; ch++) {
    const int64_t j0 = ch * pr.chunk, w = std::min(pr.chunk, pr.n - j0);
    for (int i = 0; i < M; i++) std::fill(acc[i], acc[i] + w, T(0));
    for (int64_t p = 0; p < pr.k; p++) {
      const In* brow = pr.b.p + p * pr.b.rs + j0;
      T av[M];
      for (int i = 0; i < M; i++) av[i] = T(pr.a.at(i, p));
      for (int64_t j = 0; j < w; j++) {
        const T bj = T(brow[j]);
        for (int i = 0; i < M; i++) acc[i][j] += av[i] * bj;
      }
    }
    for (int i = 0; i < M; i++)
      for (int64_t j = 0; j < w; j++) store(pr.c.at(i, j0 + j), pr.alpha, acc[i][j], pr.beta);
  }
}

// A's rows and B's columns are contiguous: each C[i, j] is a dot product, B's column read once for all M
// rows of A.
template <int M, class T, class In> VT_ALWAYS_INLINE void dot_columns(int64_t j0, int64_t j1, const Problem<T, In>& pr) {
  const int64_t k = pr.k;
  for (int64_t j = j0; j < j1; j++) {
    const In* bcol = pr.b.p + j * pr.b.cs;
    T acc[M][kLanes] = {};
    int64_t p = 0;
    for (; p + kLanes <= k; p += kLanes)
      for (int i = 0; i < M; i++) {
        const In* arow = pr.a.p + i * pr.a.rs + p;
        for (int l = 0; l < kLanes; l++) acc[i][l] += T(arow[l]) * T(bcol[p + l]);
      }
    for (; p < k; p++)
      for (int i = 0; i < M; i++) acc[i][0] += T(pr.a.p[i * pr.a.rs + p]) * T(bcol[p]);
    for (int i = 0; i < M; i++) {
      T sum = T(0);
      for (int l = 0; l < kLanes; l++) sum += acc[i][l];
      store(pr.c.at(i, j), pr.alpha, sum, pr.beta);
    }
  }
}

template <int M, class T, class In> void axpy_base(int64_t c0, int64_t c1, const Problem<T, In>& pr) {
  axpy_chunks<M>(c0, c1, pr);
}
template <int M, class T, class In> void dot_base(int64_t j0, int64_t j1, const Problem<T, In>& pr) {
  dot_columns<M>(j0, j1, pr);
}
#ifdef VT_SKINNY_AVX2
template <int M, class T, class In>
__attribute__((target("avx2,fma"))) void axpy_avx2(int64_t c0, int64_t c1, const Problem<T, In>& pr) {
  axpy_chunks<M>(c0, c1, pr);
}
template <int M, class T, class In>
__attribute__((target("avx2,fma"))) void dot_avx2(int64_t j0, int64_t j1, const Problem<T, In>& pr) {
  dot_columns<M>(j0, j1, pr);
}
#endif

template <int M, class T, class In> bool few_rows(Problem<T, In> pr) {
  using Loop = void (*)(int64_t, int64_t, const Problem<T, In>&);
  const bool avx2 = avx2_enabled();
  Loop loop;
  int64_t units, macs_per_unit;
  if (pr.b.cs == 1) {
    loop = &axpy_base<M, T, In>;
#ifdef VT_SKINNY_AVX2
    if (avx2) loop = &axpy_avx2<M, T, In>;
#endif
    // As wide as possible while every thread still gets a chunk.
    const int64_t per_thread = (pr.n + get_num_threads() - 1) / get_num_threads();
    pr.chunk = std::clamp<int64_t>((per_thread + 63) / 64 * 64, 64, kMaxChunk);
    units = (pr.n + pr.chunk - 1) / pr.chunk;
    macs_per_unit = pr.chunk * pr.k * M;
  } else if (pr.b.rs == 1 && pr.a.cs == 1) {
    loop = &dot_base<M, T, In>;
#ifdef VT_SKINNY_AVX2
    if (avx2) loop = &dot_avx2<M, T, In>;
#endif
    units = pr.n;
    macs_per_unit = pr.k * M;
  } else {
    return false;  // other layouts: the packed path reads any strides
  }
  (void)avx2;
  parallel_for(0, units, std::max<int64_t>(1, kSkinnyParallelMacs / std::max<int64_t>(macs_per_unit, 1)),
               [&](int64_t u0, int64_t u1) { loop(u0, u1, pr); });
  return true;
}

}  // namespace

template <class T, class In>
bool skinny_gemm(int64_t m, int64_t n, int64_t k, T alpha, MatRef<const In> a, MatRef<const In> b, T beta,
                 MatRef<T> c) {
  if (n < m) {  // few columns: C^T = B^T A^T has few rows
    std::swap(m, n);
    std::swap(a, b);
    a = {a.p, a.cs, a.rs};
    b = {b.p, b.cs, b.rs};
    c = {c.p, c.cs, c.rs};
  }
  const Problem<T, In> pr{n, k, 0, alpha, a, b, beta, c};
  switch (m) {
    case 1: return few_rows<1>(pr);
    case 2: return few_rows<2>(pr);
    case 3: return few_rows<3>(pr);
    case 4: return few_rows<4>(pr);
    default: return false;
  }
}

#define VT_SKINNY(T, In)                                                                                     \
  template bool skinny_gemm<T, In>(int64_t, int64_t, int64_t, T, MatRef<const In>, MatRef<const In>, T,     \
                                   MatRef<T>);
VT_SKINNY(float, float)
VT_SKINNY(double, double)
VT_SKINNY(float, Half)
VT_SKINNY(float, BFloat16)
#undef VT_SKINNY

}  // namespace vt::gemm::detail
