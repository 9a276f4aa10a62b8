// CUDA graphs: a stream's work captured once and replayed with one launch.
//
// While a stream captures, the caching allocator serves that stream from the graph's private memory pool
// (its own segments, tagged with the pool id), so a replay finds every intermediate where the capture put
// it and no other work reuses that memory between replays. Graphs may share a pool (pool() of one graph
// passed to another's capture) when they replay in capture order. Calls that would synchronize with a
// capturing stream (synchronize, .item(), .cpu(), copies from pageable memory) raise instead of
// invalidating the capture. Random kernels read their Philox seed and offset from a slot the graph owns,
// refreshed before each replay (cuda/generator.h), so every replay draws fresh numbers.
#pragma once
#include <cstdint>
#include <string>

#include "core/allocator.h"
#include "cuda/stream.h"

namespace vt::cuda {

using PoolId = uint64_t;
PoolId new_pool_id();

// True when any stream of `device` is capturing into a graph (from this process).
bool capturing(int device);
// Raises a RuntimeError naming `what` when `device` (-1: current) is capturing.
void check_not_capturing(const char* what, int device = -1);

class Graph {
 public:
  Graph() = default;
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Begins capturing work queued on s (not the legacy default stream). pool: 0 for a new private pool.
  // mode: CU_STREAM_CAPTURE_MODE_* (thread-local by default: other threads keep working meanwhile).
  void capture_begin(const Stream& s, PoolId pool = 0, int mode = 1);
  void capture_end();
  // Ends a capture that failed (an exception inside the capture block) and discards what was captured.
  void capture_abort();
  void replay();  // on the current stream of the graph's device
  void reset();   // frees the graph and gives its pool back
  PoolId pool() const { return pool_; }
  bool captured() const { return exec_ != nullptr; }
  size_t num_nodes() const { return num_nodes_; }

 private:
  void finish_capture(bool keep);
  CUgraph graph_ = nullptr;
  CUgraphExec exec_ = nullptr;
  Stream stream_{};
  PoolId pool_ = 0;
  int device_ = -1;
  bool capturing_ = false;
  size_t num_nodes_ = 0;
  DataPtr rng_slot_;         // [seed, base offset] for the captured random kernels
  uint64_t rng_blocks_ = 0;  // Philox blocks one replay consumes
};

}  // namespace vt::cuda
