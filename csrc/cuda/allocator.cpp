#include "cuda/allocator.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>

#include "core/storage.h"

namespace vt::cuda {

namespace {

constexpr size_t kRound = 512;                 // every block is a multiple of this
constexpr size_t kSmallLimit = 1 << 20;        // requests up to 1 MiB share small segments
constexpr size_t kSmallSegment = 2 << 20;      // 2 MiB
constexpr size_t kLargeSegment = 20 << 20;     // requests under 10 MiB come from 20 MiB segments
constexpr size_t kLargeGranule = 2 << 20;

struct Block {
  size_t size;
  uintptr_t ptr;
  CUstream stream;
  bool small;
  int device = 0;
  bool allocated = false;
  int pending_events = 0;
  Block* prev = nullptr;  // neighbours within the segment
  Block* next = nullptr;
  std::vector<CUstream> stream_uses;  // other streams that used it (record_stream)
};

struct ByStreamSize {
  bool operator()(const Block* a, const Block* b) const {
    return std::make_tuple(uintptr_t(a->stream), a->size, a->ptr) < std::make_tuple(uintptr_t(b->stream), b->size, b->ptr);
  }
};

size_t round_size(size_t n) { return n < kRound ? kRound : (n + kRound - 1) / kRound * kRound; }
size_t segment_size(size_t n) {
  if (n <= kSmallLimit) return kSmallSegment;
  if (n < (10 << 20)) return kLargeSegment;
  return (n + kLargeGranule - 1) / kLargeGranule * kLargeGranule;
}
std::string mib(int64_t b) { return std::to_string(b / (1 << 20)) + " MiB"; }

class DeviceAllocator final : public Allocator {
 public:
  explicit DeviceAllocator(int device) : device_(device) {}

  DataPtr allocate(size_t nbytes) override {
    activate(device_);
    CUstream stream = current_stream(device_).handle;
    size_t size = round_size(nbytes);
    std::lock_guard<std::mutex> g(mu_);
    if (!capture_pools_.empty()) {  // a capturing stream allocates from its graph's pool
      auto it = capture_pools_.find(stream);
      if (it != capture_pools_.end()) stream = pool_tag(it->second);
    }
    process_events();
    bool small = size <= kSmallLimit;
    auto& pool = small ? small_free_ : large_free_;
    Block* b = take_best_fit(pool, stream, size);
    if (b) {
      stats_.num_cache_hits++;
    } else {
      b = new_segment(segment_size(size), stream, small);
      if (!b && capture_pools_.empty()) {  // freeing segments is not allowed while a graph captures
        release_cached();
        b = new_segment(segment_size(size), stream, small);
      }
      if (!b) {
        stats_.num_ooms++;
        raise_oom(nbytes);
      }
    }
    split(b, size, pool);
    b->allocated = true;
    stats_.num_allocs++;
    stats_.allocated_bytes += int64_t(b->size);
    stats_.active_bytes += int64_t(b->size);
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    return DataPtr(reinterpret_cast<void*>(b->ptr), b, &DeviceAllocator::free_fn, Device(DeviceType::CUDA, int16_t(device_)));
  }

  AllocatorStats stats() const override { return full_stats(); }
  CudaAllocatorStats full_stats() const {
    std::lock_guard<std::mutex> g(mu_);
    CudaAllocatorStats s = stats_;
    s.num_segments = int64_t(segments_.size());
    s.memory_cap_bytes = int64_t(cap_);
    int64_t split_free = 0;
    for (auto& [base, head] : segments_) {
      bool partly_used = false;
      int64_t free_here = 0;
      for (Block* b = head; b; b = b->next) {
        if (b->allocated || b->pending_events) partly_used = true;
        else free_here += int64_t(b->size);
      }
      if (partly_used) split_free += free_here;
    }
    s.inactive_split_bytes = split_free;
    return s;
  }
  void reset_peak_stats() override {
    std::lock_guard<std::mutex> g(mu_);
    stats_.peak_allocated_bytes = stats_.allocated_bytes;
    stats_.peak_reserved_bytes = stats_.reserved_bytes;
  }
  void empty_cache() override {
    activate(device_);
    std::lock_guard<std::mutex> g(mu_);
    VT_CHECK(capture_pools_.empty(), "empty_cache is not allowed while a CUDA graph is being captured on cuda:",
             device_, " (freeing device memory would invalidate the capture)");
    synchronize_events();
    release_cached();
  }

