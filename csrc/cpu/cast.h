// Value conversion between the ten dtypes, as PyTorch does it (bool is "!= 0"; half types via float).
#pragma once
#include "core/dtype.h"

namespace vt {

template <class To, class From>
inline To cast_to(From v) {
  using M = opmath_t<From>;
  if constexpr (std::is_same_v<To, From>) return v;
  else if constexpr (std::is_same_v<To, bool>) return M(v) != M(0);
  else if constexpr (is_reduced_float<To>::value) return To(float(M(v)));
  else return To(M(v));
}

}  // namespace vt
