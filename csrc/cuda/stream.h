// Streams and events. Streams come from a per-device pool (created once, never destroyed) and the legacy
// default stream; each thread has a current stream per device.
#pragma once
#include <cstdint>

#include "cuda/device.h"

namespace vt::cuda {

struct Stream {
  int16_t device = 0;
  CUstream handle = nullptr;  // nullptr: the device's default (legacy) stream
  int priority = 0;
  bool operator==(const Stream& o) const { return device == o.device && handle == o.handle; }
  bool operator!=(const Stream& o) const { return !(*this == o); }
  void synchronize() const;
  bool query() const;  // true when all work on it has completed
  uint64_t id() const { return reinterpret_cast<uintptr_t>(handle); }
};

Stream default_stream(int device = -1);
Stream current_stream(int device = -1);
void set_current_stream(const Stream& s);
// A stream from the device's pool, round robin. priority: 0 (normal) or negative (higher priority).
Stream stream_from_pool(int device = -1, int priority = 0);
std::pair<int, int> priority_range();  // (least, greatest) as the driver reports them
void synchronize_device(int device = -1);

class Event {
 public:
  explicit Event(bool enable_timing = false, bool interprocess = false)
      : timing_(enable_timing), interprocess_(interprocess) {}
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(const Stream& s);
  void wait(const Stream& s) const;  // the stream waits for the work recorded before this event
  bool query() const;
  void synchronize() const;
  float elapsed_ms(const Event& end) const;
  bool recorded() const { return handle_ != nullptr; }
  int device() const { return device_; }
  CUevent handle() const { return handle_; }

 private:
  CUevent handle_ = nullptr;  // created on first record, on the recording stream's device
  int device_ = -1;
  bool timing_, interprocess_;
};

}  // namespace vt::cuda
