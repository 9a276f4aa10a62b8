// LayerNorm and RMSNorm on CPU, one pass over the rows each way (the fused ops of op_table.h, as on CUDA).
//
// nn.functional's composite (mean, subtract, square, mean, rsqrt, multiply, add: each a recorded op and a
// full pass) cost 4x PyTorch on the small GPT's [512, 48] rows, most of it per-op overhead. Here the input
// is [rows, N] and everything is computed in the opmath type (float for half types; 16-lane sums, which the
// compiler vectorises) and rounded once, as the CUDA kernels do. The backward writes dx per row and sums
// the weight and bias gradients per fixed block of rows, folding the blocks' partials in float64 in block
// order: the same bits for any thread count.
#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "core/parallel.h"
#include "cpu/reduce_fold.h"
#include "dispatch/dispatcher.h"
#include "ops/norm_rows.h"
#include "ops/views.h"

namespace vt {
namespace {
using norm::Rows;

constexpr int64_t kMaxRow = int64_t(1) << 40;  // no register file to fit: any row length
constexpr int64_t kBlocks = 64;                // most weight-gradient partials (blocks of rows)

// sum over i < n of f(i), in 16 lanes of A (which the compiler turns into vector registers; inlined, so the
// AVX2 copies below vectorise it with 32-byte registers). The lanes fold pairwise, 4 dependent adds where a
// running sum over them took 16: on [512, 48] rows that chain was most of a row's time (LayerNorm forward 17.9
// us, two sums a row, against RMSNorm's 9.9 with one).
template <class A, class F> VT_ALWAYS_INLINE A lane_sum(int64_t n, F f) {
  A acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++) acc[j] += f(i + j);
  A s = 0;
  for (; i < n; i++) s += f(i);
  for (int j = 0; j < 8; j++) acc[j] += acc[j + 8];  // written out: a loop over the widths stayed a loop
  for (int j = 0; j < 4; j++) acc[j] += acc[j + 4];
  for (int j = 0; j < 2; j++) acc[j] += acc[j + 2];
  return (acc[0] + acc[1]) + s;
}

// Rows [r0, r1) of the forward. The row loops run as written or, where the CPU has AVX2, as a second copy
// compiled for it (cpu/reduce_fold.h): the same operations in the same order, 8 floats a vector instead of 4.
template <class T>
VT_ALWAYS_INLINE void forward_block(const T* x, int64_t n, const T* w, const T* b, T* y, double* mean_out,
                                    double* rstd_out, double eps, bool ln, int64_t r0, int64_t r1) {
  using A = opmath_t<T>;
  // Short rows in groups: the sums of a group's rows first, then their reciprocal square roots together (one
  // vector sqrt and divide where each row waited ~40 cycles on its own chain: a third of a [512, 48] forward),
  // then the outputs. Long rows one at a time: their chain is a small part of a row, and a group's rows would
  // leave L1 between the sums and the outputs ([8192, 512] forward: 1.26 ms a row at a time, 1.73 in groups).
  constexpr int64_t kGroup = 8;
  const int64_t group = n <= 128 ? kGroup : 1;
  const A inv_n = A(1) / A(n);  // a multiply where a divide per sum was the next longest wait of a row
  for (int64_t g0 = r0; g0 < r1; g0 += group) {
    const int64_t rows = std::min(group, r1 - g0);
    A m[kGroup] = {}, s[kGroup] = {};
    for (int64_t k = 0; k < rows; k++) {
      const T* xr = x + (g0 + k) * n;
      const A mk = ln ? lane_sum<A>(n, [&](int64_t i) VT_FOLD { return A(xr[i]); }) * inv_n : A(0);
      m[k] = mk;
      s[k] = lane_sum<A>(n, [&](int64_t i) VT_FOLD {  // two passes: no cancellation for rows far from 0
        A d = A(xr[i]) - mk;
        return d * d;
      }) * inv_n;
    }
    for (int64_t k = 0; k < kGroup; k++) s[k] = A(1) / std::sqrt(s[k] + A(eps));  // all 8: one vector
    for (int64_t k = 0; k < rows; k++) {
      const int64_t row = g0 + k;
      const T* xr = x + row * n;
      T* yr = y + row * n;
      const A mk = m[k], sk = s[k];
      if (ln) mean_out[row] = double(mk);
      rstd_out[row] = double(sk);
      if (w && b) for (int64_t i = 0; i < n; i++) yr[i] = T((A(xr[i]) - mk) * sk * A(w[i]) + A(b[i]));
      else if (w) for (int64_t i = 0; i < n; i++) yr[i] = T((A(xr[i]) - mk) * sk * A(w[i]));
      else for (int64_t i = 0; i < n; i++) yr[i] = T((A(xr[i]) - mk) * sk);
    }
  }
}
template <class T>
VT_TARGET_AVX2 void forward_block_avx2(const T* x, int64_t n, const T* w, const T* b, T* y, double* mean_out,
                                       double* rstd_out, double eps, bool ln, int64_t r0, int64_t r1) {
  forward_block<T>(x, n, w, b, y, mean_out, rstd_out, eps, ln, r0, r1);
}

template <class T>
void forward_rows(const Rows& r, const T* w, const T* b, T* y, double* mean_out, double* rstd_out, double eps,
                  bool ln) {
  const T* x = static_cast<const T*>(r.x.data());
  const int64_t n = r.n;
  const bool avx2 = reduce::use_avx2();
  parallel_for(0, r.rows, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t r0, int64_t r1) {
    if (avx2) forward_block_avx2<T>(x, n, w, b, y, mean_out, rstd_out, eps, ln, r0, r1);
    else forward_block<T>(x, n, w, b, y, mean_out, rstd_out, eps, ln, r0, r1);
  });
}

