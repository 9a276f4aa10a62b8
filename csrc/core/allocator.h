// Device allocators hand out DataPtrs; Storage frees through the DataPtr's deleter, so memory from an
// allocator, from numpy/DLPack or from an mmap'd file are all the same kind of storage.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace vt {

struct DataPtr {
  void* ptr = nullptr;
  void* ctx = nullptr;                      // whatever the deleter needs
  void (*deleter)(void* ptr, void* ctx) = nullptr;
  Device device;
  DataPtr() = default;
  DataPtr(void* p, void* c, void (*d)(void*, void*), Device dev) : ptr(p), ctx(c), deleter(d), device(dev) {}
  DataPtr(const DataPtr&) = delete;
  DataPtr& operator=(const DataPtr&) = delete;
  DataPtr(DataPtr&& o) noexcept { *this = std::move(o); }
  DataPtr& operator=(DataPtr&& o) noexcept {
    reset();
    ptr = o.ptr; ctx = o.ctx; deleter = o.deleter; device = o.device;
    o.ptr = nullptr; o.deleter = nullptr;
    return *this;
  }
  ~DataPtr() { reset(); }
  void reset() {
    if (deleter) deleter(ptr, ctx);
    ptr = nullptr; deleter = nullptr;
  }
};

struct AllocatorStats {
  int64_t allocated_bytes = 0;       // handed out and not yet freed (rounded sizes)
  int64_t reserved_bytes = 0;        // allocated + cached, i.e. taken from the OS
  int64_t peak_allocated_bytes = 0;
  int64_t peak_reserved_bytes = 0;
  int64_t num_allocs = 0, num_frees = 0;
  int64_t num_cache_hits = 0;        // allocations served from the cache
  int64_t num_os_allocs = 0, num_os_frees = 0;
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual DataPtr allocate(size_t nbytes) = 0;
  virtual AllocatorStats stats() const = 0;
  virtual void reset_peak_stats() = 0;
  virtual void empty_cache() = 0;
};

// The process-wide CPU allocator: 64-byte aligned blocks in size classes, freed blocks cached per class
// (capped at 1 GiB unless set_cpu_cache_limit says otherwise) so steady-state ops never reach malloc.
Allocator& cpu_allocator();
void set_cpu_cache_limit(int64_t bytes);

}  // namespace vt
