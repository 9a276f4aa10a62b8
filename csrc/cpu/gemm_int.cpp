// Integer GEMM: a blocked loop accumulating in 64 bits. Arithmetic is done in uint64 so overflow wraps
// (no signed-overflow UB); truncating to the result type then gives exactly PyTorch's wraparound result,
// because wrapping arithmetic modulo 2^64 agrees with it modulo 2^8/2^16/2^32.
#include <algorithm>

#include "core/parallel.h"
#include "cpu/gemm.h"

namespace vt::gemm {
namespace {

constexpr int64_t kRowBlock = 16, kColBlock = 256;
constexpr int64_t kIntParallelMacs = int64_t(1) << 18;  // about 1 multiply-add per cycle: threads pay off sooner

template <class T>
void int_gemm(int64_t m, int64_t n, int64_t k, int64_t alpha, MatRef<const T> a, MatRef<const T> b, int64_t beta,
              MatRef<T> c) {
  if (m <= 0 || n <= 0) return;
  const int64_t nblocks = (m + kRowBlock - 1) / kRowBlock;
  const int64_t grain = std::max<int64_t>(1, kIntParallelMacs / std::max<int64_t>(1, kRowBlock * n * k));
  const uint64_t ua = uint64_t(alpha), ub = uint64_t(beta);
  parallel_for(0, nblocks, grain, [&](int64_t blk0, int64_t blk1) {
    uint64_t acc[kRowBlock][kColBlock];
    uint64_t brow[kColBlock];
    for (int64_t blk = blk0; blk < blk1; blk++) {
      const int64_t i0 = blk * kRowBlock, mr = std::min(kRowBlock, m - i0);
      for (int64_t j0 = 0; j0 < n; j0 += kColBlock) {
        const int64_t nr = std::min(kColBlock, n - j0);
        for (int64_t i = 0; i < mr; i++) std::fill(acc[i], acc[i] + nr, uint64_t(0));
        for (int64_t p = 0; p < k && alpha != 0; p++) {
          // One row of B, widened once and reused by every row of the block.
          for (int64_t j = 0; j < nr; j++) brow[j] = uint64_t(int64_t(b.at(p, j0 + j)));
          for (int64_t i = 0; i < mr; i++) {
            const uint64_t av = uint64_t(int64_t(a.at(i0 + i, p)));
            uint64_t* row = acc[i];
            for (int64_t j = 0; j < nr; j++) row[j] += av * brow[j];
          }
        }
        for (int64_t i = 0; i < mr; i++)
          for (int64_t j = 0; j < nr; j++) {
            T& out = c.at(i0 + i, j0 + j);
            uint64_t v = ua * acc[i][j];
            if (beta != 0) v += ub * uint64_t(int64_t(out));
            out = T(v);
          }
      }
    }
  });
}

}  // namespace

#define VT_INT_GEMM(T)                                                                                     \
  template <>                                                                                              \
  void gemm<T>(int64_t m, int64_t n, int64_t k, int64_t alpha, MatRef<const T> a, MatRef<const T> b,       \
               int64_t beta, MatRef<T> c) {                                                                \
    int_gemm<T>(m, n, k, alpha, a, b, beta, c);                                                            \
  }
VT_INT_GEMM(uint8_t)
VT_INT_GEMM(int8_t)
VT_INT_GEMM(int16_t)
VT_INT_GEMM(int32_t)
VT_INT_GEMM(int64_t)
#undef VT_INT_GEMM

}  // namespace vt::gemm
