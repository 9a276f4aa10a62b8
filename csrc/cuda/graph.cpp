#include "cuda/graph.h"

#include <atomic>

#include "cuda/allocator.h"
#include "cuda/generator.h"

namespace vt::cuda {

namespace {
constexpr int kMaxDevices = 64;
std::atomic<int> g_captures[kMaxDevices];  // live captures per device
std::atomic<uint64_t> g_next_pool{1};
}  // namespace

PoolId new_pool_id() { return g_next_pool.fetch_add(1); }

bool capturing(int device) {
  if (device < 0) device = current_device();
  return device < kMaxDevices && g_captures[device].load(std::memory_order_relaxed) > 0;
}

void check_not_capturing(const char* what, int device) {
  if (!is_available()) return;
  if (device < 0) device = current_device();
  VT_CHECK(!capturing(device), what, " is not allowed while a CUDA graph is being captured on cuda:", device,
           ": it would synchronize with the capturing stream. Move it out of the captured region (for example, "
           "read losses after replay()).");
}

Graph::~Graph() {
  try {
    if (capturing_) capture_abort();
    reset();
  } catch (...) {  // destructors must not throw; a failing driver at exit has nothing left to free
  }
}

void Graph::capture_begin(const Stream& s, PoolId pool, int mode) {
  VT_CHECK(!capturing_, "CUDAGraph.capture_begin: this graph is already capturing");
  VT_CHECK(!exec_, "CUDAGraph.capture_begin: this graph already holds a capture; call reset() first");
  VT_CHECK(s.handle != nullptr, "CUDAGraph.capture_begin: cannot capture the default stream; capture on a side "
           "stream (vt.cuda.graph does this for you)");
  require_driver();
  device_ = s.device;
  stream_ = s;
  if (!rng_slot_.ptr) rng_slot_ = cuda_allocator(device_).allocate(2 * sizeof(int64_t));  // ordinary memory
  pool_ = pool ? pool : new_pool_id();
  retain_pool(device_, pool_);
  begin_pool_allocation(device_, s.handle, pool_);
  rng_capture_begin(device_, static_cast<int64_t*>(rng_slot_.ptr));
  g_captures[device_]++;
  capturing_ = true;
  DeviceGuard guard(device_);
  CUresult r = require_driver().cuStreamBeginCapture(s.handle, mode);
  if (r != CUDA_SUCCESS) {
    finish_capture(false);
    throw_cuda_error(r, "cuStreamBeginCapture");
  }
}

void Graph::finish_capture(bool keep) {
  capturing_ = false;
  g_captures[device_]--;
  end_pool_allocation(device_, stream_.handle);
  rng_blocks_ = rng_capture_end(device_);
  if (!keep) {
    release_pool(device_, pool_);
    pool_ = 0;
  }
}

void Graph::capture_end() {
  VT_CHECK(capturing_, "CUDAGraph.capture_end: capture_begin was not called");
  DeviceGuard guard(device_);
  CUgraph g = nullptr;
  CUresult r = require_driver().cuStreamEndCapture(stream_.handle, &g);
  if (r != CUDA_SUCCESS) {
    if (g) driver().cuGraphDestroy(g);
    finish_capture(false);
    throw_cuda_error(r, "cuStreamEndCapture (the capture was invalidated: an operation in the captured region is "
                        "not allowed during capture)");
  }
  graph_ = g;
  r = require_driver().cuGraphInstantiateWithFlags(&exec_, graph_, 0);
  if (r != CUDA_SUCCESS) {
    driver().cuGraphDestroy(graph_);
    graph_ = nullptr;
    exec_ = nullptr;
    finish_capture(false);
    throw_cuda_error(r, "cuGraphInstantiateWithFlags");
  }
  size_t n = 0;
  if (require_driver().cuGraphGetNodes(graph_, nullptr, &n) == CUDA_SUCCESS) num_nodes_ = n;
  finish_capture(true);
}

void Graph::capture_abort() {
  if (!capturing_) return;
  DeviceGuard guard(device_);
  CUgraph g = nullptr;
  driver().cuStreamEndCapture(stream_.handle, &g);  // ends even an invalidated capture
  if (g) driver().cuGraphDestroy(g);
  finish_capture(false);
}

void Graph::replay() {
  VT_CHECK(exec_, "CUDAGraph.replay: nothing was captured (call capture_begin/capture_end first)");
  Stream s = current_stream(device_);
  if (rng_blocks_) rng_replay_prepare(device_, static_cast<int64_t*>(rng_slot_.ptr), rng_blocks_, s);
  activate(device_);
  VT_CU(cuGraphLaunch(exec_, s.handle));
}

void Graph::reset() {
  VT_CHECK(!capturing_, "CUDAGraph.reset: the graph is still capturing");
  if (exec_) driver().cuGraphExecDestroy(exec_);
  if (graph_) driver().cuGraphDestroy(graph_);
  exec_ = nullptr;
  graph_ = nullptr;
  num_nodes_ = 0;
  if (pool_) release_pool(device_, pool_);
  pool_ = 0;
}

}  // namespace vt::cuda
