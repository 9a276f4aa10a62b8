// The random number generator state: a Philox key (the seed) and a counter offset, one default generator
// per device, plus user-made generators. The stream layout is documented in core/philox.h.
//
// Ops never hold the generator while they compute: they reserve a range of counter blocks (a few
// instructions under a mutex) and fill elements from those counters on any number of threads.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/device.h"

namespace vt {

class PhiloxGenerator {
 public:
  // PyTorch's default CPU seed, so a fresh process starts from a familiar, fixed state.
  static constexpr uint64_t kDefaultSeed = 67280421310721ull;
  // get_state()/set_state() bytes: seed then offset, each a little-endian uint64.
  static constexpr size_t kStateSize = 16;
  using State = std::array<uint8_t, kStateSize>;

  explicit PhiloxGenerator(Device device, uint64_t seed = kDefaultSeed) : device_(device), seed_(seed) {}
  Device device() const { return device_; }

  void manual_seed(uint64_t seed);  // restarts the stream: offset 0
  uint64_t seed();                  // a fresh non-deterministic seed (returned), offset 0
  uint64_t initial_seed() const;
  uint64_t offset() const;

  State get_state() const;
  void set_state(const uint8_t* data, size_t nbytes);  // ValueError unless nbytes == kStateSize

  // What an op draws from: the key and the first of the blocks it reserved.
  struct Draw {
    uint64_t seed, base;
  };
  Draw reserve(uint64_t nblocks);

 private:
  mutable std::mutex mu_;
  Device device_;
  uint64_t seed_, offset_ = 0;
};

using GeneratorPtr = std::shared_ptr<PhiloxGenerator>;

// The process-wide generator of a device, made on first use (seeded with the last manual_seed_all seed).
const GeneratorPtr& default_generator(Device device);
// Seeds every device's default generator, including those not made yet (torch.manual_seed).
void manual_seed_all(uint64_t seed);

// The generator random ops on `device` draw from in this thread: the one installed with
// exchange_thread_generator for that device, else the device's default.
PhiloxGenerator& current_generator(Device device);
// Installs `g` (null: none) for this thread's ops on g's device; returns what was installed before.
// Python's `vt.random.use_generator(g)` is built on it, so a Generator object can drive the ops.
GeneratorPtr exchange_thread_generator(GeneratorPtr g);

}  // namespace vt
