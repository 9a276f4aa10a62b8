// Random numbers on CUDA: where a kernel's Philox seed and counter offset come from, eagerly and inside a
// CUDA graph.
//
// Each CUDA device has a default PhiloxGenerator (cpu/generator.h: seed + offset counted in 128-bit Philox
// blocks, made on first use, seeded by vt.manual_seed / vt.cuda.manual_seed*). A random kernel launch
// reserves exactly the blocks its elements read (THE STREAM of core/philox.h, the formulas of
// cpu/random.cpp): consecutive launches never overlap, and a seed gives the same numbers as on the CPU.
//
// ---- CONTRACT FOR CUDA GRAPH CAPTURE (csrc/cuda/graph.cpp wires it) --------------------------------------
// Outside capture, philox_args(device, n) reserves n blocks from the device's current generator and
// returns them by value (seed, offset; state_ptr null). Kernels take them as two int64 arguments.
// A captured kernel must not bake (seed, offset) into the graph, or every replay would repeat the same
// numbers. So, like PyTorch's philox_cuda_state:
//   1. Before capturing, the graph allocates a device slot of two int64 (it owns it for the graph's life)
//      and calls rng_capture_begin(device, slot).
//   2. While capturing, philox_args(device, n) returns {seed, intra_offset, state_ptr = slot} and advances
//      only the intra-graph offset; the generator itself does not move. Random kernels then use their "g"
//      variant (key suffix), which loads seed = slot[0] and base = slot[1] from device memory and adds
//      the intra-graph offset passed by value.
//   3. rng_capture_end(device) ends it and returns the total blocks the captured kernels consume; the
//      graph stores it.
//   4. Before each replay, rng_replay_prepare(device, slot, total, stream) reserves `total` blocks from the
//      device's default generator and writes its [seed, first block] into the slot with a one-thread kernel
//      on `stream` (the stream the graph is launched on), so every replay draws fresh numbers, follows
//      vt.cuda.manual_seed, and advances the generator as the eager run would.
// Capture state is per device and process-wide: random ops on that device from any thread during the
// capture count as captured (the same caveat as PyTorch's). Every random op runs on the device, so all of
// them can be captured; a kernel that draws again from blocks an earlier one reserved (randperm's tie
// shuffle) takes that launch's PhiloxArgs rather than reserving its own.
#pragma once
#include <cstdint>
#include <vector>

#include "cuda/kernel_library.h"
#include "cuda/stream.h"

namespace vt::cuda {

struct PhiloxArgs {
  uint64_t seed, offset;     // by value; offset is the intra-graph offset while capturing
  const int64_t* state_ptr;  // device slot [seed, base offset] while capturing, else null
  bool captured() const { return state_ptr != nullptr; }
  // The key suffix selecting the kernel variant: "v" (by value) or "g" (graph slot).
  const char* variant() const { return state_ptr ? "g" : "v"; }
  // Appends the two state arguments, in the order the generated kernels declare them.
  void push(std::vector<KernelArg>& args) const;
};

// Reserves `increment` Philox blocks for one launch on `device` (see the contract above).
PhiloxArgs philox_args(int device, uint64_t increment);

void rng_capture_begin(int device, int64_t* state_slot);
uint64_t rng_capture_end(int device);
void rng_replay_prepare(int device, int64_t* state_slot, uint64_t increment, const Stream& stream);

}  // namespace vt::cuda
