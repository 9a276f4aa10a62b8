// Scaled dot-product attention on CPU as one op each way (_fused_attention and its backward, as on CUDA), in
// float32 (half types widened) and float64, any head dim, causal (top-left aligned, as torch's) or not, GQA.
//
// nn.functional's composite (matmul, scale, causal mask, softmax, matmul; key/value heads repeated for GQA)
// records five ops and their backward nodes per call; here each (batch, query head) is two GEMMs around a
// row softmax in one buffer of [Lq, Lk] scores, and the backward recomputes the probabilities from the
// saved log-sum-exp (FlashAttention's backward, unblocked: the CPU holds the scores of one head at a time):
//   dP = dO V^T, dS = P * (dP - rowsum(dO * O)), dQ = scale dS K, dK = scale dS^T Q, dV = P^T dO.
// The backward runs per (batch, key/value head) and loops over that head's query heads in order, so dK and
// dV accumulate without races and with the same bits for any thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

#include "core/parallel.h"
#include "cpu/exp_sum.h"
#include "cpu/gemm.h"
#include "dispatch/dispatcher.h"
#include "ops/attention_args.h"
#include "ops/views.h"

namespace vt {
namespace {
using attention::Shape;

Shape check(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, std::optional<double> scale) {
  Shape s = attention::check(op, q, k, v, scale);
  VT_CHECK_TYPE(is_floating(q.dtype()), op, ": expected floating point query, key and value, got ",
                dtype_name(q.dtype()));
  return s;
}

// The operand as the compute type, contiguous: float64 stays, the rest compute in float32 (half types are
// widened here and their results rounded once at the end).
Tensor operand(const Tensor& t) {
  return contiguous(t.dtype() == DType::Float64 || t.dtype() == DType::Float32 ? t : to_dtype(t, DType::Float32));
}
Tensor result(const Tensor& t, DType dtype) { return t.dtype() == dtype ? t : to_dtype(t, dtype); }

// Keys query row i sees: all, or (causal) the first i + 1.
int64_t keys_of(const Shape& s, bool causal, int64_t i) { return causal ? std::min(s.Lk, i + 1) : s.Lk; }

// Causal attention goes in blocks of query rows, each with the keys its last row sees: the scores, exps and
// GEMMs skip the masked half ([32, 8, 256, 64]: 2.15 of 4.3 GFLOP). Non-causal, or a block as long as the
// queries: one block.
constexpr int64_t kRowBlock = 64;

struct Block {
  int64_t r0, r1, kend;  // query rows [r0, r1), keys [0, kend)
};

std::vector<Block> blocks_of(const Shape& s, bool causal) {
  if (!causal || s.Lq <= kRowBlock) return {{0, s.Lq, causal ? keys_of(s, true, s.Lq - 1) : s.Lk}};
  std::vector<Block> out;
  for (int64_t r0 = 0; r0 < s.Lq; r0 += kRowBlock) {
    const int64_t r1 = std::min(s.Lq, r0 + kRowBlock);
    out.push_back({r0, r1, keys_of(s, true, r1 - 1)});
  }
  return out;
}

// Rows [b.r0, b.r1) of the [Lq, Lk] scores p become exp(p[i, j] - shift[i]) on the keys row i sees, 0 on the
// others up to b.kend. The shift is the row's max (forward: then the rows are normalised, and lse[i] = max +
// log(sum)) or the saved log-sum-exp (backward: P itself). A block of short rows takes one exp over all of it
// (row by row each is a latency-bound chain); a blocked causal one, its rows' visible keys each.
// forward: saved == nullptr, the rows' log-sum-exps go to lse_out; backward: saved is the forward's lse_out.
template <class T>
void probabilities(const Shape& s, bool causal, const Block& b, T* p, const T* saved, T* lse_out) {
  const bool whole = b.r0 == 0 && b.r1 == s.Lq && b.kend == s.Lk;  // one contiguous [Lq, Lk] buffer
  std::vector<T> shift(static_cast<size_t>(b.r1 - b.r0));
  for (int64_t i = b.r0; i < b.r1; i++) {
    T* row = p + i * s.Lk;
    const int64_t n = keys_of(s, causal, i);
    const T sh = saved ? saved[i] : reduce::row_max(row, n);
    shift[size_t(i - b.r0)] = sh;
    for (int64_t j = 0; j < n; j++) row[j] -= sh;
    if (whole) {
      std::fill(row + n, row + s.Lk, -std::numeric_limits<T>::infinity());  // exp: 0
    } else {
      reduce::exp_inplace(row, n);
      std::fill(row + n, row + b.kend, T(0));
    }
  }
  if (whole) reduce::exp_inplace(p, s.Lq * s.Lk);  // vector exp for float, libm for float64
  if (saved) return;
  for (int64_t i = b.r0; i < b.r1; i++) {
    T* row = p + i * s.Lk;
    const int64_t n = keys_of(s, causal, i);
    const T sum = reduce::row_sum(row, n);
    const T inv = T(1) / sum;
    for (int64_t j = 0; j < n; j++) row[j] *= inv;
    lse_out[i] = shift[size_t(i - b.r0)] + std::log(sum);
  }
}

// S[r0:r1, :kend] = scale * Q[r0:r1] K[:kend]^T for one query head (Q: [Lq, D], K: [Lk, D], rows contiguous)
template <class T> void scores(const Shape& s, const Block& b, const T* q, const T* k, T* out) {
  gemm::gemm<T>(b.r1 - b.r0, b.kend, s.D, T(s.scale), {q + b.r0 * s.D, s.D, 1}, {k, 1, s.D}, T(0),
                {out + b.r0 * s.Lk, s.Lk, 1});
}

template <class T>
void forward(const Shape& s, bool causal, const T* q, const T* k, const T* v, T* o, T* lse) {
  const int64_t group = s.Hq / s.Hkv, per_head = s.Lq * s.Lk * s.D;
  const std::vector<Block> blocks = blocks_of(s, causal);
  parallel_for(0, s.B * s.Hq, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, per_head)),
               [&](int64_t h0, int64_t h1) {
    std::vector<T> p(static_cast<size_t>(s.Lq * s.Lk));
    for (int64_t bh = h0; bh < h1; bh++) {
      const int64_t kv = (bh / s.Hq) * s.Hkv + (bh % s.Hq) / group;
      const T* kh = k + kv * s.Lk * s.D;
      for (const Block& b : blocks) {
        scores(s, b, q + bh * s.Lq * s.D, kh, p.data());
        probabilities<T>(s, causal, b, p.data(), nullptr, lse + bh * s.Lq);
        gemm::gemm<T>(b.r1 - b.r0, s.D, b.kend, T(1), {p.data() + b.r0 * s.Lk, s.Lk, 1},
                      {v + kv * s.Lk * s.D, s.D, 1}, T(0), {o + (bh * s.Lq + b.r0) * s.D, s.D, 1});
      }
    }
  });
}

