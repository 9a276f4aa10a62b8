#include "cuda/launch_plan.h"

#include <algorithm>

namespace vt::cuda {

void PreparedLaunch::launch(const uint64_t* bases, size_t n, const Stream& s) const {
  VT_CHECK_VALUE(n <= size_t(leading_ptrs), "PreparedLaunch: ", n, " bases for ", leading_ptrs, " leading pointers");
  std::vector<KernelArg> a = args;
  for (size_t i = 0; i < n; i++) a[i].u += bases[i];
  kernel->launch(gx, gy, gz, std::move(a), s);
}

PreparedLaunch prepare_launch(const std::string& key, uint32_t gx, uint32_t gy, uint32_t gz,
                              std::vector<KernelArg> args, int min_ptrs) {
  int ptrs = 0;
  while (ptrs < int(args.size()) && args[size_t(ptrs)].kind == KernelArg::Kind::Ptr) ptrs++;
  VT_CHECK_VALUE(ptrs >= min_ptrs, "prepare_launch: the first ", min_ptrs, " arguments must be pointers (the "
                 "offsets each call adds to), got ", ptrs);
  return PreparedLaunch{&kernel(key), gx, gy, gz, std::move(args), ptrs};
}

int LaunchPlan::add_stream(std::optional<Stream> fixed, int device) {
  VT_CHECK_VALUE(device >= 0, "LaunchPlan: a GPU index is >= 0, got ", device);
  VT_CHECK_VALUE(!fixed || fixed->device == device, "LaunchPlan: the stream is on cuda:", fixed ? fixed->device : 0,
                 ", not cuda:", device);
  streams_.push_back({fixed, device});
  return int(streams_.size()) - 1;
}

int LaunchPlan::add_event() {
  events_.push_back(std::make_unique<Event>());
  event_device_.push_back(-1);
  return int(events_.size()) - 1;
}

void LaunchPlan::check_stream(int stream) const {
  VT_CHECK_VALUE(stream >= 0 && size_t(stream) < streams_.size(), "LaunchPlan: no stream ", stream, " (",
                 streams_.size(), " added)");
}

void LaunchPlan::check_event(int event) const {
  VT_CHECK_VALUE(event >= 0 && size_t(event) < events_.size(), "LaunchPlan: no event ", event, " (",
                 events_.size(), " added)");
}

void LaunchPlan::record(int event, int stream) {
  check_event(event);
  check_stream(stream);
  int& dev = event_device_[size_t(event)];
  int on = streams_[size_t(stream)].device;
  // an event belongs to the GPU it was first recorded on (Event::record)
  VT_CHECK_VALUE(dev < 0 || dev == on, "LaunchPlan: event ", event, " is recorded on cuda:", dev,
                 " already, not cuda:", on);
  dev = on;
  steps_.push_back({Step::Kind::Record, stream, event, nullptr, {}});
}

void LaunchPlan::wait(int stream, int event) {
  check_event(event);
  check_stream(stream);
  // a wait on an event this plan never recorded before it would wait for nothing (or for a stale record)
  VT_CHECK_VALUE(event_device_[size_t(event)] >= 0, "LaunchPlan: event ", event, " is waited on before it is recorded");
  steps_.push_back({Step::Kind::Wait, stream, event, nullptr, {}});
}

void LaunchPlan::launch(int stream, std::shared_ptr<const PreparedLaunch> launch, std::vector<int> bases) {
  check_stream(stream);
  VT_CHECK_VALUE(launch != nullptr, "LaunchPlan: no launch given");
  constexpr int most = PreparedLaunch::kMaxBases;
  VT_CHECK_VALUE(int(bases.size()) <= std::min(launch->leading_ptrs, most), "LaunchPlan: ", bases.size(),
                 " bases for a launch with ", launch->leading_ptrs, " leading pointer arguments (", most, " at most)");
  for (int b : bases)
    VT_CHECK_VALUE(b >= -1 && b < int(tensors_.size()), "LaunchPlan: base ", b, " names no tensor (the plan has ",
                   tensors_.size(), ")");
  steps_.push_back({Step::Kind::Launch, stream, -1, std::move(launch), std::move(bases)});
}

bool LaunchPlan::bind(const std::vector<const Tensor*>& tensors, std::vector<uint64_t>& addrs) const {
  if (tensors.size() != tensors_.size()) return false;
  addrs.resize(tensors.size());
  for (size_t i = 0; i < tensors.size(); i++) {
    const Tensor& t = *tensors[i];
    const TensorSpec& want = tensors_[i];
    if (!t.defined() || !t.device().is_cuda() || t.device().index != want.device || t.dtype() != want.dtype ||
        !t.is_contiguous() || t.sizes().size() != want.sizes.size() ||
        !std::equal(want.sizes.begin(), want.sizes.end(), t.sizes().begin()))
      return false;
    addrs[i] = address(t.data());
    if (addrs[i] % 16) return false;
  }
  return true;
}

void LaunchPlan::run(const std::vector<uint64_t>& addrs) const {
  VT_CHECK_VALUE(addrs.size() == tensors_.size(), "LaunchPlan.run: ", addrs.size(), " addresses for ",
                 tensors_.size(), " tensors");
  CUcontext prev = nullptr;
  VT_CU(cuCtxGetCurrent(&prev));
  struct Restore {  // torch's runtime calls act on the current context: give it back as found, error or not
    CUcontext ctx;
    ~Restore() {
      CUcontext cur = nullptr;
      if (driver().cuCtxGetCurrent(&cur) == CUDA_SUCCESS && cur != ctx) driver().cuCtxSetCurrent(ctx);
    }
  } restore{prev};
  std::vector<Stream> streams;  // current streams resolved once a run, in this thread
  streams.reserve(streams_.size());
  for (const StreamRef& r : streams_) streams.push_back(r.fixed ? *r.fixed : current_stream(r.device));
  uint64_t bases[PreparedLaunch::kMaxBases];
  for (const Step& step : steps_) {
    const Stream& s = streams[size_t(step.stream)];
    switch (step.kind) {
      case Step::Kind::Record: events_[size_t(step.event)]->record(s); break;
      case Step::Kind::Wait: events_[size_t(step.event)]->wait(s); break;
      case Step::Kind::Launch: {
        size_t n = step.bases.size();
        for (size_t i = 0; i < n; i++) bases[i] = step.bases[i] < 0 ? 0 : addrs[size_t(step.bases[i])];
        step.launch->launch(bases, n, s);
        break;
      }
    }
  }
}

}  // namespace vt::cuda
