// Autocast (vt.autocast, mixed precision) in the dispatcher: the casts an op's cast policy asks for.
#pragma once
#include <vector>

#include "dispatch/dispatcher.h"

namespace vt {

// Casts the tensors `ts` point at as `policy` says for an op running on `device_type`. Only floating
// tensors of that device type take part; float64 tensors and wrapped Python numbers never do (PyTorch's
// eligibility rule). Fp32SetOptDtype touches no tensor (see autocast.cpp).
void autocast_tensors(CastPolicy policy, int device_type, const std::vector<Tensor*>& ts);

// Casts of float32 tensors that require grad to the region's dtype go through this hook when the cache is
// on: Python's (vibetensor/amp/autocast_mode.py), which can tell a leaf from an activation and caches
// a leaf's cast for the rest of the region. Without a hook every cast is a plain _to_copy.
using AutocastCacheHook = Tensor (*)(const Tensor&, DType);
void set_autocast_cache_hook(AutocastCacheHook hook);

}  // namespace vt