  void set_cap(size_t bytes) {
    std::lock_guard<std::mutex> g(mu_);
    cap_ = bytes;
  }

  void begin_pool(CUstream s, uint64_t pool) {
    std::lock_guard<std::mutex> g(mu_);
    capture_pools_[s] = pool;
  }
  void end_pool(CUstream s) {
    std::lock_guard<std::mutex> g(mu_);
    capture_pools_.erase(s);
  }
  void retain(uint64_t pool) {
    std::lock_guard<std::mutex> g(mu_);
    pool_refs_[pool]++;
  }
  // The last graph using the pool is gone: its segments become ordinary cache of the default stream.
  void release(uint64_t pool) {
    std::lock_guard<std::mutex> g(mu_);
    if (--pool_refs_[pool] > 0) return;
    pool_refs_.erase(pool);
    CUstream tag = pool_tag(pool);
    for (auto& [base, head] : segments_) {
      if (head->stream != tag) continue;
      for (Block* b = head; b; b = b->next) {
        auto& free_set = b->small ? small_free_ : large_free_;
        bool cached = !b->allocated && !b->pending_events && free_set.erase(b);
        b->stream = nullptr;
        if (cached) free_set.insert(b);
      }
    }
  }

  void record(Block* b, CUstream s) {
    std::lock_guard<std::mutex> g(mu_);
    if (s == b->stream) return;
    if (std::find(b->stream_uses.begin(), b->stream_uses.end(), s) == b->stream_uses.end()) b->stream_uses.push_back(s);
  }

  std::vector<SegmentInfo> snapshot() const {
    std::lock_guard<std::mutex> g(mu_);
    std::vector<SegmentInfo> out;
    for (auto& [base, head] : segments_) {
      SegmentInfo seg{base, 0, 0, uint64_t(uintptr_t(head->stream)), head->small, {}};
      for (Block* b = head; b; b = b->next) {
        seg.total_size += b->size;
        if (b->allocated) seg.allocated_size += b->size;
        seg.blocks.push_back({b->ptr, b->size, b->allocated, uint64_t(uintptr_t(b->stream))});
      }
      out.push_back(std::move(seg));
    }
    std::sort(out.begin(), out.end(), [](const SegmentInfo& a, const SegmentInfo& b) { return a.address < b.address; });
    return out;
  }

  static bool owns(const DataPtr& d) { return d.deleter == &DeviceAllocator::free_fn; }

 private:
  static void free_fn(void*, void* ctx);
  void free(Block* b) {
    activate(device_);  // storages die on any thread; events below need this device's context
    std::lock_guard<std::mutex> g(mu_);
    b->allocated = false;
    stats_.num_frees++;
    stats_.allocated_bytes -= int64_t(b->size);
    if (is_pool_tag(b->stream)) b->stream_uses.clear();  // a graph's memory is ordered by its replay
    if (!b->stream_uses.empty()) {
      // Other streams may still be using it: reuse waits until their work so far has finished.
      for (CUstream s : b->stream_uses) {
        CUevent e = get_event();
        if (require_driver().cuEventRecord(e, s) != CUDA_SUCCESS) {
          release_event(e);
          continue;
        }
        b->pending_events++;
        pending_.push_back({e, b});
      }
      b->stream_uses.clear();
      if (b->pending_events) return;
    }
    return_to_pool(b);
  }

  void return_to_pool(Block* b) {
    stats_.active_bytes -= int64_t(b->size);
    auto& pool = b->small ? small_free_ : large_free_;
    for (Block* n : {b->prev, b->next}) {
      if (!n || n->allocated || n->pending_events) continue;
      pool.erase(n);
      if (n == b->prev) {  // fold b into its predecessor, which keeps its place as segment head
        n->size += b->size;
        n->next = b->next;
        if (b->next) b->next->prev = n;
        delete b;
        b = n;
      } else {
        b->size += n->size;
        b->next = n->next;
        if (n->next) n->next->prev = b;
        delete n;
      }
    }
    pool.insert(b);
  }

