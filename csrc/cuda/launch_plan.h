// Launches prepared once and issued many times, alone or as a plan of stream work over several GPUs.
//
// The fabric's collectives repeat the same kernels with the same arguments but for the tensors' addresses, call
// after call. A PreparedLaunch keeps a kernel's grid and converted arguments; a LaunchPlan keeps a whole
// collective of one process driving several GPUs (the fabric's LocalGroup): event records, stream waits and
// prepared launches on each GPU's streams, issued in one call from the tensors' addresses. From Python the same
// sequence cost 60-160 us of host time a call on 4 GPUs (a driver call per step, each behind a Python wrapper and
// a device switch), where NCCL's one-process API issued in 30-50.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/tensor.h"
#include "cuda/kernel_library.h"
#include "cuda/stream.h"

namespace vt::cuda {

// A registered kernel's launch with its grid and arguments fixed but for base addresses each call adds to its
// leading pointer arguments (given as offsets). The kernel outlives it: registered kernels live for the process.
struct PreparedLaunch {
  const Kernel* kernel;
  uint32_t gx, gy, gz;
  std::vector<KernelArg> args;
  int leading_ptrs;  // how many arguments from the first are pointers: the ones a base may be added to
  static constexpr int kMaxBases = 16;  // per call (the one-launch kernels take 8 ranks' pointers)
  // bases[i] added to args[i], for i < n (n <= leading_ptrs)
  void launch(const uint64_t* bases, size_t n, const Stream& s) const;
};

// Checks the arguments (at least `min_ptrs` leading pointers) and looks the kernel up: throws ValueError, or the
// registry's error for an unknown key.
PreparedLaunch prepare_launch(const std::string& key, uint32_t gx, uint32_t gy, uint32_t gz,
                              std::vector<KernelArg> args, int min_ptrs);

// A fixed sequence of stream work over one or more GPUs, issued by run() from a list of tensors like the ones it
// was planned for. Streams are fixed ones or "the calling thread's current stream of GPU i", resolved at each
// run (the caller may switch streams between calls); events are the plan's own, recorded again on each run (a
// wait issued earlier keeps the record it saw: a later record cannot reach it).
class LaunchPlan {
 public:
  struct TensorSpec {  // what run()'s tensor at this position must be
    int device;
    DType dtype;
    DimVec sizes;
  };
  explicit LaunchPlan(std::vector<TensorSpec> tensors) : tensors_(std::move(tensors)) {}
  LaunchPlan(const LaunchPlan&) = delete;  // owns its events
  LaunchPlan& operator=(const LaunchPlan&) = delete;
  int add_stream(std::optional<Stream> fixed, int device);  // fixed, or (nullopt) the current one of `device`
  int add_event();
  void record(int event, int stream);
  void wait(int stream, int event);
  // bases[i]: which run() tensor's address is added to the launch's argument i (-1: none)
  void launch(int stream, std::shared_ptr<const PreparedLaunch> launch, std::vector<int> bases);
  // Whether `tensors` match the plan's specs: on the spec's GPU, of its dtype and sizes, contiguous and 16-byte
  // aligned (the kernels chose their vector width by that). When they do, fills `addrs` with their addresses.
  bool bind(const std::vector<const Tensor*>& tensors, std::vector<uint64_t>& addrs) const;
  // Issues every step with bind()'s addresses; leaves the driver's current context as it found it.
  void run(const std::vector<uint64_t>& addrs) const;
  size_t num_steps() const { return steps_.size(); }

 private:
  struct StreamRef {
    std::optional<Stream> fixed;
    int device;
  };
  struct Step {
    enum class Kind : uint8_t { Record, Wait, Launch } kind;
    int stream, event;
    std::shared_ptr<const PreparedLaunch> launch;
    std::vector<int> bases;
  };
  void check_stream(int stream) const;
  void check_event(int event) const;
  std::vector<TensorSpec> tensors_;
  std::vector<StreamRef> streams_;
  std::vector<std::unique_ptr<Event>> events_;
  std::vector<int> event_device_;  // the GPU of the stream each event is recorded on (-1: not yet)
  std::vector<Step> steps_;
};

}  // namespace vt::cuda