// y, mean (LayerNorm; undefined for RMSNorm) and rstd.
std::tuple<Tensor, Tensor, Tensor> forward(const char* op, const Tensor& input, IntArrayRef shape, const Tensor& weight,
                                           const Tensor& bias, double eps, bool ln) {
  Rows r = norm::rows_of(op, input, shape, weight, bias, kMaxRow);
  Tensor y = empty(input.sizes(), input.dtype(), input.device());
  DType st = stats_dtype(input.dtype());
  Tensor mean = ln ? empty(DimVec{r.rows}, st, input.device()) : Tensor();
  Tensor rstd = empty(DimVec{r.rows}, st, input.device());
  std::vector<double> mu(size_t(ln ? r.rows : 0)), rs(size_t(r.rows));
  VT_DISPATCH_FLOATING(input.dtype(), op, [&] {
    forward_rows<scalar_t>(r, weight.defined() ? static_cast<const scalar_t*>(weight.data()) : nullptr,
                           bias.defined() ? static_cast<const scalar_t*>(bias.data()) : nullptr,
                           static_cast<scalar_t*>(y.data()), mu.data(), rs.data(), eps, ln);
  });
  auto store = [&](const std::vector<double>& v, const Tensor& t) {
    if (st == DType::Float64) std::copy(v.begin(), v.end(), static_cast<double*>(t.data()));
    else std::transform(v.begin(), v.end(), static_cast<float*>(t.data()), [](double d) { return float(d); });
  };
  if (ln) store(mu, mean);
  store(rs, rstd);
  return {y, mean, rstd};
}

