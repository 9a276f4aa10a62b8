#include "cuda/error_flag.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <mutex>

namespace vt::cuda {

namespace {

constexpr int kMaxDevices = 64, kSlots = 64;
constexpr const char* kIndexOpNames[] = {"?", "index_select", "embedding", "index", "index_put_", "index_add_",
                                         "gather", "scatter", "scatter_add", "one_hot", "cross_entropy",
                                         "multinomial"};

// Streams with indexing work not yet checked: a small open-addressing table keyed by stream handle + 1
// (the default stream's handle is null). A full table falls back to checking at every synchronization.
struct Slot {
  std::atomic<uintptr_t> key{0};
  std::atomic<bool> armed{false};
};

struct DeviceState {
  std::once_flag once;
  std::atomic<bool> used{false};  // some indexing kernel ran on this device
  CUdeviceptr word = 0;
  CUstream status_stream = nullptr;  // reads and clears of the word: never waits for compute work
  int64_t* host = nullptr;           // pinned landing buffer for the 32-byte read
  std::mutex read_lock;
  std::array<Slot, kSlots> slots;
  std::atomic<bool> overflow{false};
};

DeviceState& state(int device) {
  static std::array<DeviceState, kMaxDevices> states;
  VT_CHECK(device >= 0 && device < kMaxDevices, "index error word: device ", device, " out of range");
  return states[size_t(device)];
}

Slot* find_slot(DeviceState& st, const Stream& s, bool claim) {
  uintptr_t key = uintptr_t(s.handle) + 1;
  size_t h = size_t((key >> 4) ^ (key >> 12)) % kSlots;
  for (int i = 0; i < kSlots; i++) {
    Slot& slot = st.slots[(h + size_t(i)) % kSlots];
    uintptr_t k = slot.key.load(std::memory_order_acquire);
    if (k == key) return &slot;
    if (k == 0) {
      if (!claim) return nullptr;
      if (slot.key.compare_exchange_strong(k, key) || k == key) return &slot;
    }
  }
  return nullptr;
}

bool sync_checks_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("VIBETENSOR_CUDA_SYNC_CHECKS");
    return v && *v && std::string_view(v) != "0";
  }();
  return on;
}

// Reads the word; on a recorded error clears it and raises. The caller made the writers' work complete.
void read_and_raise(DeviceState& st, int device) {
  int64_t w[4];
  {
    std::lock_guard<std::mutex> g(st.read_lock);
    activate(device);
    VT_CU(cuMemcpyAsync(CUdeviceptr(uintptr_t(st.host)), st.word, 4 * sizeof(int64_t), st.status_stream));
    VT_CU(cuStreamSynchronize(st.status_stream));
    for (int i = 0; i < 4; i++) w[i] = st.host[i];
    if (w[0] == 0) return;
    VT_CU(cuMemsetD8Async(st.word, 0, 4 * sizeof(int64_t), st.status_stream));
    VT_CU(cuStreamSynchronize(st.status_stream));
  }
  int64_t op = w[3] >> 32, dim = w[3] & 0xffffffff;
  if (op == int64_t(IndexOp::Multinomial))  // the CPU's messages, with the row the kernel found
    VT_THROW(ValueError, "multinomial: ",
             w[2] == kZeroSum ? "invalid multinomial distribution (sum of probabilities <= 0)"
                              : "probability tensor contains either `inf`, `nan` or element < 0",
             " (row ", w[1], " of the probabilities, found by a kernel on cuda:", device, ")");
  const char* name = op > 0 && op < int64_t(std::size(kIndexOpNames)) ? kIndexOpNames[op] : "an indexing op";
  VT_THROW(IndexError, "index ", w[1], " is out of bounds for dimension ", dim, " with size ", w[2], " (", name,
           " on cuda:", device, ")");
}

}  // namespace

void* index_error_word(int device) {
  DeviceState& st = state(device);
  std::call_once(st.once, [&] {
    activate(device);
    VT_CU(cuStreamCreateWithPriority(&st.status_stream, CU_STREAM_NON_BLOCKING, 0));
    void* host = nullptr;
    VT_CU(cuMemHostAlloc(&host, 4 * sizeof(int64_t), CU_MEMHOSTALLOC_PORTABLE));
    st.host = static_cast<int64_t*>(host);
    VT_CU(cuMemAlloc(&st.word, 4 * sizeof(int64_t)));
    VT_CU(cuMemsetD8Async(st.word, 0, 4 * sizeof(int64_t), st.status_stream));
    VT_CU(cuStreamSynchronize(st.status_stream));
  });
  return reinterpret_cast<void*>(uintptr_t(st.word));
}

void note_index_launch(const Stream& s) {
  DeviceState& st = state(s.device);
  st.used.store(true, std::memory_order_release);
  if (Slot* slot = find_slot(st, s, /*claim=*/true)) slot->armed.store(true, std::memory_order_release);
  else st.overflow.store(true, std::memory_order_release);
  if (sync_checks_enabled()) {
    int capturing = CU_STREAM_CAPTURE_STATUS_NONE;
    VT_CU(cuStreamIsCapturing(s.handle, &capturing));
    if (capturing == CU_STREAM_CAPTURE_STATUS_NONE) s.synchronize();  // checks, through check_index_errors
  }
}

void check_index_errors(const Stream& s) {
  DeviceState& st = state(s.device);
  if (!st.used.load(std::memory_order_acquire)) return;
  Slot* slot = find_slot(st, s, /*claim=*/false);
  // Disarm before reading: a launch on s that arms again after this point is checked next time.
  bool armed = slot && slot->armed.exchange(false, std::memory_order_acq_rel);
  if (armed || st.overflow.load(std::memory_order_acquire)) read_and_raise(st, s.device);
}

void check_index_errors_on_device(int device, bool all_done) {
  DeviceState& st = state(device);
  if (!st.used.load(std::memory_order_acquire)) return;
  bool any = st.overflow.load(std::memory_order_acquire);
  for (Slot& slot : st.slots)
    any |= all_done ? slot.armed.exchange(false, std::memory_order_acq_rel) : slot.armed.load(std::memory_order_acquire);
  if (all_done) st.overflow.store(false, std::memory_order_release);
  if (any) read_and_raise(st, device);
}

}  // namespace vt::cuda
