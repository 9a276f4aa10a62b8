#include "fabric/shm_direct.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <type_traits>

#include <sched.h>

#include "core/error.h"

namespace vt::fabric {

namespace {

// The flags are plain int64 words that Python also reads and writes (numpy, one aligned store each):
// atomic_ref gives this side acquire loads and release stores on them.
int64_t load(int64_t* w) { return std::atomic_ref<int64_t>(*w).load(std::memory_order_acquire); }
void store(int64_t* w, int64_t v) { std::atomic_ref<int64_t>(*w).store(v, std::memory_order_release); }

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

constexpr int64_t kBlock = 1 << 14;  // elements per pass: the accumulator block stays in L1/L2 across peers

template <typename T>
T combine(T a, T b, int op) {
  if (op == kShmMax || op == kShmMin) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a)) return a;  // NaN wins, as numpy's maximum / minimum
      if (std::isnan(b)) return b;
    }
    return op == kShmMax ? (a > b ? a : b) : (a < b ? a : b);
  }
  if constexpr (std::is_integral_v<T>) {  // wraps, as numpy's add
    using U = std::make_unsigned_t<T>;
    return T(U(a) + U(b));
  } else {
    return a + b;
  }
}

// Each pass names its op in the loop (a sum loop apart from the others): with `op` read inside one loop
// GCC neither unswitches nor vectorises it (a 1 MB max between two ranks took 210 us against 138).
template <typename T>
void reduce(const std::vector<const T*>& src, T* dst, int64_t n, int op, int64_t size) {
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    int64_t m = std::min(kBlock, n - b0);
    T* acc = dst + b0;
    const T* s0 = src[0] + b0;
    const T* s1 = src.size() > 1 ? src[1] + b0 : nullptr;
    if (s1) {
      if (op == kShmSum || op == kShmAvg) {
        for (int64_t i = 0; i < m; i++) acc[i] = combine(s0[i], s1[i], kShmSum);
      } else {
        for (int64_t i = 0; i < m; i++) acc[i] = combine(s0[i], s1[i], op);
      }
    } else if (acc != s0) {
      std::memmove(acc, s0, size_t(m) * sizeof(T));
    }
    for (size_t r = 2; r < src.size(); r++) {
      const T* s = src[r] + b0;
      if (op == kShmSum || op == kShmAvg) {
        for (int64_t i = 0; i < m; i++) acc[i] = combine(acc[i], s[i], kShmSum);
      } else {
        for (int64_t i = 0; i < m; i++) acc[i] = combine(acc[i], s[i], op);
      }
    }
    if constexpr (std::is_floating_point_v<T>) {
      if (op == kShmAvg) {
        T div = T(size);
        for (int64_t i = 0; i < m; i++) acc[i] /= div;
      }
    }
  }
}

int64_t itemsize(int dtype) {
  switch (dtype) {
    case kShmInt32:
    case kShmFloat32:
      return 4;
    case kShmInt64:
    case kShmFloat64:
      return 8;
  }
  VT_CHECK_VALUE(false, "shm direct all-reduce: unsupported dtype code ", dtype);
  return 0;
}

}  // namespace

ShmDirect::ShmDirect(uintptr_t ctl, int rank, int size, ShmLayout layout)
    : ctl_(reinterpret_cast<int64_t*>(ctl)), rank_(rank), size_(size), layout_(layout), bufs_(size) {
  VT_CHECK_VALUE(ctl != 0 && 0 <= rank && rank < size, "shm direct all-reduce: bad group (rank ", rank, " of ", size, ")");
}

void ShmDirect::set_buffer(int p, uintptr_t base, int64_t bytes, int64_t version) {
  VT_CHECK_VALUE(0 <= p && p < size_, "shm direct all-reduce: no rank ", p);
  bufs_[p] = Buffer{base, bytes, version};
}

char* ShmDirect::half(int p, int64_t seq) const {
  const Buffer& b = bufs_[p];
  return reinterpret_cast<char*>(b.base) + (seq % 2) * (b.bytes / 2);
}

bool ShmDirect::wait_all(int64_t field, int64_t target) const {
  auto ready = [&] {
    for (int r = 0; r < size_; r++)
      if (r != rank_ && load(word(r, field)) < target) return false;
    return true;
  };
  if (ready()) return true;
  using clock = std::chrono::steady_clock;
  auto spin_until = clock::now() + std::chrono::nanoseconds(spin_ns_);
  while (clock::now() < spin_until) {
    for (int i = 0; i < 64; i++) cpu_relax();
    if (ready()) return true;
  }
  auto yield_until = clock::now() + std::chrono::nanoseconds(yield_ns_);
  while (clock::now() < yield_until) {
    sched_yield();
    if (ready()) return true;
  }
  return false;
}