// Block k of rows of the backward (rows k * block ...), xh and g: scratch rows of n; compiled twice, as the forward.
template <class T, class S>
VT_ALWAYS_INLINE void backward_block(const Rows& r, const T* dy, const T* w, const S* mean, const S* rstd, T* dx,
                                     opmath_t<T>* dw, opmath_t<T>* db, int64_t block, int64_t k, opmath_t<T>* xhr,
                                     opmath_t<T>* gw) {
  using A = opmath_t<T>;
  const T* x = static_cast<const T*>(r.x.data());
  const int64_t n = r.n;
  A* dwk = dw ? dw + k * n : nullptr;
  A* dbk = db ? db + k * n : nullptr;
  const A inv_n = A(1) / A(n);
  for (int64_t row = k * block; row < std::min(r.rows, (k + 1) * block); row++) {
    const T* xr = x + row * n;
    const T* gr = dy + row * n;
    const A m = mean ? A(mean[row]) : A(0), s = A(rstd[row]);
    for (int64_t i = 0; i < n; i++) xhr[i] = (A(xr[i]) - m) * s;
    if (w) for (int64_t i = 0; i < n; i++) gw[i] = A(gr[i]) * A(w[i]);
    else for (int64_t i = 0; i < n; i++) gw[i] = A(gr[i]);
    const A c1 = lane_sum<A>(n, [&](int64_t i) VT_FOLD { return gw[i] * xhr[i]; }) * inv_n;
    const A c2 = mean ? lane_sum<A>(n, [&](int64_t i) VT_FOLD { return gw[i]; }) * inv_n : A(0);
    T* dxr = dx + row * n;
    for (int64_t i = 0; i < n; i++) dxr[i] = T(s * (gw[i] - xhr[i] * c1 - c2));
    if (dwk) for (int64_t i = 0; i < n; i++) dwk[i] += A(gr[i]) * xhr[i];
    if (dbk) for (int64_t i = 0; i < n; i++) dbk[i] += A(gr[i]);
  }
}
template <class T, class S>
VT_TARGET_AVX2 void backward_block_avx2(const Rows& r, const T* dy, const T* w, const S* mean, const S* rstd, T* dx,
                                        opmath_t<T>* dw, opmath_t<T>* db, int64_t block, int64_t k, opmath_t<T>* xhr,
                                        opmath_t<T>* gw) {
  backward_block<T, S>(r, dy, w, mean, rstd, dx, dw, db, block, k, xhr, gw);
}

template <class T, class S>
void backward_rows(const Rows& r, const T* dy, const T* w, const S* mean, const S* rstd, T* dx, opmath_t<T>* dw,
                   opmath_t<T>* db, int64_t block) {
  using A = opmath_t<T>;
  const int64_t n = r.n, blocks = (r.rows + block - 1) / block;
  const bool avx2 = reduce::use_avx2();
  parallel_for(0, blocks, std::max<int64_t>(1, kParallelGrain / (block * n)), [&](int64_t k0, int64_t k1) {
    std::vector<A> xh(static_cast<size_t>(n)), g(static_cast<size_t>(n));  // the row's xhat and weighted dy
    for (int64_t k = k0; k < k1; k++) {
      if (avx2) backward_block_avx2<T, S>(r, dy, w, mean, rstd, dx, dw, db, block, k, xh.data(), g.data());
      else backward_block<T, S>(r, dy, w, mean, rstd, dx, dw, db, block, k, xh.data(), g.data());
    }
  });
}

