// Integer sampling on CPU: randint, randperm, multinomial.
//
// What each op reads from the Philox stream (core/philox.h), j being an element's row-major index:
//   randint      element j owns block base + j: value = low + below(high - low, block) (random_draw.h:
//                Lemire's multiply-and-reject on 64-bit candidates: words 0-1, words 2-3, then the same
//                from side streams 1, 2, ... of the block).
//   randperm(n)  Fisher-Yates from 0, 1, ..., n-1: for i = n-1 down to 1, swap positions i and
//                below(i + 1, block base + i). Block base + 0 is reserved and unused (n blocks in all).
//                (CUDA sorts random keys from the same n blocks instead: another permutation for a seed,
//                cuda/random_sampling.cpp.)
//   multinomial  weights are divided by the row's largest, in double.
//                With replacement: sample k of row r is item e = r * num_samples + k, reading words 2e, 2e+1
//                as u = Uniform01<double>; the category is the first c with cdf[c] > x (running sums in
//                category order), x = u * cdf[last] kept below cdf[last] (the product can round up to it), so
//                always a category of positive weight.
//                Without: category c of row r is item e = r * ncat + c (words 2e, 2e+1, u as above) with
//                key = -log1p(-u) / weight (+inf for weight 0), an exponential race; the samples are the
//                num_samples smallest keys in increasing order, ties to the lower index. So no category
//                repeats, and zero-weight ones come last (in index order), as in PyTorch.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "cpu/cast.h"
#include "cpu/random_common.h"
#include "cpu/random_draw.h"
#include "dispatch/dispatcher.h"

