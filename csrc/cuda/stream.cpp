#include "cuda/stream.h"

#include "cuda/error_flag.h"
#include "cuda/graph.h"

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace vt::cuda {

namespace {
constexpr int kPoolSize = 32;

struct DevicePool {
  std::once_flag once;
  std::array<CUstream, kPoolSize> normal{}, high{};
  std::atomic<uint32_t> next_normal{0}, next_high{0};
  int high_priority = 0;
};

DevicePool& pool(int device) {
  static std::vector<std::unique_ptr<DevicePool>>* pools = [] {
    auto* v = new std::vector<std::unique_ptr<DevicePool>>();
    for (int i = 0; i < device_count(); i++) v->push_back(std::make_unique<DevicePool>());
    return v;
  }();
  return *(*pools)[size_t(device)];
}

thread_local std::vector<CUstream> tls_current;  // per device; nullptr = default stream
}  // namespace

std::pair<int, int> priority_range() {
  activate(current_device());
  int least = 0, greatest = 0;
  VT_CU(cuCtxGetStreamPriorityRange(&least, &greatest));
  return {least, greatest};
}

Stream default_stream(int device) { return Stream{int16_t(resolve(device)), nullptr, 0}; }

Stream current_stream(int device) {
  device = resolve(device);
  if (size_t(device) < tls_current.size()) return Stream{int16_t(device), tls_current[size_t(device)], 0};
  return default_stream(device);
}

void set_current_stream(const Stream& s) {
  int device = resolve(s.device);
  if (tls_current.size() <= size_t(device)) tls_current.resize(size_t(device) + 1, nullptr);
  tls_current[size_t(device)] = s.handle;
}

Stream stream_from_pool(int device, int priority) {
  device = resolve(device);
  DevicePool& p = pool(device);
  std::call_once(p.once, [&] {
    DeviceGuard g(device);
    auto [least, greatest] = priority_range();
    p.high_priority = greatest;
    for (int i = 0; i < kPoolSize; i++) {
      VT_CU(cuStreamCreateWithPriority(&p.normal[size_t(i)], CU_STREAM_NON_BLOCKING, least));
      VT_CU(cuStreamCreateWithPriority(&p.high[size_t(i)], CU_STREAM_NON_BLOCKING, greatest));
    }
  });
  bool high = priority < 0;
  uint32_t i = (high ? p.next_high : p.next_normal).fetch_add(1) % kPoolSize;
  return Stream{int16_t(device), high ? p.high[i] : p.normal[i], high ? p.high_priority : 0};
}

void Stream::synchronize() const {
  activate(device);
  if (capturing(device)) {  // syncing a capturing stream would invalidate the capture: refuse instead
    int status = CU_STREAM_CAPTURE_STATUS_NONE;
    VT_CU(cuStreamIsCapturing(handle, &status));
    if (status != CU_STREAM_CAPTURE_STATUS_NONE || handle == nullptr)
      check_not_capturing("Synchronizing with the stream (.item(), .cpu(), .tolist(), synchronize())", device);
  }
  VT_CU(cuStreamSynchronize(handle));
  check_index_errors(*this);  // an out-of-range index a kernel on this stream recorded -> IndexError
}

bool Stream::query() const {
  activate(device);
  CUresult r = require_driver().cuStreamQuery(handle);
  if (r == CUDA_ERROR_NOT_READY) return false;
  if (r != CUDA_SUCCESS) throw_cuda_error(r, "cuStreamQuery");
  return true;
}

void synchronize_device(int device) {
  check_not_capturing("vt.cuda.synchronize()", resolve(device));
  DeviceGuard g(resolve(device));
  VT_CU(cuCtxSynchronize());
  check_index_errors_on_device(resolve(device), /*all_done=*/true);
}

Event::~Event() {
  if (handle_ && is_available()) driver().cuEventDestroy(handle_);
}

void Event::record(const Stream& s) {
  activate(s.device);
  if (!handle_) {
    unsigned flags = (timing_ ? CU_EVENT_DEFAULT : CU_EVENT_DISABLE_TIMING) |
                     (interprocess_ ? CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING : 0);
    VT_CU(cuEventCreate(&handle_, flags));
    device_ = s.device;
  }
  VT_CHECK_VALUE(device_ == s.device, "Event.record: the event belongs to cuda:", device_,
                 " but the stream to cuda:", s.device);
  VT_CU(cuEventRecord(handle_, s.handle));
}

void Event::wait(const Stream& s) const {
  if (!handle_) return;  // waiting for an event never recorded: nothing to wait for (PyTorch's rule)
  activate(s.device);
  VT_CU(cuStreamWaitEvent(s.handle, handle_, 0));
}

bool Event::query() const {
  if (!handle_) return true;
  CUresult r = require_driver().cuEventQuery(handle_);
  if (r == CUDA_ERROR_NOT_READY) return false;
  if (r != CUDA_SUCCESS) throw_cuda_error(r, "cuEventQuery");
  return true;
}

void Event::synchronize() const {
  if (!handle_) return;
  VT_CU(cuEventSynchronize(handle_));
  check_index_errors_on_device(device_, /*all_done=*/false);
}

float Event::elapsed_ms(const Event& end) const {
  VT_CHECK_VALUE(timing_ && end.timing_, "elapsed_time: both events must be created with enable_timing=True");
  VT_CHECK_VALUE(handle_ && end.handle_, "elapsed_time: both events must be recorded first");
  float ms = 0;
  VT_CU(cuEventElapsedTime(&ms, handle_, end.handle_));
  return ms;
}

}  // namespace vt::cuda
