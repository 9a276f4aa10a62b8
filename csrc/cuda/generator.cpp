#include "cuda/generator.h"

#include <array>
#include <mutex>

#include "core/error.h"
#include "cpu/generator.h"

namespace vt::cuda {

namespace {

struct CaptureState {
  std::mutex mu;
  int64_t* slot = nullptr;  // non-null while capturing
  uint64_t intra = 0;       // blocks reserved by the captured kernels so far
};
constexpr int kMaxDevices = 64;
std::array<CaptureState, kMaxDevices>& captures() {
  static auto* c = new std::array<CaptureState, kMaxDevices>();  // leaked: used until exit
  return *c;
}
CaptureState& capture(int device) {
  VT_CHECK(device >= 0 && device < kMaxDevices, "CUDA RNG: device index ", device, " out of range");
  return captures()[size_t(device)];
}
Device cuda_device(int index) { return Device(DeviceType::CUDA, int16_t(index)); }

}  // namespace

void PhiloxArgs::push(std::vector<KernelArg>& args) const {
  if (state_ptr) args.push_back(KernelArg::ptr(state_ptr));
  else args.push_back(KernelArg::i64v(int64_t(seed)));
  args.push_back(KernelArg::i64v(int64_t(offset)));
}

PhiloxArgs philox_args(int device, uint64_t increment) {
  CaptureState& c = capture(device);
  {
    std::lock_guard<std::mutex> g(c.mu);
    if (c.slot) {
      PhiloxArgs a{0, c.intra, c.slot};
      c.intra += increment;
      return a;
    }
  }
  PhiloxGenerator::Draw d = current_generator(cuda_device(device)).reserve(increment);
  return PhiloxArgs{d.seed, d.base, nullptr};
}

void rng_capture_begin(int device, int64_t* state_slot) {
  VT_CHECK_VALUE(state_slot != nullptr, "rng_capture_begin: the graph's RNG state slot is null");
  CaptureState& c = capture(device);
  std::lock_guard<std::mutex> g(c.mu);
  VT_CHECK_VALUE(c.slot == nullptr, "CUDA graph capture: cuda:", device, " is already capturing random ops");
  c.slot = state_slot;
  c.intra = 0;
}

uint64_t rng_capture_end(int device) {
  CaptureState& c = capture(device);
  std::lock_guard<std::mutex> g(c.mu);
  c.slot = nullptr;
  return c.intra;
}

void rng_replay_prepare(int device, int64_t* state_slot, uint64_t increment, const Stream& stream) {
  // Reserve even when nothing was captured: cheap, and keeps the contract simple.
  PhiloxGenerator::Draw d = default_generator(cuda_device(device))->reserve(increment);
  if (increment == 0) return;  // the graph reads no slot
  const Kernel& k = kernel("rng|state|int64|-|c|v");
  k.launch(1, 1, 1, {KernelArg::ptr(state_slot), KernelArg::i64v(int64_t(d.seed)), KernelArg::i64v(int64_t(d.base))},
           stream);
}

}  // namespace vt::cuda
