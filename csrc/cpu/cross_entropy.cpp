// Mean cross-entropy from logits on CPU (the fused ops of op_table.h, as on CUDA).
//
// nn.functional's composite (log_softmax, gather, mask, sum, divide: each a recorded op and a pass) cost
// 3.4x PyTorch on the small GPT's [512, 40] logits. Forward: per row, the log-sum-exp by vector exp (the
// same loop as softmax, cpu/exp_sum.h) and loss = lse - (1 - s) x[t] - (s / C) sum(x); the rows' losses are
// summed in float64 in row order (the same bits for any thread count) and divided by the number of rows
// not ignored. Backward: dx = (exp(x - lse) - s / C - (1 - s) [j = t]) * grad / count from the saved lse,
// zero on ignored rows, the exps over blocks of rows as in the forward. Half types go through a float copy of
// each row; float64 stays float64 throughout.
#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "core/parallel.h"
#include "cpu/exp_sum.h"
#include "dispatch/dispatcher.h"
#include "ops/cross_entropy_args.h"
#include "ops/views.h"

namespace vt {
namespace {
using namespace reduce;

// ---- float rows: vector code --------------------------------------------------------------------------
// The log-sum-exps of `rows` contiguous float rows of n, by one exp over the shifted block (short rows, a
// vocabulary of tens, would each be a latency-bound chain of max, exp and sum). A row of -inf gives -inf,
// one with NaN or +inf gives that.
void lse_rows(const float* x, int64_t rows, int64_t n, double* lse, std::vector<float>& buf) {
  buf.resize(size_t(rows * n));
  std::vector<float> m(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; r++) {
    m[size_t(r)] = row_max(x + r * n, n);
    const float shift = std::isfinite(m[size_t(r)]) ? m[size_t(r)] : 0.0f;
    for (int64_t j = 0; j < n; j++) buf[size_t(r * n + j)] = x[r * n + j] - shift;
  }
  exp_inplace(buf.data(), rows * n);
  for (int64_t r = 0; r < rows; r++) {
    const float mr = m[size_t(r)];
    lse[r] = std::isfinite(mr) ? double(mr) + std::log(double(row_sum(buf.data() + r * n, n))) : double(mr);
  }
}

// ---- float64 rows: libm -----------------------------------------------------------------------------
void lse_rows(const double* x, int64_t rows, int64_t n, double* lse, std::vector<double>&) {
  for (int64_t r = 0; r < rows; r++) {
    const double* xr = x + r * n;
    const double m = row_max(xr, n);
    double s = 0;
    if (std::isfinite(m))
      for (int64_t j = 0; j < n; j++) s += std::exp(xr[j] - m);
    lse[r] = std::isfinite(m) ? m + std::log(s) : m;
  }
}

// n elements as the compute type: float64 and float in place, half types through `buf`.
template <class T> const opmath_t<T>* as_compute(const T* row, int64_t n, std::vector<opmath_t<T>>& buf) {
  if constexpr (std::is_same_v<T, opmath_t<T>>) {
    return row;
  } else {
    buf.resize(size_t(n));
    for (int64_t j = 0; j < n; j++) buf[size_t(j)] = float(row[j]);
    return buf.data();
  }
}

template <class T> using lse_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

int64_t checked_target(int64_t t, int64_t n, int64_t row) {
  VT_CHECK_INDEX(t >= 0 && t < n, "cross_entropy: target ", t, " is out of bounds for ", n, " classes (row ", row,
                 ")");
  return t;
}

template <class T>
void forward_rows(const T* x, const int64_t* target, int64_t rows, int64_t n, int64_t ignore, double s,
                  lse_t<T>* lse, double* loss) {
  using M = opmath_t<T>;
  const int64_t block = std::max<int64_t>(1, 4096 / n);  // rows whose exps are taken together
  parallel_for(0, rows, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t r0, int64_t r1) {
    std::vector<M> conv, buf;
    std::vector<double> l(static_cast<size_t>(block));
    for (int64_t b = r0; b < r1; b += block) {
      const int64_t nb = std::min(block, r1 - b);
      const M* rows_b = as_compute(x + b * n, nb * n, conv);
      lse_rows(rows_b, nb, n, l.data(), buf);
      for (int64_t k = 0; k < nb; k++) {
        const int64_t r = b + k;
        const M* row = rows_b + k * n;
        lse[r] = lse_t<T>(l[size_t(k)]);
        if (target[r] == ignore) {
          loss[r] = 0;
          continue;
        }
        double v = l[size_t(k)] - (1 - s) * double(row[checked_target(target[r], n, r)]);
        if (s != 0) {
          double sum = 0;
          for (int64_t j = 0; j < n; j++) sum += double(row[j]);
          v -= s / double(n) * sum;
        }
        loss[r] = v;
      }
    }
  });
}

std::tuple<Tensor, Tensor, Tensor> cross_entropy_cpu(const Tensor& self, const Tensor& target, int64_t ignore_index,
                                                     double smoothing) {
  xent::check_inputs("cross_entropy", self, target);
  Tensor x = contiguous(self), t = contiguous(target);
  const int64_t rows = x.sizes()[0], n = x.sizes()[1];
  const auto* tp = static_cast<const int64_t*>(t.data());
  Tensor lse = empty(DimVec{rows}, stats_dtype(x.dtype()), x.device());
  Tensor loss = empty(DimVec{}, x.dtype(), x.device()), count = empty(DimVec{}, DType::Float32, x.device());
  std::vector<double> per_row(static_cast<size_t>(rows));
  VT_DISPATCH_FLOATING(x.dtype(), "cross_entropy", [&] {
    forward_rows<scalar_t>(static_cast<const scalar_t*>(x.data()), tp, rows, n, ignore_index, smoothing,
                           static_cast<lse_t<scalar_t>*>(lse.data()), per_row.data());
  });
  double sum = 0;
  int64_t valid = 0;
  for (int64_t r = 0; r < rows; r++) {
    sum += per_row[size_t(r)];
    valid += tp[r] != ignore_index;
  }
  *static_cast<float*>(count.data()) = float(valid);
  const double mean = sum / double(valid);  // no rows, or all ignored: 0 / 0 = NaN, as in PyTorch
  VT_DISPATCH_FLOATING(x.dtype(), "cross_entropy", [&] { *static_cast<scalar_t*>(loss.data()) = scalar_t(mean); });
  return {loss, lse, count};
}

Tensor cross_entropy_backward_cpu(const Tensor& grad, const Tensor& self, const Tensor& target, const Tensor& lse,
                                  const Tensor& count, int64_t ignore_index, double smoothing) {
  xent::check_inputs("cross_entropy_backward", self, target);
  xent::check_saved(self, grad, lse, count, stats_dtype(self.dtype()));
  Tensor x = contiguous(self), t = contiguous(target);
  const int64_t rows = x.sizes()[0], n = x.sizes()[1];
  const auto* tp = static_cast<const int64_t*>(t.data());
  Tensor dx = empty(x.sizes(), x.dtype(), x.device());
  const double k = host_item(grad).to_double() / double(*static_cast<const float*>(count.data()));
  VT_DISPATCH_FLOATING(x.dtype(), "cross_entropy_backward", [&] {
    using T = scalar_t;
    using M = opmath_t<T>;
    const T* xp = static_cast<const T*>(x.data());
    const auto* lp = static_cast<const lse_t<T>*>(lse.data());
    T* dp = static_cast<T*>(dx.data());
    const int64_t block = std::max<int64_t>(1, 4096 / n);  // rows whose exps are taken together, as forward
    const M off = M(smoothing / double(n)), kk = M(k), hit = M((1 - smoothing) * k);
    parallel_for(0, rows, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t r0, int64_t r1) {
      std::vector<M> buf, out;
      for (int64_t b = r0; b < r1; b += block) {
        const int64_t nb = std::min(block, r1 - b);
        const M* xb = as_compute(xp + b * n, nb * n, buf);
        M* d = reinterpret_cast<M*>(dp + b * n);  // float and float64 in place; half types through `out`
        if constexpr (!std::is_same_v<T, M>) {
          out.resize(size_t(nb * n));
          d = out.data();
        }
        for (int64_t q = 0; q < nb; q++)
          for (int64_t j = 0; j < n; j++) d[q * n + j] = xb[q * n + j] - M(lp[b + q]);
        exp_inplace(d, nb * n);  // one vector exp over the block: short rows each were a latency-bound call
        for (int64_t q = 0; q < nb; q++) {
          const int64_t r = b + q;
          M* dq = d + q * n;
          if (tp[r] == ignore_index) {
            std::fill(dq, dq + n, M(0));
            continue;
          }
          for (int64_t j = 0; j < n; j++) dq[j] = (dq[j] - off) * kk;
          dq[checked_target(tp[r], n, r)] -= hit;
        }
        if constexpr (!std::is_same_v<T, M>)
          for (int64_t j = 0; j < nb * n; j++) dp[b * n + j] = T(d[j]);
      }
    });
  });
  return dx;
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("_cross_entropy_logits", &cross_entropy_cpu);
  m.impl("_cross_entropy_logits_backward", &cross_entropy_backward_cpu);
}

}  // namespace
}  // namespace vt
