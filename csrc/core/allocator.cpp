#include "core/allocator.h"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace vt {
namespace {

constexpr size_t kAlign = 64;
constexpr int kNumShards = 16;

// Size classes: multiples of 64 B up to 1 KiB, then four classes per power of two (<= 25% waste).
size_t round_size(size_t n) {
  if (n <= 1024) return n == 0 ? kAlign : (n + kAlign - 1) & ~(kAlign - 1);
  size_t p = size_t(1) << (63 - __builtin_clzll(n - 1));  // largest power of two below n
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}

// Large blocks are 2 MiB aligned and advised onto transparent huge pages (as numpy's allocator does):
// streaming kernels over big tensors otherwise spend a measurable share of their time on TLB misses.
void* os_alloc(size_t sz) {
  constexpr size_t kHuge = size_t(2) << 20;
  if (sz < 2 * kHuge) return std::aligned_alloc(kAlign, sz);
  void* p = std::aligned_alloc(kHuge, (sz + kHuge - 1) / kHuge * kHuge);
  if (p) madvise(p, sz, MADV_HUGEPAGE);
  return p;
}

class CPUCachingAllocator final : public Allocator {
 public:
  DataPtr allocate(size_t nbytes) override {
    size_t sz = round_size(nbytes);
    void* p = nullptr;
    Shard& s = shard(sz);
    {
      std::lock_guard<std::mutex> g(s.mu);
      auto it = s.free.find(sz);
      if (it != s.free.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
      }
    }
    if (p) {
      cached_.fetch_sub(int64_t(sz), std::memory_order_relaxed);
      hits_.fetch_add(1, std::memory_order_relaxed);
    } else {
      p = os_alloc(sz);
      if (!p) {  // OOM ladder: drop the cache and try once more
        empty_cache();
        p = os_alloc(sz);
      }
      if (!p)
        VT_THROW(OutOfMemoryError, "CPU out of memory: tried to allocate ", nbytes, " bytes (reserved ",
                 reserved_.load(), " bytes)");
      os_allocs_.fetch_add(1, std::memory_order_relaxed);
      bump_peak(peak_reserved_, reserved_.fetch_add(int64_t(sz), std::memory_order_relaxed) + int64_t(sz));
    }
    allocs_.fetch_add(1, std::memory_order_relaxed);
    bump_peak(peak_allocated_, allocated_.fetch_add(int64_t(sz), std::memory_order_relaxed) + int64_t(sz));
    return DataPtr(p, reinterpret_cast<void*>(sz), &CPUCachingAllocator::free_fn, Device());
  }

  AllocatorStats stats() const override {
    AllocatorStats s;
    s.allocated_bytes = allocated_.load();
    s.reserved_bytes = reserved_.load();
    s.peak_allocated_bytes = peak_allocated_.load();
    s.peak_reserved_bytes = peak_reserved_.load();
    s.num_allocs = allocs_.load();
    s.num_frees = frees_.load();
    s.num_cache_hits = hits_.load();
    s.num_os_allocs = os_allocs_.load();
    s.num_os_frees = os_frees_.load();
    return s;
  }
  void reset_peak_stats() override {
    peak_allocated_.store(allocated_.load());
    peak_reserved_.store(reserved_.load());
  }
  void empty_cache() override {
    for (Shard& s : shards_) {
      std::unordered_map<size_t, std::vector<void*>> drop;
      {
        std::lock_guard<std::mutex> g(s.mu);
        drop.swap(s.free);
      }
      for (auto& [sz, ptrs] : drop)
        for (void* p : ptrs) {
          cached_.fetch_sub(int64_t(sz), std::memory_order_relaxed);
          release_to_os({p, sz});
        }
    }
  }
  void set_limit(int64_t bytes) {
    limit_.store(bytes);
    if (cached_.load() > bytes) empty_cache();
  }

  static CPUCachingAllocator& instance() {
    // Leaked on purpose: storages freed during interpreter shutdown must still find their allocator.
    static CPUCachingAllocator* a = new CPUCachingAllocator();
    return *a;
  }

 private:
  struct Block { void* ptr; size_t size; };
  struct Shard {
    std::mutex mu;
    std::unordered_map<size_t, std::vector<void*>> free;  // size class -> cached blocks
  };
  Shard& shard(size_t sz) { return shards_[(sz / kAlign) % kNumShards]; }

  static void free_fn(void* p, void* ctx) { instance().free(p, reinterpret_cast<size_t>(ctx)); }
  void free(void* p, size_t sz) {
    frees_.fetch_add(1, std::memory_order_relaxed);
    allocated_.fetch_sub(int64_t(sz), std::memory_order_relaxed);
    if (cached_.load(std::memory_order_relaxed) + int64_t(sz) > limit_.load(std::memory_order_relaxed)) {
      release_to_os({p, sz});
      return;
    }
    cached_.fetch_add(int64_t(sz), std::memory_order_relaxed);
    Shard& s = shard(sz);
    std::lock_guard<std::mutex> g(s.mu);
    s.free[sz].push_back(p);
  }
  void release_to_os(const Block& b) {
    std::free(b.ptr);
    os_frees_.fetch_add(1, std::memory_order_relaxed);
    reserved_.fetch_sub(int64_t(b.size), std::memory_order_relaxed);
  }
  static void bump_peak(std::atomic<int64_t>& peak, int64_t v) {
    int64_t cur = peak.load(std::memory_order_relaxed);
    while (v > cur && !peak.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {}
  }

  Shard shards_[kNumShards];
  std::atomic<int64_t> allocated_{0}, reserved_{0}, cached_{0}, peak_allocated_{0}, peak_reserved_{0};
  std::atomic<int64_t> allocs_{0}, frees_{0}, hits_{0}, os_allocs_{0}, os_frees_{0};
  std::atomic<int64_t> limit_{int64_t(1) << 30};
};

}  // namespace

Allocator& cpu_allocator() { return CPUCachingAllocator::instance(); }
void set_cpu_cache_limit(int64_t bytes) { CPUCachingAllocator::instance().set_limit(bytes); }

}  // namespace vt
