// The NaN-propagating extreme (max / min) as a reduction: shared by the value reductions (max, amax ...)
// and the index ones (argmax, max.dim), which find the position after a vector max.
#pragma once
#include <limits>

#include "cpu/reduce.h"

namespace vt::reduce {

template <class T> constexpr T lowest_value() {
  if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}
template <class T> constexpr T highest_value() {
  if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::max();
}

// x strictly beats a (a NaN beats every number; a later NaN does not beat an earlier one).
template <bool IsMax, class T> inline bool beats(T x, T a) {
  if constexpr (IsMax) return x > a || (math::isnan(x) && !math::isnan(a));
  else return x < a || (math::isnan(x) && !math::isnan(a));
}

// NaN is larger and smaller than everything.
template <class in_t, bool IsMax>
struct ExtremeOps {
  using acc_t = opmath_t<in_t>;
  static constexpr PickExtreme<IsMax> pick{};
  acc_t identity() const { return IsMax ? lowest_value<acc_t>() : highest_value<acc_t>(); }
  acc_t run(acc_t a, const char* p, int64_t s, int64_t n, int64_t) const {
    return fold_run<in_t>(a, identity(), p, s, n, pick);
  }
  void lanes(acc_t* buf, const char* p, int64_t s, int64_t n, int64_t) const { fold_lanes<in_t>(buf, p, s, n, pick); }
  acc_t combine(acc_t a, acc_t b) const { return pick(a, b); }
  void store(char* const* out, acc_t a) const { *reinterpret_cast<in_t*>(out[0]) = in_t(a); }
};

}  // namespace vt::reduce
