// Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
// counter-based generator behind every random op. Counter-based means a value is a pure function of
// (key, counter): an op can hand any element range to any thread and the numbers do not change.
//
// ---- THE STREAM (every device follows it; a CUDA/Triton kernel that does gets the same bits) ----------
//
//   key     (k0, k1)         = (seed & 0xffffffff, seed >> 32)           the generator's 64-bit seed
//   counter (c0, c1, c2, c3) = (block & 0xffffffff, block >> 32,        a 64-bit block index
//                               sub & 0xffffffff,   sub >> 32)           a 64-bit side-stream index
//   philox4x32_10(counter, key) -> words (w0, w1, w2, w3), 128 bits per block
//
// In Triton this block is `tl.philox(seed, c0, c1, c2, c3)` with uint32 counters (same rounds, constants,
// key split and output order); for block < 2^32 and sub = 0 it is `tl.randint4x(seed, block)` with a
// 32-bit offset. (Triton runs Philox4x64, a different stream, when given 64-bit counters or offsets.)
// Known answers (Random123's kat_vectors) are checked in tests/core/test_random.py.
//
// A generator is (seed, offset); the offset counts blocks. An op first validates its arguments, then
// reserves the n blocks it needs, [base, base + n), under the generator's mutex (offset := base + n), and
// draws from them with no shared state. Its "word stream" is word (i % 4) of block (base + i / 4), sub = 0.
// Side streams (sub >= 1) of block b belong to whoever reserved b: an element that owns a whole block
// draws its rejection-sampling retries from them without touching anyone else's counters.
//
// Which words each op reads (j = an element's row-major index in the op's output, or in self for `op_`),
// and how words become values, is documented per op in csrc/cpu/random.cpp; those formulas are the rest of
// the contract (transcendental functions may differ in the last ulp between libms).
#pragma once
#include <array>
#include <cstdint>

namespace vt::philox {

constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;   // round multipliers
constexpr uint32_t kBump0 = 0x9E3779B9u, kBump1 = 0xBB67AE85u;  // key schedule (golden ratio, sqrt(3)-1)
constexpr int kRounds = 10;

using Block = std::array<uint32_t, 4>;

inline Block philox4x32_10(uint64_t block, uint64_t sub, uint64_t seed) {
  uint32_t c0 = uint32_t(block), c1 = uint32_t(block >> 32), c2 = uint32_t(sub), c3 = uint32_t(sub >> 32);
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < kRounds; r++) {
    uint64_t p0 = uint64_t(kMul0) * c0, p1 = uint64_t(kMul1) * c2;
    uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += kBump0;
    k1 += kBump1;
  }
  return {c0, c1, c2, c3};
}

// Many consecutive blocks of the main stream (sub = 0) at once, written as plain loops over lanes so the
// compiler vectorises the 32x32->64 multiplies: blocks base .. base + N - 1 into out[0 .. N).
template <int N>
inline void philox_blocks(uint64_t base, uint64_t seed, Block* out) {
  uint32_t c0[N], c1[N], c2[N], c3[N];
  for (int i = 0; i < N; i++) {
    uint64_t b = base + uint64_t(i);
    c0[i] = uint32_t(b);
    c1[i] = uint32_t(b >> 32);
    c2[i] = 0;
    c3[i] = 0;
  }
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < kRounds; r++) {
    for (int i = 0; i < N; i++) {
      uint64_t p0 = uint64_t(kMul0) * c0[i], p1 = uint64_t(kMul1) * c2[i];
      uint32_t n0 = uint32_t(p1 >> 32) ^ c1[i] ^ k0, n2 = uint32_t(p0 >> 32) ^ c3[i] ^ k1;
      c1[i] = uint32_t(p1);
      c3[i] = uint32_t(p0);
      c0[i] = n0;
      c2[i] = n2;
    }
    k0 += kBump0;
    k1 += kBump1;
  }
  for (int i = 0; i < N; i++) out[i] = {c0[i], c1[i], c2[i], c3[i]};
}

}  // namespace vt::philox