  Block* take_best_fit(std::set<Block*, ByStreamSize>& pool, CUstream stream, size_t size) {
    Block key{size, 0, stream, false};
    auto it = pool.lower_bound(&key);
    if (it == pool.end() || (*it)->stream != stream) return nullptr;
    Block* b = *it;
    // A huge cached block is not carved up for a much smaller large request: allocate afresh instead.
    if (!b->small && b->size >= size + kLargeSegment && size > kSmallLimit) return nullptr;
    pool.erase(it);
    return b;
  }

  void split(Block* b, size_t size, std::set<Block*, ByStreamSize>& pool) {
    size_t rest = b->size - size;
    if (b->small ? rest < kRound : rest <= kSmallLimit) return;
    auto* r = new Block{rest, b->ptr + size, b->stream, b->small, b->device};
    r->prev = b;
    r->next = b->next;
    if (b->next) b->next->prev = r;
    b->next = r;
    b->size = size;
    pool.insert(r);
  }

  Block* new_segment(size_t size, CUstream stream, bool small) {
    if (cap_ && size_t(stats_.reserved_bytes) + size > cap_) return nullptr;
    CUdeviceptr p = 0;
    // cuMemAlloc is refused on a capturing thread unless its capture mode is relaxed for the call; the
    // allocation itself is not part of the graph (the graph's pool keeps the segment).
    int mode = CU_STREAM_CAPTURE_MODE_RELAXED;
    bool relax = !capture_pools_.empty();
    if (relax) require_driver().cuThreadExchangeStreamCaptureMode(&mode);
    CUresult r = require_driver().cuMemAlloc(&p, size);
    if (relax) require_driver().cuThreadExchangeStreamCaptureMode(&mode);
    if (r == CUDA_ERROR_OUT_OF_MEMORY) return nullptr;
    if (r != CUDA_SUCCESS) throw_cuda_error(r, "cuMemAlloc");
    stats_.num_os_allocs++;
    stats_.reserved_bytes += int64_t(size);
    stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
    auto* b = new Block{size, uintptr_t(p), stream, small, device_};
    segments_[b->ptr] = b;
    return b;
  }

  // Frees every segment that is entirely cached (one free block, nothing pending).
  void release_cached() {
    for (auto* pool : {&small_free_, &large_free_}) {
      for (auto it = pool->begin(); it != pool->end();) {
        Block* b = *it;
        if (b->prev || b->next) { ++it; continue; }
        it = pool->erase(it);
        require_driver().cuMemFree(b->ptr);
        stats_.num_os_frees++;
        stats_.reserved_bytes -= int64_t(b->size);
        segments_.erase(b->ptr);
        delete b;
      }
    }
  }

