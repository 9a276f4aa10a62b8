// The GEMM engine against a naive double-precision loop, with both the AVX2 and the portable micro-kernels
// (Python tests only reach the one the machine picks), for every dtype, stride pattern and alpha/beta.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "cpu/gemm.h"

using namespace vt;

namespace {

int failures = 0;
std::mt19937_64 gen(1234);

template <class T> T random_value() {
  if constexpr (std::is_integral_v<T>) return T(std::uniform_int_distribution<int>(-9, 9)(gen));
  else return T(float(std::uniform_real_distribution<double>(-2, 2)(gen)));
}

// An m x n matrix stored row-major, column-major, or every other element of a wider row-major buffer.
template <class T> struct Buffer {
  std::vector<T> data;
  gemm::MatRef<T> ref;
  Buffer(int64_t m, int64_t n, int layout) : data(size_t(std::max<int64_t>(m * n * 2, 1))) {
    for (auto& v : data) v = random_value<T>();
    if (layout == 0) ref = {data.data(), n, 1};
    else if (layout == 1) ref = {data.data(), 1, m};
    else ref = {data.data(), 2 * n, 2};
  }
};

template <class T> double tolerance(int64_t k) {
  if constexpr (std::is_integral_v<T>) return 0;
  else if constexpr (std::is_same_v<T, double>) return 1e-12 * double(k + 1);
  else if constexpr (std::is_same_v<T, float>) return 1e-5 * double(k + 1);
  else if constexpr (std::is_same_v<T, Half>) return 2e-2 * double(k + 1);
  else return 2e-1 * double(k + 1);  // bfloat16's final rounding
}

template <class T>
void check(const char* what, int64_t m, int64_t n, int64_t k, int la, int lb, int lc, double alpha, double beta) {
  Buffer<T> a(m, k, la), b(k, n, lb), c(m, n, lc);
  if (beta == 0 && !std::is_integral_v<T>)
    for (auto& v : c.data) v = T(NAN);  // beta == 0 must not read C
  std::vector<double> expected(size_t(m * n));
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t p = 0; p < k; p++) s += double(a.ref.at(i, p)) * double(b.ref.at(p, j));
      expected[i * n + j] = alpha * s + (beta == 0 ? 0 : beta * double(c.ref.at(i, j)));
    }
  using S = gemm::scalar_of<T>;
  gemm::gemm<T>(m, n, k, S(alpha), {a.ref.p, a.ref.rs, a.ref.cs}, {b.ref.p, b.ref.rs, b.ref.cs}, S(beta), c.ref);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double got = double(c.ref.at(i, j)), want = expected[i * n + j];
      if constexpr (std::is_integral_v<T>) want = double(T(int64_t(want)));  // wraparound
      if (!(std::abs(got - want) <= tolerance<T>(k))) {
        if (failures++ < 10)
          std::printf("FAIL %s m=%lld n=%lld k=%lld layouts=%d%d%d alpha=%g beta=%g at (%lld,%lld): %g vs %g\n", what,
                      (long long)m, (long long)n, (long long)k, la, lb, lc, alpha, beta, (long long)i, (long long)j,
                      got, want);
        return;
      }
    }
}

template <class T> void sweep(const char* what) {
  const int64_t shapes[][3] = {{1, 1, 1}, {6, 16, 5}, {7, 17, 3}, {13, 40, 1}, {5, 3, 0}, {0, 4, 3},
                               {150, 33, 260}, {31, 70, 300}, {2, 300, 7},
                               // skinny: at most 4 rows or columns, unpacked loops
                               {3, 200, 37}, {200, 3, 50}, {4, 4, 4}, {1, 5000, 3}, {70, 1, 90},
                               // threaded: several row blocks and K blocks; few rows over several N blocks
                               {100, 80, 1100}, {40, 4100, 60}};
  const double scalars[][2] = {{1, 0}, {2, 1}, {-1, 0.5}, {0, 3}};
  for (auto& s : shapes)
    for (int layouts = 0; layouts < 27; layouts++)
      for (int si = 0; si < 4; si++) {
        const double* ab = scalars[si];
        const int64_t macs = s[0] * s[1] * s[2];  // the naive reference is slow: fewer cases when large
        if ((macs > 100000 && layouts % 5 != 0) || (macs > 1000000 && (layouts % 13 != 0 || si >= 2))) continue;
        // The threaded shapes: float, double and bfloat16 cover both float drivers; integers take one loop.
        if (macs > 4000000 && (std::is_integral_v<T> || std::is_same_v<T, Half>)) continue;
        if constexpr (std::is_integral_v<T>) if (ab[1] == 0.5) continue;
        check<T>(what, s[0], s[1], s[2], layouts % 3, layouts / 3 % 3, layouts / 9, ab[0], ab[1]);
      }
}

void sweep_all(const char* kernel) {
  std::printf("kernels: %s / %s (%s)\n", gemm::detail::active_kernel<float>().name,
              gemm::detail::active_kernel<double>().name, kernel);
  sweep<float>("float32");
  sweep<double>("float64");
  sweep<Half>("float16");
  sweep<BFloat16>("bfloat16");
  sweep<int8_t>("int8");
  sweep<uint8_t>("uint8");
  sweep<int32_t>("int32");
  sweep<int64_t>("int64");
}

}  // namespace

int main() {
  sweep_all("default");
  gemm::detail::force_portable_kernels(true);
  sweep_all("forced portable");
  gemm::detail::force_portable_kernels(false);
  if (failures) std::printf("%d failures\n", failures);
  else std::printf("ok\n");
  return failures ? 1 : 0;
}
