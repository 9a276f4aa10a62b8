// How the CPU random kernels turn the Philox stream (core/philox.h) into values: items that read a fixed
// number of words, the word -> [0, 1) conversions, unbiased bounded integers, and writing into any layout.
// Every value depends only on (seed, counter), never on which thread computed it.
#pragma once
#include <algorithm>
#include <cmath>
#include <optional>

#include "core/parallel.h"
#include "core/philox.h"
#include "core/tensor.h"
#include "cpu/generator.h"
#include "ops/iterator.h"

namespace vt::rnd {

namespace detail {
// Reserves nblocks blocks from the current generator of `device`, then calls fn(b, words of block
// base + b, draw) for every b in [0, nblocks), threads splitting the range (grain in blocks).
template <class Fn>
void for_each_block(Device device, int64_t nblocks, int64_t grain, const Fn& fn) {
  if (nblocks <= 0) return;
  const PhiloxGenerator::Draw d = current_generator(device).reserve(uint64_t(nblocks));
  parallel_for(0, nblocks, std::max<int64_t>(1, grain), [&](int64_t b0, int64_t b1) {
    constexpr int kBatch = 16;  // blocks per philox_blocks call: enough lanes to vectorise
    philox::Block buf[kBatch];
    for (int64_t b = b0; b < b1; b += kBatch) {
      philox::philox_blocks<kBatch>(d.base + uint64_t(b), d.seed, buf);
      for (int64_t k = 0, nb = std::min<int64_t>(kBatch, b1 - b); k < nb; k++) fn(b + k, buf[k].data(), d);
    }
  });
}
}  // namespace detail

// Calls fn(item, words) for items [0, nitems), item i reading words [i*W, (i+1)*W) of the op's word
// stream (W = 1, 2 or 4: 4/W items per block). The values do not depend on how threads split the work.
template <int W, class Fn>
void for_each_item(Device device, int64_t nitems, const Fn& fn) {
  static_assert(W == 1 || W == 2 || W == 4, "for_each_item: W must divide a 4-word block");
  constexpr int kPerBlock = 4 / W;
  detail::for_each_block(device, (nitems + kPerBlock - 1) / kPerBlock, kParallelGrain / kPerBlock,
                         [&](int64_t b, const uint32_t* w, const PhiloxGenerator::Draw&) {
                           const int64_t first = b * kPerBlock;
                           for (int e = 0; e < kPerBlock && first + e < nitems; e++) fn(first + e, w + e * W);
                         });
}

// The (seed, block) of an item that owns a whole block: its side streams are its own for retries.
struct OwnedBlock {
  uint64_t seed, block;
};
// Item i owns block base + i: fn(item, its 4 words, OwnedBlock).
template <class Fn>
void for_each_owned_block(Device device, int64_t nitems, const Fn& fn) {
  detail::for_each_block(device, nitems, kParallelGrain / 4,
                         [&](int64_t b, const uint32_t* w, const PhiloxGenerator::Draw& d) {
                           fn(b, w, OwnedBlock{d.seed, d.base + uint64_t(b)});
                         });
}

// ---- words -> values ----------------------------------------------------------------------------------
inline uint64_t word64(const uint32_t* w) { return uint64_t(w[0]) | (uint64_t(w[1]) << 32); }

// A uniform value in [0, 1) with exactly the precision of T, so it is exact in T and never rounds up to
// 1.0: float16 k*2^-11, bfloat16 k*2^-8, float32 k*2^-24 (top bits of one word), float64 k*2^-53 (top
// bits of two words, the first one low). kWords says how many words one value reads.
template <class T> struct Uniform01;
template <> struct Uniform01<float> {
  static constexpr int kWords = 1;
  static float get(const uint32_t* w) { return float(w[0] >> 8) * 0x1p-24f; }
};
template <> struct Uniform01<double> {
  static constexpr int kWords = 2;
  static double get(const uint32_t* w) { return double(word64(w) >> 11) * 0x1p-53; }
};
template <> struct Uniform01<Half> {
  static constexpr int kWords = 1;
  static float get(const uint32_t* w) { return float(w[0] >> 21) * 0x1p-11f; }
};
template <> struct Uniform01<BFloat16> {
  static constexpr int kWords = 1;
  static float get(const uint32_t* w) { return float(w[0] >> 24) * 0x1p-8f; }
};

// A uniform integer in [0, range), range >= 1, without modulo bias: Lemire's multiply-and-reject on
// 64-bit candidates (words 0-1, then 2-3 of the owned block, then of its side streams 1, 2, ...). A
// candidate is rejected with probability < range / 2^64.
inline uint64_t below(uint64_t range, const uint32_t* words, OwnedBlock owned) {
  philox::Block more;
  for (uint64_t sub = 1;; sub++) {
    for (int h = 0; h < 2; h++) {
      unsigned __int128 m = (unsigned __int128)word64(words + 2 * h) * range;
      uint64_t low = uint64_t(m);
      if (low >= range || low >= (0 - range) % range) return uint64_t(m >> 64);  // (0 - range) % range = 2^64 mod range
    }
    more = philox::philox4x32_10(owned.block, sub, owned.seed);
    words = more.data();
  }
}

// ---- layouts ------------------------------------------------------------------------------------------
// dst <- src elementwise (same shape and dtype, any strides): how fills reach non-contiguous tensors.
void strided_copy(const Tensor& dst, const Tensor& src, const char* op);
// t itself when contiguous, else a contiguous copy: inputs read in row-major element order.
Tensor dense(const Tensor& t, const char* op);
// Factories run here only for CPU (or no) device; anything else is a clear error.
Device cpu_only(std::optional<Device> d, const char* op);

// Runs fill(contiguous tensor) so that self ends up filled in row-major element order whatever its
// strides: directly when self is contiguous, else through a contiguous buffer. Checks self is writable.
template <class Fill>
const Tensor& fill_in_place(const Tensor& self, const char* op, const Fill& fill) {
  check_writable(self, op);
  if (self.is_contiguous()) {
    fill(self);
    return self;
  }
  Tensor tmp = empty(self.sizes(), self.dtype(), self.device());
  fill(tmp);
  strided_copy(self, tmp, op);
  return self;
}

}  // namespace vt::rnd
