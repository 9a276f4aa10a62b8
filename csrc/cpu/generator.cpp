#include "cpu/generator.h"

#include <chrono>
#include <map>
#include <random>
#include <utility>

#include "core/error.h"

namespace vt {

void PhiloxGenerator::manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> g(mu_);
  seed_ = seed;
  offset_ = 0;
}

uint64_t PhiloxGenerator::seed() {
  // random_device may be deterministic on some platforms; mixing in the clock keeps seeds distinct anyway.
  std::random_device rd;
  uint64_t s = (uint64_t(rd()) << 32) ^ rd() ^
               uint64_t(std::chrono::high_resolution_clock::now().time_since_epoch().count()) * 0x9E3779B97F4A7C15ull;
  manual_seed(s);
  return s;
}

uint64_t PhiloxGenerator::initial_seed() const {
  std::lock_guard<std::mutex> g(mu_);
  return seed_;
}

uint64_t PhiloxGenerator::offset() const {
  std::lock_guard<std::mutex> g(mu_);
  return offset_;
}

PhiloxGenerator::State PhiloxGenerator::get_state() const {
  State s;
  std::lock_guard<std::mutex> g(mu_);
  for (int i = 0; i < 8; i++) {
    s[i] = uint8_t(seed_ >> (8 * i));
    s[8 + i] = uint8_t(offset_ >> (8 * i));
  }
  return s;
}

void PhiloxGenerator::set_state(const uint8_t* data, size_t nbytes) {
  VT_CHECK_VALUE(nbytes == kStateSize, "set_state: expected a generator state of ", kStateSize,
                 " bytes (seed and offset, little-endian uint64 each) but got ", nbytes, " bytes");
  uint64_t seed = 0, offset = 0;
  for (int i = 0; i < 8; i++) {
    seed |= uint64_t(data[i]) << (8 * i);
    offset |= uint64_t(data[8 + i]) << (8 * i);
  }
  std::lock_guard<std::mutex> g(mu_);
  seed_ = seed;
  offset_ = offset;
}

PhiloxGenerator::Draw PhiloxGenerator::reserve(uint64_t nblocks) {
  std::lock_guard<std::mutex> g(mu_);
  Draw d{seed_, offset_};
  offset_ += nblocks;  // wraps after 2^64 blocks (2^70 bytes): never in practice
  return d;
}

namespace {

// CPU's generator is touched by every random op, so it has its own static (no map lookup, no lock);
// other devices' defaults live in a map made on first use.
std::mutex g_defaults_mu;
uint64_t g_default_seed = PhiloxGenerator::kDefaultSeed;

const GeneratorPtr& cpu_default() {
  static const GeneratorPtr g = std::make_shared<PhiloxGenerator>(Device());
  return g;
}
std::map<std::pair<int, int>, GeneratorPtr>& device_defaults() {
  static auto* m = new std::map<std::pair<int, int>, GeneratorPtr>();  // leaked: used until exit
  return *m;
}

// One slot per thread: the generator a `use_generator` block installed, if any.
thread_local GeneratorPtr tls_generator;

}  // namespace

const GeneratorPtr& default_generator(Device device) {
  if (device.is_cpu()) return cpu_default();
  std::lock_guard<std::mutex> g(g_defaults_mu);
  GeneratorPtr& slot = device_defaults()[{int(device.type), int(device.index)}];
  if (!slot) slot = std::make_shared<PhiloxGenerator>(device, g_default_seed);
  return slot;
}

void manual_seed_all(uint64_t seed) {
  cpu_default()->manual_seed(seed);
  std::lock_guard<std::mutex> g(g_defaults_mu);
  g_default_seed = seed;
  for (auto& [key, gen] : device_defaults()) gen->manual_seed(seed);
}

PhiloxGenerator& current_generator(Device device) {
  if (tls_generator && tls_generator->device() == device) return *tls_generator;
  return *default_generator(device);
}

GeneratorPtr exchange_thread_generator(GeneratorPtr g) { return std::exchange(tls_generator, std::move(g)); }

}  // namespace vt
