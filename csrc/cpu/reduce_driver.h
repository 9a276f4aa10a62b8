// The loops that walk a reduction (reduce.h explains the ops interface and the two walks, runs and lanes).
#pragma once
#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
#include <memory>

#include "core/parallel.h"
#include "cpu/reduce_fold.h"
#include "ops/iterator.h"

namespace vt::reduce::detail {

// Byte offsets of one or two strided operands while a multi-index walks `sizes` (innermost first).
struct Walker {
  const int64_t* sizes = nullptr;
  const int64_t* strides[2] = {nullptr, nullptr};
  size_t nd = 0;
  DimVec idx;
  int64_t off[2] = {0, 0};
  Walker(const DimVec& sz, const DimVec& s0, const DimVec* s1)
      : sizes(sz.data()), strides{s0.data(), s1 ? s1->data() : nullptr}, nd(sz.size()), idx(sz.size()) {}
  void seek(int64_t flat) {
    off[0] = off[1] = 0;
    for (size_t d = 0; d < nd; d++) {
      idx[d] = flat % sizes[d];
      flat /= sizes[d];
      off[0] += idx[d] * strides[0][d];
      if (strides[1]) off[1] += idx[d] * strides[1][d];
    }
  }
  void next() {
    for (size_t d = 0; d < nd; d++) {
      off[0] += strides[0][d];
      if (strides[1]) off[1] += strides[1][d];
      if (++idx[d] < sizes[d]) return;
      off[0] -= sizes[d] * strides[0][d];
      if (strides[1]) off[1] -= sizes[d] * strides[1][d];
      idx[d] = 0;
    }
  }
};

constexpr int64_t kLaneBlock = 4096;   // at most this many outputs are folded together in the lanes case,
constexpr int64_t kLaneSpan = 16384;   // and their elements of one row span about this many bytes (L1)
constexpr int64_t kWideRow = 1024;     // lanes of a row made of several adjacent short rows
constexpr int64_t kShortRun = 16;      // reduced runs up to this long are folded as lanes
constexpr int64_t kRowBlock = 128;     // rows folded per lane before merging through the cascade

// The iterator's dims split into kept (K) and reduced (R) ones, innermost first. Output strides are in
// elements: every output of one reduction has the same layout, only the item sizes differ.
template <size_t N>
struct Geometry {
  DimVec ks, kin, kout;  // kept: sizes, input byte strides, output element strides
  DimVec rs, rin;        // reduced: sizes, input byte strides
  const char* in;
  std::array<char*, N> out;
  std::array<int64_t, N> osz;
  int64_t num_out = 1, red = 1;
  bool lanes;  // outputs are folded a block of lanes (neighbouring outputs) at a time
  int64_t lane_block = 1;
  int64_t expand = 1;  // rows folded together as one wide row (few contiguous lanes, adjacent rows)

