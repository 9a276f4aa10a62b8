// The stream-ordered caching allocator for CUDA memory.
//
// Memory comes from cuMemAlloc in segments and is handed out as blocks carved from them. A freed block goes
// back to its stream's free pool at once (work later queued on that stream is ordered after the free) or,
// when other streams used it (record_stream), once events recorded on those streams have completed. Free
// neighbours in a segment merge. Small requests (<= 1 MiB) share 2 MiB segments; larger ones get their own,
// rounded to 2 MiB. Each device has its own allocator and lock: nothing is process-wide.
//
// A graph capture's allocations come from the graph's private pool (see begin_pool_allocation).
//
// Out of memory: free every cached segment and retry; if that fails, raise an OutOfMemoryError naming the
// request, the device's free memory, what this process holds and the cap; the allocator keeps working.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "cuda/stream.h"

namespace vt::cuda {

struct CudaAllocatorStats : AllocatorStats {
  int64_t active_bytes = 0;       // allocated + freed blocks still waiting on other streams' events
  int64_t num_ooms = 0;           // requests that failed even after freeing the cache
  int64_t num_segments = 0;       // live cuMemAlloc segments
  int64_t inactive_split_bytes = 0;  // free bytes inside partly used segments (fragmentation)
  int64_t memory_cap_bytes = 0;   // set_per_process_memory_fraction's cap (0: none)
};

struct BlockInfo {
  uintptr_t address;
  size_t size;
  bool allocated;
  uint64_t stream;
};
struct SegmentInfo {
  uintptr_t address;
  size_t total_size;
  size_t allocated_size;
  uint64_t stream;
  bool is_small;
  std::vector<BlockInfo> blocks;
};

Allocator& cuda_allocator(int device);
CudaAllocatorStats cuda_memory_stats(int device);
std::vector<SegmentInfo> cuda_memory_snapshot(int device);
void cuda_empty_cache(int device);
void cuda_reset_peak_stats(int device);
void set_memory_fraction(double fraction, int device);
// Marks memory owned by `data` as used on stream s: its free waits for s's work queued so far.
void record_stream(const DataPtr& data, const Stream& s);
// CUDA graph capture (cuda/graph.h): while `s` captures, its allocations come from `pool`'s own segments.
// Pools are reference counted by the graphs that use them; the last release hands the pool's memory back
// to the cache (blocks still held by tensors return there when freed).
void begin_pool_allocation(int device, CUstream s, uint64_t pool);
void end_pool_allocation(int device, CUstream s);
void retain_pool(int device, uint64_t pool);
void release_pool(int device, uint64_t pool);
// Registers the CUDA allocator with the core (Storage for Device cuda:N uses it). Idempotent.
void register_cuda_allocators();

}  // namespace vt::cuda
