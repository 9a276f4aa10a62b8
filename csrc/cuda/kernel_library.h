// Compiled GPU kernels (cubins from Triton or CuTe DSL), loaded per device and launched from C++.
//
// Kernels are registered under a key naming the specialisation ("unary/exp/float32/contig"). A CUDA op looks
// its kernel up and launches it with cuLaunchKernel: no Python on the hot path. The first time a key is
// missing, the compile hook (set by vibetensor.kernels, in Python) compiles and registers it, once.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/int_divider.h"
#include "core/tensor.h"
#include "cuda/stream.h"

namespace vt::cuda {

struct KernelArg {  // one launch argument, held by value
  enum class Kind : uint8_t { Ptr, I32, I64, F32, F64 } kind;
  union { uint64_t u; int32_t i32; int64_t i64; float f32; double f64; };
  static KernelArg ptr(const void* p) { KernelArg a{Kind::Ptr}; a.u = uint64_t(uintptr_t(p)); return a; }
  static KernelArg i32v(int32_t v) { KernelArg a{Kind::I32}; a.i32 = v; return a; }
  static KernelArg i64v(int64_t v) { KernelArg a{Kind::I64}; a.i64 = v; return a; }
  static KernelArg f32v(float v) { KernelArg a{Kind::F32}; a.f32 = v; return a; }
  static KernelArg f64v(double v) { KernelArg a{Kind::F64}; a.f64 = v; return a; }
};

struct KernelSpec {
  std::string key, name;       // registry key; the cubin's entry point
  std::string cubin;           // the compiled image
  int num_warps = 4;
  int shared_bytes = 0;        // dynamic shared memory per block
  int trailing_null_ptrs = 0;  // scratch pointers newer Triton appends to every kernel (passed as null)
};

class Kernel {
 public:
  explicit Kernel(KernelSpec spec) : spec_(std::move(spec)) {}
  const KernelSpec& spec() const { return spec_; }
  // grid in blocks; args as declared by the kernel (the trailing scratch pointers are added here, to this copy:
  // a caller with a vector of its own to spare moves it in).
  void launch(uint32_t gx, uint32_t gy, uint32_t gz, std::vector<KernelArg> args, const Stream& s) const;
  // Loads the kernel onto `device` now. Under the driver's lazy loading the first launch would load it, and
  // loading may wait for the context's running kernels: kernels that wait on each other across streams (the
  // fabric's flags) must be loaded before any of them is in flight.
  void load(int device) const { function(device); }

 private:
  static constexpr int kMaxDevices = 64;
  CUfunction function(int device) const;
  KernelSpec spec_;
  mutable std::array<std::atomic<CUfunction>, kMaxDevices> functions_{};  // per device, loaded on first use
  mutable std::array<CUmodule, kMaxDevices> modules_{};
};

// The suffix of a key whose launch guarantees that the arguments its generator lists (aligned_args in
// kernels/triton/<family>.py) are multiples of 16: pointers 16-byte aligned, element counts multiples of 16.
// Same kernel source, compiled knowing that (kernels/compile.py, ALIGNED): Triton then moves 16 bytes per
// access instead of one element (bf16 elementwise ops ran 0.8-0.9x of torch without it on an H200).
inline constexpr const char* kAlignedSuffix = "@a16";
// Whether every value (addresses as uintptr_t, counts) is a multiple of 16.
inline bool multiples_of_16(std::initializer_list<uint64_t> values) {
  for (uint64_t v : values)
    if (v % 16) return false;
  return true;
}
inline uint64_t address(const void* p) { return uint64_t(uintptr_t(p)); }
// The row kernels' condition (norm, bias-activation, cross-entropy): the row length n and the data address of
// every defined tensor multiples of 16.
inline bool aligned_rows(int64_t n, std::initializer_list<const Tensor*> tensors) {
  if (!multiples_of_16({uint64_t(n)})) return false;
  for (const Tensor* t : tensors)
    if (t->defined() && !multiples_of_16({address(t->data())})) return false;
  return true;
}

// Kernels that split positions into coordinates take a 32-bit form while every position of the launch,
// masked lanes of the last block included, is below 2^31 (elementwise layout f, the index kernels' "f"):
// each size they divide by then travels as IntDivider's (size, magic, shift), uint32; else as int64.
inline bool fast_positions(int64_t total, int64_t block) { return total <= (int64_t(1) << 31) - block; }
inline void push_size(std::vector<KernelArg>& args, int64_t size, bool fast) {
  if (!fast) {
    args.push_back(KernelArg::i64v(size));
    return;
  }
  const IntDivider div{uint32_t(size)};
  for (uint32_t v : {div.divisor, div.magic, div.shift}) args.push_back(KernelArg::i32v(int32_t(v)));
}

// Looks a kernel up by key, compiling it through the hook the first time. Throws if it cannot be had.
const Kernel& kernel(const std::string& key);
const Kernel* find_kernel(const std::string& key);
void register_kernel(KernelSpec spec);
using CompileHook = void (*)(const std::string& key);  // must call register_kernel(key ...) or throw
void set_compile_hook(CompileHook hook);
std::vector<std::string> kernel_keys();

}  // namespace vt::cuda
