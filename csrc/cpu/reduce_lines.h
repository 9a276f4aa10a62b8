// Ops that work along one dim without removing it (softmax, log_softmax, cumsum, cumprod) see the tensor
// as lines: the 1-d slices along that dim. The iterator walks the other dims (in memory order, split
// over threads) and hands over bundles of lines; a kernel then either walks each line (when the dim is
// the one with the smallest stride) or sweeps a block of neighbouring lines row by row, so the inner
// loop runs over adjacent memory and vectorises.
#pragma once
#include <cstdlib>

#include "core/parallel.h"
#include "ops/iterator.h"

namespace vt::reduce {

struct Lines {
  const char* in;
  char* out;
  int64_t in_next, out_next;  // bytes from one line to the next
  int64_t in_step, out_step;  // bytes from one element of a line to the next
  int64_t count, len;         // lines in this bundle, elements per line

  // Neighbouring lines are closer in memory than the elements of one line: sweep rows across lines.
  bool across() const { return count > 1 && std::llabs(in_next) < std::llabs(in_step); }
  const char* in_at(int64_t line, int64_t k) const { return in + line * in_next + k * in_step; }
  char* out_at(int64_t line, int64_t k) const { return out + line * out_next + k * out_step; }
};

// Lines processed together when sweeping across them (per-line state lives on the stack).
constexpr int64_t kLinesBlock = 64;

// Calls f(const Lines&) over every line of `in` along `dim`, paired with the same line of `out` (a fresh
// tensor of in's shape). A 0-d tensor is one line of one element.
template <class F>
void for_each_lines(const char* name, const Tensor& out, const Tensor& in, int64_t dim, F f) {
  if (in.numel() == 0) return;
  if (in.dim() == 0) {
    f(Lines{static_cast<const char*>(in.data()), static_cast<char*>(out.data()), 0, 0, 0, 0, 1, 1});
    return;
  }
  DimVec sizes, in_strides, out_strides;
  for (int64_t d = 0; d < in.dim(); d++) {
    if (d == dim) continue;
    sizes.push_back(in.sizes()[d]);
    in_strides.push_back(in.strides()[d]);
    out_strides.push_back(out.strides()[d]);
  }
  TensorIterator it = TensorIteratorConfig(name)
                          .add_output(make_view(out, sizes, out_strides, out.storage_offset()))
                          .add_input(make_view(in, sizes, in_strides, in.storage_offset()))
                          .promote_inputs(false)
                          .output_dtype(out.dtype())
                          .build();
  int64_t len = in.sizes()[dim];
  int64_t in_step = in.strides()[dim] * int64_t(in.itemsize()), out_step = out.strides()[dim] * int64_t(out.itemsize());
  it.for_each([&](char** data, const int64_t* strides, int64_t n) {
    f(Lines{data[1], data[0], strides[1], strides[0], in_step, out_step, n, len});
  }, std::max<int64_t>(1, kParallelGrain / len));
}

}  // namespace vt::reduce