namespace vt {

namespace {
using rnd::OwnedBlock;

Tensor randint_low_k(int64_t low, int64_t high, IntArrayRef size, std::optional<DType> dtype,
                     std::optional<Device> dev) {
  const DType d = dtype.value_or(DType::Int64);
  const Device device = rnd::cpu_only(dev, "randint");
  rnd::check_randint_range(low, high, d);
  Tensor out = empty(size, d, device);
  const uint64_t range = uint64_t(high) - uint64_t(low);  // in [1, 2^64): high - low may not fit an int64
  VT_DISPATCH_ALL(d, "randint", [&] {
    scalar_t* o = out.data_as<scalar_t>();
    rnd::for_each_owned_block(device, out.numel(), [&](int64_t j, const uint32_t* w, OwnedBlock b) {
      o[j] = cast_to<scalar_t>(int64_t(uint64_t(low) + rnd::below(range, w, b)));
    });
  });
  return out;
}

Tensor randint_k(int64_t high, IntArrayRef size, std::optional<DType> dtype, std::optional<Device> dev) {
  return randint_low_k(0, high, size, dtype, dev);
}

Tensor randperm_k(int64_t n, std::optional<DType> dtype, std::optional<Device> dev) {
  const DType d = dtype.value_or(DType::Int64);
  const Device device = rnd::cpu_only(dev, "randperm");
  rnd::check_randperm(n, d);
  Tensor out = empty(DimVec{n}, d, device);
  // The draws are independent (threads); the swaps are a sequential pass over them.
  std::vector<int64_t> swap_with(static_cast<size_t>(n), 0), perm(static_cast<size_t>(n));
  rnd::for_each_owned_block(device, n, [&](int64_t i, const uint32_t* w, rnd::OwnedBlock b) {
    if (i > 0) swap_with[size_t(i)] = int64_t(rnd::below(uint64_t(i) + 1, w, b));
  });
  std::iota(perm.begin(), perm.end(), int64_t(0));
  for (int64_t i = n - 1; i > 0; i--) std::swap(perm[size_t(i)], perm[size_t(swap_with[size_t(i)])]);
  VT_DISPATCH_NUMERIC(d, "randperm", [&] {
    scalar_t* o = out.data_as<scalar_t>();
    for (int64_t i = 0; i < n; i++) o[i] = cast_to<scalar_t>(perm[size_t(i)]);
  });
  return out;
}

// ---- multinomial -------------------------------------------------------------------------------------
// Validates each row (finite, non-negative, some weight) and returns the weights divided by the row's
// largest, in double, so running sums cannot overflow.
std::vector<double> normalized_weights(const Tensor& self, int64_t rows, int64_t ncat) {
  Tensor probs = rnd::dense(self, "multinomial");
  std::vector<double> w(size_t(rows * ncat));
  VT_DISPATCH_FLOATING(probs.dtype(), "multinomial", [&] {
    const scalar_t* q = probs.data_as<scalar_t>();
    for (size_t i = 0; i < w.size(); i++) w[i] = double(opmath_t<scalar_t>(q[i]));
  });
  for (int64_t r = 0; r < rows; r++) {
    double* row = w.data() + r * ncat;
    double top = 0.0;
    for (int64_t c = 0; c < ncat; c++) {
      VT_CHECK_VALUE(std::isfinite(row[c]) && row[c] >= 0.0,
                     "multinomial: probability tensor contains either `inf`, `nan` or element < 0");
      top = std::max(top, row[c]);
    }
    VT_CHECK_VALUE(top > 0.0, "multinomial: invalid multinomial distribution (sum of probabilities <= 0)");
    for (int64_t c = 0; c < ncat; c++) row[c] /= top;
  }
  return w;
}

void sample_with_replacement(Device gen, const std::vector<double>& w, int64_t rows, int64_t ncat, int64_t ns,
                             int64_t* o) {
  std::vector<double> cdf(w.size());
  for (int64_t r = 0; r < rows; r++)
    std::partial_sum(w.begin() + r * ncat, w.begin() + (r + 1) * ncat, cdf.begin() + r * ncat);
  rnd::for_each_item<2>(gen, rows * ns, [&](int64_t e, const uint32_t* words) {
    const double* row = cdf.data() + (e / ns) * ncat;
    const double total = row[ncat - 1], x = rnd::Uniform01<double>::get(words) * total;
    // cdf[c] > x >= cdf[c-1] means weight c > 0: zero-weight categories are never chosen.
    o[e] = std::upper_bound(row, row + ncat, x < total ? x : std::nextafter(total, 0.0)) - row;
  });
}

void sample_without_replacement(Device gen, const std::vector<double>& w, int64_t rows, int64_t ncat, int64_t ns,
                                int64_t* o) {
  std::vector<double> keys(w.size());
  rnd::for_each_item<2>(gen, rows * ncat, [&](int64_t e, const uint32_t* words) {
    const double v = w[size_t(e)];
    keys[size_t(e)] = v > 0.0 ? -std::log1p(-rnd::Uniform01<double>::get(words)) / v
                              : std::numeric_limits<double>::infinity();
  });
  parallel_for(0, rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(ncat, 1)), [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> idx(static_cast<size_t>(ncat));
    for (int64_t r = r0; r < r1; r++) {
      const double* key = keys.data() + r * ncat;
      std::iota(idx.begin(), idx.end(), int64_t(0));
      std::partial_sort(idx.begin(), idx.begin() + ns, idx.end(),
                        [&](int64_t a, int64_t b) { return key[a] < key[b] || (key[a] == key[b] && a < b); });
      std::copy(idx.begin(), idx.begin() + ns, o + r * ns);
    }
  });
}

Tensor multinomial_k(const Tensor& self, int64_t num_samples, bool replacement) {
  const auto [rows, ncat] = rnd::check_multinomial(self, num_samples, replacement);
  Tensor out = self.dim() == 2 ? empty(DimVec{rows, num_samples}, DType::Int64, self.device())
                               : empty(DimVec{num_samples}, DType::Int64, self.device());
  if (rows == 0) return out;
  const std::vector<double> w = normalized_weights(self, rows, ncat);
  int64_t* o = out.data_as<int64_t>();
  if (replacement) sample_with_replacement(self.device(), w, rows, ncat, num_samples, o);
  else sample_without_replacement(self.device(), w, rows, ncat, num_samples, o);
  return out;
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("randint", &randint_k);
  m.impl("randint.low", &randint_low_k);
  m.impl("randperm", &randperm_k);
  m.impl("multinomial", &multinomial_k);
}

}  // namespace
}  // namespace vt
