// What arange and linspace make, decided once for every device: the element count, the dtype and the
// arithmetic of element i (CPU factories evaluate it on the host, CUDA ones on the device).
#pragma once
#include <cmath>
#include <optional>

#include "core/scalar.h"
#include "core/tensor.h"

namespace vt {

struct ArangePlan {
  int64_t n = 0;
  DType dtype = kDefaultFloat;
  bool all_int = false;  // element i is a + i * c in int64, else s + i * st in float64
  int64_t a = 0, c = 1;
  double s = 0, st = 1;
};

inline ArangePlan plan_arange(Scalar start, Scalar end, Scalar step, std::optional<DType> dtype) {
  ArangePlan p;
  p.all_int = !start.is_float() && !end.is_float() && !step.is_float();
  p.dtype = dtype.value_or(p.all_int ? DType::Int64 : kDefaultFloat);
  p.s = start.to_double(), p.st = step.to_double();
  double e = end.to_double();
  VT_CHECK_VALUE(p.st != 0, "arange: step must be nonzero");
  VT_CHECK_VALUE(std::isfinite(p.s) && std::isfinite(e), "arange: unsupported range: ", p.s, " -> ", e);
  VT_CHECK_VALUE((p.st > 0 && e >= p.s) || (p.st < 0 && e <= p.s),
                 "arange: upper bound and larger bound inconsistent with step sign");
  if (p.all_int) {
    int64_t b = end.to_int();
    p.a = start.to_int(), p.c = step.to_int();
    p.n = p.c > 0 ? (b - p.a + p.c - 1) / p.c : (p.a - b - p.c - 1) / (-p.c);
  } else {
    p.n = int64_t(std::ceil((e - p.s) / p.st));
  }
  return p;
}

// linspace: element i is a + step * i below half, b - step * (steps - 1 - i) from half on (symmetric from both
// ends, as PyTorch does, so the last value is exactly `end`).
struct LinspacePlan {
  int64_t steps = 0, half = 0;
  double a = 0, b = 0, step = 0;
};

inline LinspacePlan plan_linspace(Scalar start, Scalar end, int64_t steps) {
  VT_CHECK_VALUE(steps >= 0, "linspace: number of steps must be non-negative");
  LinspacePlan p;
  p.steps = steps, p.half = steps / 2;
  p.a = start.to_double(), p.b = end.to_double();
  p.step = steps > 1 ? (p.b - p.a) / double(steps - 1) : 0.0;
  return p;
}

}  // namespace vt