bool ShmDirect::begin(int64_t seq, int64_t code, int64_t nbytes) {
  if (!wait_all(layout_.done, seq - 2)) return false;
  int64_t at = layout_.opseq + 4 * (seq % 2);
  int64_t desc[4] = {seq, code, nbytes, 0};
  for (int i = 0; i < 4; i++) store(word(rank_, at + i), desc[i]);
  return true;
}

int ShmDirect::start(int64_t seq, int64_t base, int64_t code, int64_t nbytes, uintptr_t src, int64_t count,
                      int dtype) {
  int64_t bytes = count * itemsize(dtype);
  VT_CHECK_VALUE(bufs_[rank_].base && bytes <= bufs_[rank_].bytes / 2, "shm direct all-reduce: our buffer half holds ",
                 bufs_[rank_].bytes / 2, " bytes, not ", bytes);
  if (!begin(seq, code, nbytes)) return kShmPeersBusy;
  std::memcpy(half(rank_, seq), reinterpret_cast<const void*>(src), size_t(bytes));
  store(word(rank_, layout_.ready), base + 1);
  return kShmDone;
}

int ShmDirect::check_peers(int64_t seq, int64_t code, int64_t nbytes, int64_t bytes) const {
  int64_t at = layout_.opseq + 4 * (seq % 2);
  for (int r = 0; r < size_; r++) {
    if (r == rank_) continue;
    if (load(word(r, at)) != seq || load(word(r, at + 1)) != code || load(word(r, at + 2)) != nbytes ||
        load(word(r, at + 3)) != 0)
      return kShmMismatch;
    if (load(word(r, layout_.bufver)) != bufs_[r].version || bytes > bufs_[r].bytes / 2) return kShmRemap;
  }
  return kShmDone;
}

// dst[:n] (elements) <- the reduction of src[r][:n] over the ranks r, in rank order.
void ShmDirect::reduce_slots(const std::vector<const char*>& src, int64_t n, int dtype, int op, uintptr_t dst) const {
  auto run = [&](auto tag) {
    using T = decltype(tag);
    std::vector<const T*> typed(src.size());
    for (size_t r = 0; r < src.size(); r++) typed[r] = reinterpret_cast<const T*>(src[r]);
    reduce<T>(typed, reinterpret_cast<T*>(dst), n, op, size_);
  };
  switch (dtype) {
    case kShmFloat32: run(float()); break;
    case kShmFloat64: run(double()); break;
    case kShmInt32: run(int32_t()); break;
    case kShmInt64: run(int64_t()); break;
    default: VT_CHECK_VALUE(false, "shm direct all-reduce: unsupported dtype code ", dtype);
  }
}

// dst[lo:hi] (elements) <- the reduction of every rank's half [lo:hi] in rank order.
void ShmDirect::reduce_range(int64_t seq, int64_t lo, int64_t hi, int dtype, int op, uintptr_t dst) const {
  int64_t es = itemsize(dtype);
  std::vector<const char*> src(size_);
  for (int r = 0; r < size_; r++) src[r] = half(r, seq) + lo * es;
  reduce_slots(src, hi - lo, dtype, op, dst + uintptr_t(lo * es));
}

int ShmDirect::finish(int64_t seq, int64_t base, int64_t code, int64_t nbytes, uintptr_t dst, int64_t count,
                      int dtype, int op) {
  if (!wait_all(layout_.ready, base + 1)) return kShmWaiting;
  if (int st = check_peers(seq, code, nbytes, count * itemsize(dtype))) return st;
  reduce_range(seq, 0, count, dtype, op, dst);
  store(word(rank_, layout_.done), seq);
  return kShmDone;
}

namespace {
std::pair<int64_t, int64_t> chunk(int64_t count, int size, int c) {  // as schedule.chunk_bounds (align 1)
  int64_t base = count / size, extra = count % size;
  int64_t lo = c * base + std::min<int64_t>(c, extra);
  return {lo, lo + base + (c < extra ? 1 : 0)};
}
}  // namespace

int ShmDirect::reduce_chunk(int64_t seq, int64_t base, int64_t code, int64_t nbytes, uintptr_t dst,
                            int64_t count, int dtype, int op) {
  if (!wait_all(layout_.ready, base + 1)) return kShmWaiting;
  int64_t es = itemsize(dtype);
  if (int st = check_peers(seq, code, nbytes, count * es)) return st;
  auto [lo, hi] = chunk(count, size_, rank_);
  reduce_range(seq, lo, hi, dtype, op, dst);
  // Our chunk of our half is read only by us in the reduce step, so it can take the result for the peers.
  std::memcpy(half(rank_, seq) + lo * es, reinterpret_cast<const char*>(dst) + lo * es, size_t((hi - lo) * es));
  store(word(rank_, layout_.ready), base + 2);
  return kShmDone;
}

