// Portable micro-kernels (plain C++ the compiler vectorises for the baseline ISA, SSE2 on x86-64) and the
// run-time choice between them and the AVX2 kernels.
#include <atomic>

#include "cpu/gemm.h"

namespace vt::gemm::detail {
namespace {

// Same tile shapes as the AVX2 kernels, so both share the blocking and packing; the j loop over NR
// contiguous values is what the compiler turns into vector code.
template <class T, int MR, int NR>
void kernel_portable(int64_t kc, const T* a, const T* b, T* c, int64_t rsc, int64_t csc, int mr, int nr, T alpha,
                     T beta) {
  alignas(64) T acc[MR * NR] = {};
  for (int64_t p = 0; p < kc; p++) {
    for (int i = 0; i < MR; i++) {
      const T ai = a[i];
      T* row = acc + i * NR;
      for (int j = 0; j < NR; j++) row[j] += ai * b[j];
    }
    a += MR;
    b += NR;
  }
  store_tile(acc, NR, c, rsc, csc, mr, nr, alpha, beta);
}

std::atomic<bool> g_force_portable{false};

}  // namespace

MicroKernel<float> portable_kernel_f32() { return {&kernel_portable<float, 6, 16>, 6, 16, 144, 256, 4080, "portable_6x16"}; }
MicroKernel<double> portable_kernel_f64() { return {&kernel_portable<double, 4, 8>, 4, 8, 96, 256, 2040, "portable_4x8"}; }

void force_portable_kernels(bool on) { g_force_portable.store(on); }
bool avx2_enabled() {
  static const bool has = avx2_kernel_f32().fn != nullptr;
  return has && !g_force_portable.load(std::memory_order_relaxed);
}

template <> const MicroKernel<float>& active_kernel<float>() {
  static const MicroKernel<float> fast = avx2_kernel_f32(), portable = portable_kernel_f32();
  return fast.fn && !g_force_portable.load(std::memory_order_relaxed) ? fast : portable;
}
template <> const MicroKernel<double>& active_kernel<double>() {
  static const MicroKernel<double> fast = avx2_kernel_f64(), portable = portable_kernel_f64();
  return fast.fn && !g_force_portable.load(std::memory_order_relaxed) ? fast : portable;
}

}  // namespace vt::gemm::detail
