// Autocast: an op with a cast policy for the device it runs on, called while autocast is on for that
// device, resolves to autocast_kernel() before autograd or any device kernel (resolve_kernel). The kernel
// casts the inputs and calls the op again with autocast off for the thread, so whatever the op does inside
// (a composite's ops, autograd's redispatch) keeps the dtypes chosen here, as PyTorch's autocast kernels
// exclude their own key. The casts are ordinary _to_copy calls, so autograd records them and gradients
// arrive in each input's own dtype.
#include "dispatch/autocast.h"

namespace vt {

namespace {

std::atomic<AutocastCacheHook> g_cache_hook{nullptr};

bool eligible(const Tensor& t, int device_type) {
  return t.defined() && !t.is_wrapped_number() && int(t.device().type) == device_type &&
         is_floating(t.dtype()) && t.dtype() != DType::Float64;
}

Tensor cast(const Tensor& t, DType to, int device_type) {
  const LocalDispatchState& s = local_dispatch_state();
  // PyTorch's heuristic: a float32 leaf that requires grad (a weight) is cast to the region's dtype once
  // per region. Leaves are known only to Python (autograd's graph lives there), so the hook decides.
  if (s.autocast_cache && t.requires_grad() && t.dtype() == DType::Float32 && to == s.autocast_dtype[device_type])
    if (AutocastCacheHook hook = g_cache_hook.load(std::memory_order_acquire)) return hook(t, to);
  static TypedOp<Tensor(const Tensor&, std::optional<DType>, std::optional<Device>, bool)> to_copy("_to_copy");
  return to_copy(t, to, std::nullopt, false);
}

void autocast_boxed(const OpEntry& op, Stack& stack, const KernelFunction&) {
  KeyScan scan;
  for (const IValue& v : stack) scan.add(v);
  int device_type = int(scan.device_key());
  CastPolicy policy = op.autocast_policy(device_type);
  AutocastExcludeGuard off;
  if (policy == CastPolicy::Fp32SetOptDtype) {
    // A float32 result (the op accumulates in it) unless the caller chose a dtype; float64 and integer
    // inputs keep the op's own promotion, as PyTorch leaves them.
    int i = op.schema().find_arg("dtype");
    auto* first = std::get_if<Tensor>(&stack[0]);
    if (first && eligible(*first, device_type) && std::holds_alternative<None>(stack[i])) stack[i] = DType::Float32;
  } else {
    std::vector<Tensor*> ts;
    for (IValue& v : stack) {
      if (auto* t = std::get_if<Tensor>(&v)) ts.push_back(t);
      else if (auto* l = std::get_if<TensorList>(&v))
        for (Tensor& t : *l) ts.push_back(&t);
    }
    autocast_tensors(policy, device_type, ts);
  }
  call_boxed(op, stack);
}

}  // namespace

void autocast_tensors(CastPolicy policy, int device_type, const std::vector<Tensor*>& ts) {
  DType to = DType::Float32;
  switch (policy) {
    case CastPolicy::LowerPrecisionFp: to = local_dispatch_state().autocast_dtype[device_type]; break;
    case CastPolicy::Fp32: to = DType::Float32; break;
    case CastPolicy::Promote: {
      bool any = false;
      for (const Tensor* t : ts)
        if (eligible(*t, device_type)) {
          to = any ? promote_types(to, t->dtype()) : t->dtype();
          any = true;
        }
      if (!any) return;
      break;
    }
    default: return;
  }
  for (Tensor* t : ts)
    if (eligible(*t, device_type) && t->dtype() != to) *t = cast(*t, to, device_type);
}

void set_autocast_cache_hook(AutocastCacheHook hook) { g_cache_hook.store(hook, std::memory_order_release); }

const KernelFunction& autocast_kernel() {
  static const KernelFunction k = [] {
    KernelFunction f;
    f.boxed = &autocast_boxed;
    f.redispatches = true;
    return f;
  }();
  return k;
}

}  // namespace vt