  void process_events() {
    while (!pending_.empty()) {
      auto [e, b] = pending_.front();
      CUresult r = require_driver().cuEventQuery(e);
      if (r == CUDA_ERROR_NOT_READY) break;
      pending_.pop_front();
      release_event(e);
      if (--b->pending_events == 0) return_to_pool(b);
    }
  }
  void synchronize_events() {
    for (auto& [e, b] : pending_) {
      require_driver().cuEventSynchronize(e);
      release_event(e);
      if (--b->pending_events == 0) return_to_pool(b);
    }
    pending_.clear();
  }
  CUevent get_event() {
    if (!free_events_.empty()) {
      CUevent e = free_events_.back();
      free_events_.pop_back();
      return e;
    }
    CUevent e;
    VT_CU(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    return e;
  }
  void release_event(CUevent e) { free_events_.push_back(e); }

  [[noreturn]] void raise_oom(size_t nbytes) {
    size_t free_b = 0, total = 0;
    require_driver().cuMemGetInfo(&free_b, &total);
    std::string cap = cap_ ? ", and the cap set by set_per_process_memory_fraction is " + mib(int64_t(cap_)) : "";
    VT_THROW(OutOfMemoryError, "CUDA out of memory. Tried to allocate ", mib(int64_t(nbytes)), " (", nbytes,
             " bytes) on cuda:", device_, ", which has a total capacity of ", mib(int64_t(total)), " of which ",
             mib(int64_t(free_b)), " is free. This process has ", mib(stats_.reserved_bytes), " reserved by the ",
             "caching allocator (", mib(stats_.allocated_bytes), " allocated)", cap,
             ". Cached memory was already released; free tensors or reduce the batch size.");
  }

  // Blocks of a graph's private pool carry a tag instead of a stream: odd values, which no stream handle
  // (a pointer) can equal, so no stream's request ever matches them.
  static CUstream pool_tag(uint64_t pool) { return reinterpret_cast<CUstream>(uintptr_t(pool << 1 | 1)); }
  static bool is_pool_tag(CUstream s) { return uintptr_t(s) & 1; }

  int device_;
  mutable std::mutex mu_;
  std::unordered_map<CUstream, uint64_t> capture_pools_;  // capturing stream -> pool
  std::unordered_map<uint64_t, int> pool_refs_;
  std::set<Block*, ByStreamSize> small_free_, large_free_;
  std::unordered_map<uintptr_t, Block*> segments_;  // base address -> first block
  std::deque<std::pair<CUevent, Block*>> pending_;
  std::vector<CUevent> free_events_;
  CudaAllocatorStats stats_;
  size_t cap_ = 0;
};

std::vector<std::unique_ptr<DeviceAllocator>>& allocators() {
  static auto* v = [] {
    auto* a = new std::vector<std::unique_ptr<DeviceAllocator>>();
    for (int i = 0; i < device_count(); i++) a->push_back(std::make_unique<DeviceAllocator>(i));
    return a;
  }();
  return *v;
}

DeviceAllocator& alloc_for(int device) { return *allocators()[size_t(resolve(device))]; }

void DeviceAllocator::free_fn(void*, void* ctx) {
  auto* b = static_cast<Block*>(ctx);
  alloc_for(b->device).free(b);
}

}  // namespace

Allocator& cuda_allocator(int device) { return alloc_for(device); }
CudaAllocatorStats cuda_memory_stats(int device) { return alloc_for(device).full_stats(); }
std::vector<SegmentInfo> cuda_memory_snapshot(int device) { return alloc_for(device).snapshot(); }
void cuda_empty_cache(int device) { alloc_for(device).empty_cache(); }
void cuda_reset_peak_stats(int device) { alloc_for(device).reset_peak_stats(); }

void set_memory_fraction(double fraction, int device) {
  VT_CHECK_VALUE(fraction > 0 && fraction <= 1, "set_per_process_memory_fraction: fraction must be in (0, 1], got ",
                 fraction);
  alloc_for(device).set_cap(size_t(fraction * double(properties(device).total_memory)));
}

void record_stream(const DataPtr& data, const Stream& s) {
  VT_CHECK_VALUE(DeviceAllocator::owns(data), "record_stream: the tensor's memory does not come from the CUDA "
                 "caching allocator");
  alloc_for(data.device.index).record(static_cast<Block*>(data.ctx), s.handle);
}

void begin_pool_allocation(int device, CUstream s, uint64_t pool) { alloc_for(device).begin_pool(s, pool); }
void end_pool_allocation(int device, CUstream s) { alloc_for(device).end_pool(s); }
void retain_pool(int device, uint64_t pool) { alloc_for(device).retain(pool); }
void release_pool(int device, uint64_t pool) { alloc_for(device).release(pool); }

void register_cuda_allocators() {
  register_allocator(DeviceType::CUDA, [](int16_t index) -> Allocator* { return &alloc_for(index); });
}

// Storage on cuda:N uses this allocator; registering touches no driver (allocators are made on first use).
static const bool kRegistered = (register_cuda_allocators(), true);

}  // namespace vt::cuda