int ShmDirect::gather(int64_t seq, int64_t base, uintptr_t dst, int64_t count, int dtype) {
  if (!wait_all(layout_.ready, base + 2)) return kShmWaiting;
  int64_t es = itemsize(dtype);
  for (int j = 1; j < size_; j++) {  // from rank + 1 on: the ranks do not all read one peer at once
    int p = (rank_ + j) % size_;
    auto [lo, hi] = chunk(count, size_, p);
    std::memcpy(reinterpret_cast<char*>(dst) + lo * es, half(p, seq) + lo * es, size_t((hi - lo) * es));
  }
  store(word(rank_, layout_.done), seq);
  return kShmDone;
}

int ShmDirect::run(int64_t seq, int64_t base, int64_t code, int64_t nbytes, uintptr_t ptr, int64_t count,
                   int dtype, int op, bool two_shot) {
  auto stopped = [](int step, int st) { return step << 8 | (st & 0xff); };
  if (int st = start(seq, base, code, nbytes, ptr, count, dtype)) return stopped(1, st);
  if (!two_shot) {
    int st = finish(seq, base, code, nbytes, ptr, count, dtype, op);
    return st ? stopped(2, st) : kShmDone;
  }
  if (int st = reduce_chunk(seq, base, code, nbytes, ptr, count, dtype, op)) return stopped(2, st);
  int st = gather(seq, base, ptr, count, dtype);
  return st ? stopped(3, st) : kShmDone;
}

std::tuple<int, int64_t, int> ShmDirect::pipe(int64_t seq, int64_t base, int64_t pbase, int64_t code,
                                              int64_t nbytes, uintptr_t ptr, int64_t count, int dtype, int op,
                                              int64_t piece, int64_t slots, int64_t from, int phase) {
  int64_t es = itemsize(dtype), longest = chunk(count, size_, 0).second, pieces = (longest + piece - 1) / piece;
  int64_t slot_bytes = size_ * piece * es;
  VT_CHECK_VALUE(piece > 0 && slots > 0 && bufs_[rank_].base && slots * slot_bytes <= bufs_[rank_].bytes / 2,
                 "shm pipelined all-reduce: our buffer half holds ", bufs_[rank_].bytes / 2, " bytes, not ",
                 slots, " slots of ", slot_bytes);
  if (from == 0 && phase == 0 && !begin(seq, code, nbytes)) return {kShmPeersBusy, 0, 0};
  char* data = reinterpret_cast<char*>(ptr);
  auto part = [&](int c, int64_t k) {  // (first element, length) of piece k of chunk c
    auto [lo, hi] = chunk(count, size_, c);
    int64_t at = lo + k * piece;
    return std::pair<int64_t, int64_t>{at, std::max<int64_t>(0, std::min(piece, hi - at))};
  };
  std::vector<const char*> src(size_);
  for (int64_t k = from; k < pieces; k++, phase = 0) {
    int64_t off = (k % slots) * slot_bytes;
    auto sub = [&](int r, int c) { return half(r, seq) + off + c * piece * es; };  // rank r's sub-slot c
    auto [lo, n] = part(rank_, k);
    if (phase == 0) {
      if (k >= slots && !wait_all(layout_.consumed, pbase + k - slots + 1)) return {kShmWaiting, k, 0};
      for (int c = 0; c < size_; c++) {  // ours too: reduced below in rank order from the sub-slots alone
        auto [clo, cn] = part(c, k);
        std::memcpy(sub(rank_, c), data + clo * es, size_t(cn * es));
      }
      store(word(rank_, layout_.piped), pbase + k + 1);
      phase = 1;
    }
    if (phase == 1) {
      if (!wait_all(layout_.piped, pbase + k + 1)) return {kShmWaiting, k, 1};
      if (k == 0) {
        if (int st = check_peers(seq, code, nbytes, slots * slot_bytes)) return {st, k, 1};
      }
      for (int r = 0; r < size_; r++) src[r] = sub(r, rank_);
      reduce_slots(src, n, dtype, op, reinterpret_cast<uintptr_t>(data + lo * es));
      std::memcpy(sub(rank_, rank_), data + lo * es, size_t(n * es));  // read by peers only after REDUCED
      store(word(rank_, layout_.reduced), pbase + k + 1);
    }
    if (!wait_all(layout_.reduced, pbase + k + 1)) return {kShmWaiting, k, 2};
    for (int j = 1; j < size_; j++) {
      int p = (rank_ + j) % size_;
      auto [plo, pn] = part(p, k);
      std::memcpy(data + plo * es, sub(p, p), size_t(pn * es));
    }
    store(word(rank_, layout_.consumed), pbase + k + 1);
  }
  store(word(rank_, layout_.ready), base + 1);
  store(word(rank_, layout_.done), seq);
  return {kShmDone, pieces, 0};
}

}  // namespace vt::fabric
