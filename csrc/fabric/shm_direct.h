// The CPU shared-memory transport's direct all-reduces (every rank reads its peers' buffers) as native calls:
// one-shot (each rank reduces the whole message), two-shot (each reduces its chunk, then copies the others'
// reduced chunks) and a pipelined two-shot. fabric/collectives/shm_direct.py drives them and keeps the
// protocol's slow paths: growing buffers, mapping peers', waits that block, failures.
//
// A ShmGroup's control block is int64 words: per rank a slot with READY, DONE and BUFVER flags and two op
// descriptors (one per buffer half); each rank's buffer segment has two halves, collective s using half
// s % 2. The layout's numbers come from shm_sync.py through the constructor: one definition.
#pragma once

#include <cstdint>
#include <tuple>
#include <vector>

namespace vt::fabric {

struct ShmLayout {
  int64_t header, slot, ready, done, bufver, opseq;  // word offsets: the slot array, one slot, fields
  int64_t piped, consumed, reduced;                  // the pipelined all-reduces' piece counters
};

enum ShmStatus : int {
  kShmDone = 0,
  kShmPeersBusy = -1,  // a peer still reads our half of collective seq - 2: nothing written yet
  kShmWaiting = 1,     // a peer has not reached the step waited for within the patience
  kShmRemap = 2,       // published; a peer's buffer is a newer segment than the one mapped here
  kShmMismatch = 3,    // published; a peer runs another collective (or other sizes)
};

// dtype codes: 0x100 for floating types | the item size (the types the native path reduces as they are)
enum ShmDtype : int { kShmInt32 = 0x004, kShmInt64 = 0x008, kShmFloat32 = 0x104, kShmFloat64 = 0x108 };
enum ShmOp : int { kShmSum = 1, kShmAvg = 2, kShmMax = 3, kShmMin = 4 };

class ShmDirect {
 public:
  ShmDirect(uintptr_t ctl, int rank, int size, ShmLayout layout);
  // Rank p's buffer segment as mapped in this process, its size in bytes and its version (BUFVER).
  void set_buffer(int p, uintptr_t base, int64_t bytes, int64_t version);
  int64_t version(int p) const { return bufs_.at(p).version; }
  // How long a wait polls before giving up (the caller's own waits take over): spinning for spin_ns, then
  // yielding the CPU between polls for yield_ns (ranks may outnumber cores: a spinning rank holds the core
  // its peer needs).
  void set_patience(int64_t spin_ns, int64_t yield_ns) { spin_ns_ = spin_ns, yield_ns_ = yield_ns; }
  // Waits until every peer is done with collective seq - 2, copies count elements of src into our half,
  // writes the op descriptor and READY = base + 1.
  int start(int64_t seq, int64_t base, int64_t code, int64_t nbytes, uintptr_t src, int64_t count, int dtype);
  // One-shot: waits for every peer's READY = base + 1, checks their descriptors and buffers, reduces the
  // halves in rank order into dst and sets DONE = seq.
  int finish(int64_t seq, int64_t base, int64_t code, int64_t nbytes, uintptr_t dst, int64_t count, int dtype,
             int op);
  // Two-shot, after start: waits for READY = base + 1 and checks as finish, reduces chunk `rank` of every half
  // in rank order into our half and dst, sets READY = base + 2 (chunks as schedule.chunk_bounds: the first
  // count % size one element longer).
  int reduce_chunk(int64_t seq, int64_t base, int64_t code, int64_t nbytes, uintptr_t dst, int64_t count,
                   int dtype, int op);
  // Two-shot, last: waits for READY = base + 2, copies every peer's reduced chunk into dst, sets DONE = seq.
  int gather(int64_t seq, int64_t base, uintptr_t dst, int64_t count, int dtype);
  // The whole all-reduce of count elements at ptr, in place: start, then finish (one-shot) or reduce_chunk
  // and gather (two-shot). Returns kShmDone, or the step that stopped (1 start, 2 finish / reduce_chunk,
  // 3 gather) << 8 | its status & 0xff, for the caller to resume from there.
  int run(int64_t seq, int64_t base, int64_t code, int64_t nbytes, uintptr_t ptr, int64_t count, int dtype, int op,
          bool two_shot);
  // Pipelined two-shot, in place, for messages larger than the caches: piece k of every rank's chunk (chunks as
  // reduce_chunk's, pieces of `piece` elements) goes through slot k % slots of our half, one sub-slot per chunk,
  // so the copies and the peers' reads stay in cache and only the caller's tensor streams through memory (the
  // two-shot above copies the whole message in). Piece k, counted from `pbase` (which every rank advances
  // alike): phase 0: wait until every peer has consumed piece k - slots, copy in piece k of every chunk,
  // PIPED = pbase + k + 1; phase 1: wait for every peer's PIPED, reduce piece k of our chunk from every rank's
  // sub-slot `rank` in rank order into ptr and into our sub-slot, REDUCED = pbase + k + 1; phase 2: wait for
  // every peer's REDUCED, copy their reduced pieces into ptr, CONSUMED = pbase + k + 1. Then READY = base + 1
  // and DONE = seq. Starts at piece `from` in `phase`; returns (status, piece, phase) where it stopped (status
  // kShmDone: finished, piece: the pieces it took), for the caller to wait the bounded way and resume.
  std::tuple<int, int64_t, int> pipe(int64_t seq, int64_t base, int64_t pbase, int64_t code, int64_t nbytes,
                                     uintptr_t ptr, int64_t count, int dtype, int op, int64_t piece, int64_t slots,
                                     int64_t from, int phase);

 private:
  struct Buffer {
    uintptr_t base = 0;
    int64_t bytes = 0, version = -1;
  };
  int64_t* word(int r, int64_t field) const { return ctl_ + layout_.header + r * layout_.slot + field; }
  bool wait_all(int64_t field, int64_t target) const;
  void reduce_slots(const std::vector<const char*>& src, int64_t n, int dtype, int op, uintptr_t dst) const;
  // Every call's first step: waits until every peer is done with collective seq - 2 (our half), then writes
  // our op descriptor. False where the wait gave up.
  bool begin(int64_t seq, int64_t code, int64_t nbytes);
  char* half(int p, int64_t seq) const;
  int check_peers(int64_t seq, int64_t code, int64_t nbytes, int64_t bytes) const;
  void reduce_range(int64_t seq, int64_t lo, int64_t hi, int dtype, int op, uintptr_t dst) const;

  int64_t* ctl_;
  int rank_, size_;
  ShmLayout layout_;
  std::vector<Buffer> bufs_;
  int64_t spin_ns_ = 0, yield_ns_ = 0;
};

}  // namespace vt::fabric