  Geometry(const TensorIterator& it, const std::array<Tensor, N>& outs) {
    const IterOperand &o = it.operand(0), &i = it.operand(1);
    int64_t isz0 = int64_t(o.tensor.itemsize());
    for (int d = 0; d < it.ndim(); d++) {
      int64_t n = it.shape()[d];
      if (o.strides[d] == 0 && n > 1) {
        rs.push_back(n);
        rin.push_back(i.strides[d]);
        red *= n;
      } else {
        ks.push_back(n);
        kin.push_back(i.strides[d]);
        kout.push_back(o.strides[d] / isz0);
        num_out *= n;
      }
    }
    // Lanes when the innermost dim is kept, and also when the reduced runs are too short to pay for a
    // fold per output (sum over a last dim of 4): then neighbouring outputs are folded together.
    bool inner_kept = it.ndim() > 0 && !(o.strides[0] == 0 && it.shape()[0] > 1);
    lanes = inner_kept || (!ks.empty() && ks[0] >= 8 && rs[0] <= kShortRun);
    if (lanes) lane_block = std::clamp<int64_t>(kLaneSpan / std::max<int64_t>(std::abs(kin[0]), 1), 16, kLaneBlock);
    if (lanes && rs.size() == 1 && kin[0] == i.tensor.itemsize() && rin[0] == ks[0] * kin[0] && 2 * ks[0] <= kWideRow)
      expand = kWideRow / ks[0];
    in = i.data;
    for (size_t k = 0; k < N; k++) {
      out[k] = static_cast<char*>(outs[k].data());  // the iterator's output 0 walks outs[0]'s storage
      osz[k] = int64_t(outs[k].itemsize());
    }
    out[0] = o.data;
  }
  std::array<char*, N> out_at(int64_t elem_off) const {
    std::array<char*, N> p;
    for (size_t k = 0; k < N; k++) p[k] = out[k] + elem_off * osz[k];
    return p;
  }
};

// Runs case: fold reduce range [rb, re) (flat, innermost R dim fastest) of the input at `base`.
template <class Ops, size_t N>
typename Ops::acc_t fold_runs(const Ops& ops, const Geometry<N>& g, const char* base, int64_t rb, int64_t re) {
  using acc_t = typename Ops::acc_t;
  if (g.rs.empty()) return ops.run(ops.identity(), base, 0, 1, 0);
  int64_t nrun = g.rs[0], stride = g.rin[0];
  if (g.rs.size() == 1) return ops.run(ops.identity(), base + rb * stride, stride, re - rb, rb);
  DimVec outer_s(IntArrayRef(g.rs).subspan(1)), outer_in(IntArrayRef(g.rin).subspan(1));
  Walker w(outer_s, outer_in, nullptr);
  w.seek(rb / nrun);
  Cascade<acc_t> c;
  for (int64_t pos = rb, i = rb % nrun; pos < re; i = 0, w.next()) {
    int64_t len = std::min(nrun - i, re - pos);
    c.push(ops.run(ops.identity(), base + w.off[0] + i * stride, stride, len, pos), ops);
    pos += len;
  }
  return c.finish(ops.identity(), ops);
}

// Folds rows [rb, re) into the states res[0, width): fold_rows(r, e) folds rows r..e-1 into res. After
// every `block` rows the states move into a per-lane Cascade (allocated only for long reductions).
template <class Ops, class FoldRows>
void cascade_rows(const Ops& ops, typename Ops::acc_t* res, int64_t width, int64_t rb, int64_t re, int64_t block,
                  FoldRows fold_rows) {
  using acc_t = typename Ops::acc_t;
  for (int64_t j = 0; j < width; j++) res[j] = ops.identity();
  std::unique_ptr<acc_t[]> levels;
  uint64_t count = 0;
  for (int64_t r = rb; r < re;) {
    int64_t e = std::min(re, r + block);
    fold_rows(r, e);
    r = e;
    if (r == re) break;
    if (!levels) levels = std::make_unique<acc_t[]>(std::bit_width(uint64_t((re - rb + block - 1) / block)) * width);
    int l = 0;
    for (uint64_t k = count; k & 1; k >>= 1, l++)
      for (int64_t j = 0; j < width; j++) res[j] = ops.combine(levels[l * width + j], res[j]);
    for (int64_t j = 0; j < width; j++) {
      levels[l * width + j] = res[j];
      res[j] = ops.identity();
    }
    count++;
  }
  for (int l = 0; l < 64 && (count >> l) != 0; l++)
    if (count >> l & 1)
      for (int64_t j = 0; j < width; j++) res[j] = ops.combine(levels[l * width + j], res[j]);
}

// Lanes case: res[j] = fold of rows [rb, re) of lane j < c, lanes starting at `base`.
template <class Ops, size_t N>
void fold_lanes_rows(const Ops& ops, const Geometry<N>& g, const char* base, int64_t c, int64_t rb, int64_t re,
                     typename Ops::acc_t* res) {
  // Few lanes whose rows follow each other in memory (x.sum(0) for x of shape (N, 8)): g.expand rows
  // at a time form one contiguous row of expand*c lanes, whose partial states merge at the end. Arg
  // reductions keep one row at a time: their lanes() takes a single index per row.
  if constexpr (!requires { Ops::kIndexed; }) {
    if (g.expand > 1 && c == g.ks[0]) {
      int64_t k = g.expand, row = g.rin[0];
      cascade_rows(ops, res, k * c, rb, re, kRowBlock * k, [&](int64_t r, int64_t e) {
        for (; r < e; r += k) ops.lanes(res, base + r * row, g.kin[0], std::min(k, e - r) * c, r);
      });
      for (int64_t j = 0; j < c; j++)
        for (int64_t i = 1; i < k; i++) res[j] = ops.combine(res[j], res[i * c + j]);
      return;
    }
  }
  Walker w(g.rs, g.rin, nullptr);
  w.seek(rb);
  cascade_rows(ops, res, c, rb, re, kRowBlock, [&](int64_t r, int64_t e) {
    for (; r < e; r++, w.next()) ops.lanes(res, base + w.off[0], g.kin[0], c, r);
  });
}

// Calls f(flat output index, input offset, output element offset, lane count) for the outputs [ob, oe),
// in groups of lanes (lanes case) or one at a time (runs case).
template <size_t N, class F>
void for_outputs(const Geometry<N>& g, int64_t ob, int64_t oe, F f) {
  if (!g.lanes) {
    Walker w(g.ks, g.kin, &g.kout);
    w.seek(ob);
    for (int64_t o = ob; o < oe; o++, w.next()) f(o, w.off[0], w.off[1], int64_t(1));
    return;
  }
  int64_t nl = g.ks[0];
  DimVec outer_s(IntArrayRef(g.ks).subspan(1)), outer_in(IntArrayRef(g.kin).subspan(1)),
      outer_out(IntArrayRef(g.kout).subspan(1));
  Walker w(outer_s, outer_in, &outer_out);
  w.seek(ob / nl);
  for (int64_t o = ob, j = ob % nl; o < oe; j = 0, w.next()) {
    int64_t end = std::min(nl, j + (oe - o));
    for (; j < end; j += g.lane_block) {
      int64_t c = std::min(g.lane_block, end - j);
      f(o, w.off[0] + j * g.kin[0], w.off[1] + j * g.kout[0], c);
      o += c;
    }
  }
}

// Folds the reduce range [rb, re) for outputs [ob, oe); `emit(o, out element offset, lanes, states)`.
template <class Ops, size_t N, class Emit>
void reduce_block(const Ops& ops, const Geometry<N>& g, int64_t ob, int64_t oe, int64_t rb, int64_t re, Emit emit) {
  using acc_t = typename Ops::acc_t;
  constexpr int64_t kOnStack = 256;
  acc_t small[kOnStack];
  std::unique_ptr<acc_t[]> big;
  acc_t* res = small;
  if (g.lanes && g.lane_block > kOnStack) res = (big = std::make_unique<acc_t[]>(size_t(g.lane_block))).get();
  for_outputs(g, ob, oe, [&](int64_t o, int64_t in_off, int64_t out_off, int64_t c) {
    if (g.lanes) fold_lanes_rows(ops, g, g.in + in_off, c, rb, re, res);
    else res[0] = fold_runs(ops, g, g.in + in_off, rb, re);
    emit(o, out_off, c, res);
  });
}

template <class Ops, size_t N>
void run_iter(const Ops& ops, const TensorIterator& it, const std::array<Tensor, N>& outs) {
  using acc_t = typename Ops::acc_t;
  Geometry<N> g(it, outs);
  auto store = [&](int64_t, int64_t out_off, int64_t c, const acc_t* res) {
    std::array<char*, N> p = g.out_at(out_off);
    std::array<int64_t, N> step;
    for (size_t k = 0; k < N; k++) step[k] = (g.lanes ? g.kout[0] : 0) * g.osz[k];
    for (int64_t j = 0; j < c; j++) {
      ops.store(p.data(), res[j]);
      for (size_t k = 0; k < N; k++) p[k] += step[k];
    }
  };
  int nt = it.numel() >= kParallelGrain && !in_parallel_region() ? get_num_threads() : 1;
  if (nt <= 1) return reduce_block(ops, g, 0, g.num_out, 0, g.red, store);
  // Enough outputs: threads take disjoint output ranges. In the lanes case each thread should still get
  // whole blocks of lanes (a sliver of each row is slow to walk), else the rows are shared out instead.
  bool split_outputs = g.lanes ? g.num_out >= nt * g.lane_block || g.red < 4 * nt : g.num_out >= 4 * nt;
  if (split_outputs) {
    int64_t grain = std::max<int64_t>(1, kParallelGrain / g.red);
    parallel_for(0, g.num_out, grain, [&](int64_t b, int64_t e) { reduce_block(ops, g, b, e, 0, g.red, store); });
    return;
  }
  // Few outputs: threads take slices of the reduced range, then the partial states merge in order.
  auto part = std::make_unique<acc_t[]>(size_t(nt * g.num_out));  // not vector: acc_t may be bool
  parallel_for(0, nt, 1, [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; t++)
      reduce_block(ops, g, 0, g.num_out, g.red * t / nt, g.red * (t + 1) / nt,
                   [&](int64_t o, int64_t, int64_t c, const acc_t* res) {
                     std::copy(res, res + c, part.get() + t * g.num_out + o);
                   });
  });
  for (int64_t t = 1; t < nt; t++)
    for (int64_t o = 0; o < g.num_out; o++) part[o] = ops.combine(part[o], part[t * g.num_out + o]);
  for_outputs(g, 0, g.num_out, [&](int64_t o, int64_t, int64_t out_off, int64_t c) {
    store(o, out_off, c, part.get() + o);
  });
}

// Whole-tensor reduction of a contiguous input: no iterator, no allocation besides the output.
template <class Ops>
typename Ops::acc_t run_flat(const Ops& ops, const char* p, int64_t isz, int64_t n) {
  using acc_t = typename Ops::acc_t;
  if (n < kParallelGrain || in_parallel_region()) return ops.run(ops.identity(), p, isz, n, 0);
  int nt = get_num_threads();
  auto part = std::make_unique<acc_t[]>(size_t(nt));
  parallel_for(0, nt, 1, [&](int64_t tb, int64_t te) {
    for (int64_t t = tb; t < te; t++) {
      int64_t b = n * t / nt, e = n * (t + 1) / nt;
      part[t] = ops.run(ops.identity(), p + b * isz, isz, e - b, b);
    }
  });
  acc_t a = part[0];
  for (int t = 1; t < nt; t++) a = ops.combine(a, part[t]);
  return a;
}

}  // namespace vt::reduce::detail
