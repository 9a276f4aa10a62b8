// CPU elementwise loops over a TensorIterator.
//
//   cpu_kernel<scalar_t>(iter, [](float a, float b) { return a + b; });
//
// The op takes and returns the "opmath" type (float for half/bfloat16), so one lambda serves every dtype.
// Runs where every operand is contiguous, or an input is a broadcast scalar, get their own loops so the
// compiler vectorises them; everything else takes the strided loop.
#pragma once
#include <algorithm>
#include <tuple>
#include <type_traits>

#include "ops/iterator.h"

namespace vt {

// How many arguments of type T the op takes (ops are often generic lambdas, so ask by invoking).
template <class Op, class T> constexpr int arity_of() {
  if constexpr (std::is_invocable_v<Op, T>) return 1;
  else if constexpr (std::is_invocable_v<Op, T, T>) return 2;
  else if constexpr (std::is_invocable_v<Op, T, T, T>) return 3;
  else if constexpr (std::is_invocable_v<Op, T, T, T, T>) return 4;
  else return -1;
}

namespace detail {

template <class T> inline T load_as(const char* p) { return *reinterpret_cast<const T*>(p); }

// One run of n elements. `Contig` says which operands are unit-stride (bit i) and which inputs are
// scalars (stride 0); the specialised instantiations let the compiler vectorise.
template <class in_t, class out_t, class Op, size_t... I>
inline void run_elementwise(char** data, const int64_t* strides, int64_t n, const Op& op, std::index_sequence<I...>) {
  using math_t = opmath_t<in_t>;
  constexpr int N = sizeof...(I);
  out_t* out = reinterpret_cast<out_t*>(data[0]);
  bool out_contig = strides[0] == sizeof(out_t);
  bool in_contig = ((strides[I + 1] == sizeof(in_t)) && ...);
  // An op may bring its own vector code for contiguous float32 runs (math the compiler cannot vectorise,
  // libm calls: cpu/gelu.h). Other layouts (a broadcast gradient, a transposed view) reach it through
  // chunks gathered into buffers: cheaper than the op's scalar form.
  if constexpr (std::is_same_v<in_t, float> && std::is_same_v<out_t, float> &&
                requires(float* o, const float* const* i) { op.contiguous_f32(o, i, n); }) {
    constexpr int64_t C = 256;
    float buf[N][C], obuf[C];
    for (int64_t b = 0; b < n; b += C) {
      const int64_t m = std::min(C, n - b);
      const float* in[N];
      for (int k = 0; k < N; k++) {
        const char* p = data[k + 1] + b * strides[k + 1];
        if (strides[k + 1] == sizeof(float)) {
          in[k] = reinterpret_cast<const float*>(p);
        } else {
          for (int64_t j = 0; j < m; j++) buf[k][j] = load_as<float>(p + j * strides[k + 1]);
          in[k] = buf[k];
        }
      }
      float* o = out_contig ? out + b : obuf;
      op.contiguous_f32(o, in, m);
      if (!out_contig)
        for (int64_t j = 0; j < m; j++) *reinterpret_cast<float*>(data[0] + (b + j) * strides[0]) = obuf[j];
    }
    return;
  }
  if (out_contig && in_contig) {
    const in_t* in[N > 0 ? N : 1] = {reinterpret_cast<const in_t*>(data[I + 1])...};
    for (int64_t i = 0; i < n; i++) out[i] = out_t(op(math_t(in[I][i])...));
    return;
  }
  if constexpr (N == 2) {
    // Tensor-with-scalar, the commonest broadcast: `x + 1`, `x * y[0]`.
    if (out_contig && strides[2] == 0 && strides[1] == sizeof(in_t)) {
      const in_t* a = reinterpret_cast<const in_t*>(data[1]);
      const math_t b = math_t(*reinterpret_cast<const in_t*>(data[2]));
      for (int64_t i = 0; i < n; i++) out[i] = out_t(op(math_t(a[i]), b));
      return;
    }
    if (out_contig && strides[1] == 0 && strides[2] == sizeof(in_t)) {
      const math_t a = math_t(*reinterpret_cast<const in_t*>(data[1]));
      const in_t* b = reinterpret_cast<const in_t*>(data[2]);
      for (int64_t i = 0; i < n; i++) out[i] = out_t(op(a, math_t(b[i])));
      return;
    }
  }
  for (int64_t i = 0; i < n; i++) {
    *reinterpret_cast<out_t*>(data[0] + i * strides[0]) =
        out_t(op(math_t(load_as<in_t>(data[I + 1] + i * strides[I + 1]))...));
  }
}

}  // namespace detail

// Elementwise kernel: every input has dtype in_t (the iterator cast them), the output has out_t.
template <class in_t, class out_t = in_t, class Op>
void cpu_kernel(TensorIterator& iter, const Op& op) {
  constexpr int N = arity_of<Op, opmath_t<in_t>>();
  static_assert(N > 0, "cpu_kernel: the op must be callable with 1-4 values of the opmath type");
  VT_CHECK(iter.ntensors() == N + 1, "cpu_kernel: op takes ", N, " inputs but the iterator has ",
           iter.ntensors() - 1);
  iter.for_each([&](char** data, const int64_t* strides, int64_t n) {
    detail::run_elementwise<in_t, out_t>(data, strides, n, op, std::make_index_sequence<N>{});
  });
  iter.finish();
}

// Same, but the op sees and returns the storage types directly (no opmath conversion): for copies and
// integer bit operations where float conversion would be wrong.
template <class in_t, class out_t, class Op>
void cpu_kernel_raw(TensorIterator& iter, const Op& op) {
  constexpr int N = arity_of<Op, in_t>();
  static_assert(N > 0, "cpu_kernel_raw: the op must be callable with 1-4 values of in_t");
  iter.for_each([&](char** data, const int64_t* strides, int64_t n) {
    auto idx = std::make_index_sequence<N>{};
    [&]<size_t... I>(std::index_sequence<I...>) {
      for (int64_t i = 0; i < n; i++)
        *reinterpret_cast<out_t*>(data[0] + i * strides[0]) =
            op(detail::load_as<in_t>(data[I + 1] + i * strides[I + 1])...);
    }(idx);
  });
  iter.finish();
}

}  // namespace vt