// dx, and the weight and bias gradients ([0] tensors where there is no weight / bias, as on CUDA).
std::tuple<Tensor, Tensor, Tensor> backward(const char* op, const Tensor& grad_out, const Tensor& input,
                                            IntArrayRef shape, const Tensor& mean, const Tensor& rstd,
                                            const Tensor& weight, bool has_bias) {
  Rows r = norm::rows_of(op, input, shape, weight, Tensor(), kMaxRow);
  norm::check_backward(op, r, grad_out, input, mean, rstd);
  VT_CHECK_VALUE(!has_bias || weight.defined(), op, ": the fused kernels take a bias only with a weight");
  Tensor dy = contiguous(grad_out), dx = empty(input.sizes(), input.dtype(), input.device());
  const int64_t block = std::max<int64_t>(1, (r.rows + kBlocks - 1) / kBlocks);
  const int64_t blocks = (r.rows + block - 1) / block;
  Tensor gw, gb;  // the weight and bias gradients
  VT_DISPATCH_FLOATING(input.dtype(), op, [&] {
    using T = scalar_t;
    using A = opmath_t<T>;
    std::vector<A> dw(size_t(weight.defined() ? blocks * r.n : 0)), db(size_t(has_bias ? blocks * r.n : 0));
    const T* w = weight.defined() ? static_cast<const T*>(weight.data()) : nullptr;
    auto run = [&](auto* mu, auto* rs) {
      backward_rows<T>(r, static_cast<const T*>(dy.data()), w, mu, rs, static_cast<T*>(dx.data()),
                       dw.empty() ? nullptr : dw.data(), db.empty() ? nullptr : db.data(), block);
    };
    if (stats_dtype(input.dtype()) == DType::Float64)
      run(mean.defined() ? static_cast<const double*>(mean.data()) : nullptr, static_cast<const double*>(rstd.data()));
    else
      run(mean.defined() ? static_cast<const float*>(mean.data()) : nullptr, static_cast<const float*>(rstd.data()));
    // the blocks' partials, folded in float64 in block order
    auto fold = [&](bool wanted, const std::vector<A>& partial, Tensor& out) {
      if (!wanted) return;  // (no rows: no partials, and the gradient is zeros)
      out = empty(weight.sizes(), input.dtype(), input.device());
      auto* o = static_cast<T*>(out.data());
      // block by block over every column (each column's adds in the same order as a column at a time, so the
      // same bits; but vectorised across columns, where a column's chain of 64 dependent adds down a stride of
      // n took a third of a [512, 48] backward)
      std::vector<double> sum(size_t(r.n), 0.0);
      for (int64_t k = 0; k < blocks; k++) {
        const A* pk = partial.data() + k * r.n;
        for (int64_t i = 0; i < r.n; i++) sum[size_t(i)] += double(pk[i]);
      }
      for (int64_t i = 0; i < r.n; i++) o[i] = T(sum[size_t(i)]);
    };
    fold(weight.defined(), dw, gw);
    fold(has_bias, db, gb);
  });
  auto none = [&] { return empty(DimVec{0}, input.dtype(), input.device()); };
  return {dx, gw.defined() ? gw : none(), gb.defined() ? gb : none()};
}

std::tuple<Tensor, Tensor, Tensor> native_layer_norm_cpu(const Tensor& input, IntArrayRef shape, const Tensor& weight,
                                                         const Tensor& bias, double eps) {
  return forward("layer_norm", input, shape, weight, bias, eps, true);
}

std::tuple<Tensor, Tensor, Tensor> native_layer_norm_backward_cpu(const Tensor& grad_out, const Tensor& input,
                                                                  IntArrayRef shape, const Tensor& mean,
                                                                  const Tensor& rstd, const Tensor& weight,
                                                                  bool has_bias) {
  VT_CHECK_VALUE(mean.defined(), "layer_norm_backward: expected the forward's mean");
  return backward("layer_norm_backward", grad_out, input, shape, mean, rstd, weight, has_bias);
}

std::tuple<Tensor, Tensor> fused_rms_norm_cpu(const Tensor& input, IntArrayRef shape, const Tensor& weight,
                                              double eps) {
  auto [y, mean, rstd] = forward("rms_norm", input, shape, weight, Tensor(), eps, false);
  return {y, rstd};
}

std::tuple<Tensor, Tensor> fused_rms_norm_backward_cpu(const Tensor& grad_out, const Tensor& input, IntArrayRef shape,
                                                       const Tensor& rstd, const Tensor& weight) {
  auto [dx, dw, db] = backward("rms_norm_backward", grad_out, input, shape, Tensor(), rstd, weight, false);
  return {dx, dw};
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("native_layer_norm", &native_layer_norm_cpu);
  m.impl("native_layer_norm_backward", &native_layer_norm_backward_cpu);
  m.impl("_fused_rms_norm", &fused_rms_norm_cpu);
  m.impl("_fused_rms_norm_backward", &fused_rms_norm_backward_cpu);
}

}  // namespace
}  // namespace vt