template <class T>
void backward(const Shape& s, bool causal, const T* q, const T* k, const T* v, const T* o, const T* dout,
              const T* lse, T* dq, T* dk, T* dv) {
  const int64_t group = s.Hq / s.Hkv, per_head = group * s.Lq * s.Lk * s.D;
  const std::vector<Block> blocks = blocks_of(s, causal);
  const T sc = T(s.scale);
  parallel_for(0, s.B * s.Hkv, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, per_head)),
               [&](int64_t k0, int64_t k1) {
    std::vector<T> p(static_cast<size_t>(s.Lq * s.Lk)), dp(static_cast<size_t>(s.Lq * s.Lk));
    for (int64_t kvh = k0; kvh < k1; kvh++) {
      const T* kh = k + kvh * s.Lk * s.D;
      const T* vh = v + kvh * s.Lk * s.D;
      T* dkh = dk + kvh * s.Lk * s.D;
      T* dvh = dv + kvh * s.Lk * s.D;
      // dK and dV sum over the group's heads and the blocks (keys no query sees get 0), in one order
      std::fill(dkh, dkh + s.Lk * s.D, T(0));
      std::fill(dvh, dvh + s.Lk * s.D, T(0));
      for (int64_t g = 0; g < group; g++) {
        const int64_t bh = (kvh / s.Hkv) * s.Hq + (kvh % s.Hkv) * group + g, off = bh * s.Lq * s.D;
        for (const Block& b : blocks) {
          const int64_t m = b.r1 - b.r0, n = b.kend;
          T* pb = p.data() + b.r0 * s.Lk;
          T* dsb = dp.data() + b.r0 * s.Lk;
          scores(s, b, q + off, kh, p.data());
          probabilities<T>(s, causal, b, p.data(), lse + bh * s.Lq, nullptr);  // P from the saved lse
          // dP = dO V^T, then dS = P * (dP - rowsum(dO * O)) in place
          gemm::gemm<T>(m, n, s.D, T(1), {dout + off + b.r0 * s.D, s.D, 1}, {vh, 1, s.D}, T(0), {dsb, s.Lk, 1});
          for (int64_t i = b.r0; i < b.r1; i++) {
            T delta = 0;
            for (int64_t d = 0; d < s.D; d++) delta += dout[off + i * s.D + d] * o[off + i * s.D + d];
            T* dsr = dp.data() + i * s.Lk;
            const T* pr = p.data() + i * s.Lk;
            for (int64_t j = 0; j < n; j++) dsr[j] = pr[j] * (dsr[j] - delta);
          }
          gemm::gemm<T>(m, s.D, n, sc, {dsb, s.Lk, 1}, {kh, s.D, 1}, T(0), {dq + off + b.r0 * s.D, s.D, 1});
          gemm::gemm<T>(n, s.D, m, sc, {dsb, 1, s.Lk}, {q + off + b.r0 * s.D, s.D, 1}, T(1), {dkh, s.D, 1});
          gemm::gemm<T>(n, s.D, m, T(1), {pb, 1, s.Lk}, {dout + off + b.r0 * s.D, s.D, 1}, T(1), {dvh, s.D, 1});
        }
      }
    }
  });
}

