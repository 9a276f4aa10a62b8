// CUDA devices: count, the calling thread's current device, primary contexts and properties.
#pragma once
#include <optional>
#include <string>

#include "core/device.h"
#include "cuda/driver.h"

namespace vt::cuda {

int device_count();          // 0 without a usable driver (never throws)
int current_device();        // the calling thread's device (0 until set_device)
void set_device(int index);  // also makes the device's primary context current on this thread
int resolve(int index);      // -1 (plain "cuda") -> current device; range-checked with a clear error
// Makes `index`'s primary context current on this thread (cheap when it already is).
void activate(int index);
// A factory's device argument: none or plain "cuda" -> the current device, range-checked.
inline Device cuda_device(std::optional<Device> d) {
  return Device(DeviceType::CUDA, int16_t(resolve(d ? d->index : -1)));
}

struct DeviceProperties {
  std::string name;
  int major = 0, minor = 0, multiprocessor_count = 0, max_shared_memory_per_block_optin = 0;
  size_t total_memory = 0;
  std::string pci_bus_id;
};
const DeviceProperties& properties(int index);

// RAII: switch the current device for a scope.
struct DeviceGuard {
  int prev;
  explicit DeviceGuard(int index) : prev(current_device()) { set_device(index); }
  ~DeviceGuard() { set_device(prev); }
};

}  // namespace vt::cuda
