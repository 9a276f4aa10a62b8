// The CUDA device and current stream are per thread. A job captures the calling (main) thread's current
// stream when it is submitted and installs it on the pool thread that runs it, so work issued from JS
// lands on the stream JS chose with cuda.setCurrentStream, whichever thread launches it.
#pragma once
#include "cuda/stream.h"

namespace vt::node {

struct CudaContext {
  int device = -1;  // -1: the job touches no GPU
  cuda::Stream stream;
  static CudaContext capture(int device_index) {
    CudaContext c;
    c.device = cuda::resolve(device_index);
    c.stream = cuda::current_stream(c.device);
    return c;
  }
};

class CudaContextGuard {
 public:
  explicit CudaContextGuard(const CudaContext& c) : active_(c.device >= 0) {
    if (!active_) return;
    prev_device_ = cuda::current_device();
    cuda::set_device(c.device);
    prev_stream_ = cuda::current_stream(c.device);
    cuda::set_current_stream(c.stream);
  }
  ~CudaContextGuard() {
    if (!active_) return;
    try {  // restoring what was current a moment ago; a failure here has nobody to report to
      cuda::set_current_stream(prev_stream_);
      cuda::set_device(prev_device_);
    } catch (...) {
    }
  }
  CudaContextGuard(const CudaContextGuard&) = delete;
  CudaContextGuard& operator=(const CudaContextGuard&) = delete;

 private:
  bool active_;
  int prev_device_ = 0;
  cuda::Stream prev_stream_;
};

}  // namespace vt::node