template <class T> const T* data(const Tensor& t) { return static_cast<const T*>(t.data()); }
template <class T> T* mut(const Tensor& t) { return static_cast<T*>(t.data()); }

std::tuple<Tensor, Tensor> fused_attention_cpu(const Tensor& query, const Tensor& key, const Tensor& value,
                                               bool is_causal, std::optional<double> scale) {
  Shape s = check("_fused_attention", query, key, value, scale);
  Tensor q = operand(query), k = operand(key), v = operand(value);
  Tensor out = empty(q.sizes(), q.dtype(), q.device());
  Tensor lse = empty(DimVec{s.B, s.Hq, s.Lq}, stats_dtype(q.dtype()), q.device());
  if (q.dtype() == DType::Float64) {
    if (s.Lk == 0) {  // softmax over no keys: the output is an empty sum, the log-sum-exp -inf
      std::fill(mut<double>(out), mut<double>(out) + out.numel(), 0.0);
      std::fill(mut<double>(lse), mut<double>(lse) + lse.numel(), -INFINITY);
    } else {
      forward<double>(s, is_causal, data<double>(q), data<double>(k), data<double>(v), mut<double>(out),
                      mut<double>(lse));
    }
  } else if (s.Lk == 0) {
    std::fill(mut<float>(out), mut<float>(out) + out.numel(), 0.0f);
    std::fill(mut<float>(lse), mut<float>(lse) + lse.numel(), -INFINITY);
  } else {
    forward<float>(s, is_causal, data<float>(q), data<float>(k), data<float>(v), mut<float>(out), mut<float>(lse));
  }
  return {result(out, query.dtype()), lse};
}

std::tuple<Tensor, Tensor, Tensor> fused_attention_backward_cpu(const Tensor& grad_out, const Tensor& query,
                                                                const Tensor& key, const Tensor& value,
                                                                const Tensor& out, const Tensor& lse, bool is_causal,
                                                                std::optional<double> scale) {
  const char* op = "_fused_attention_backward";
  Shape s = check(op, query, key, value, scale);
  attention::check_backward(op, s, query, grad_out, out, lse, stats_dtype(query.dtype()));
  Tensor q = operand(query), k = operand(key), v = operand(value), o = operand(out), g = operand(grad_out);
  Tensor dq = empty(q.sizes(), q.dtype(), q.device());
  Tensor dk = empty(k.sizes(), q.dtype(), q.device()), dv = empty(v.sizes(), q.dtype(), q.device());
  if (q.dtype() == DType::Float64) {
    if (s.Lq == 0 || s.Lk == 0) {  // nothing attended: zero gradients
      for (const Tensor* t : {&dq, &dk, &dv}) std::fill(mut<double>(*t), mut<double>(*t) + t->numel(), 0.0);
    } else {
      backward<double>(s, is_causal, data<double>(q), data<double>(k), data<double>(v), data<double>(o),
                       data<double>(g), data<double>(lse), mut<double>(dq), mut<double>(dk), mut<double>(dv));
    }
  } else if (s.Lq == 0 || s.Lk == 0) {
    for (const Tensor* t : {&dq, &dk, &dv}) std::fill(mut<float>(*t), mut<float>(*t) + t->numel(), 0.0f);
  } else {
    backward<float>(s, is_causal, data<float>(q), data<float>(k), data<float>(v), data<float>(o), data<float>(g),
                    data<float>(lse), mut<float>(dq), mut<float>(dk), mut<float>(dv));
  }
  const DType t = query.dtype();
  return {result(dq, t), result(dk, t), result(dv, t)};
}

VT_REGISTER_KERNELS(CPU, m) {
  m.impl("_fused_attention", &fused_attention_cpu);
  m.impl("_fused_attention_backward", &fused_attention_backward_cpu);
}

}  // namespace
}  // namespace vt
