// Scalar math shared by CPU kernels: the functions libm lacks (erfinv, digamma, gelu ...) and versions of
// floor/abs/isnan that also accept the integer types.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace vt::math {

template <class T> inline T abs(T x) {
  if constexpr (std::is_unsigned_v<T>) return x;
  else return x < T(0) ? T(-x) : x;
}
template <class T> inline T sign(T x) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(x)) return x;
    return T((T(0) < x) - (x < T(0)));
  } else if constexpr (std::is_unsigned_v<T>) {
    return T(x > T(0));
  } else {
    return T((T(0) < x) - (x < T(0)));
  }
}
template <class T> inline T floor(T x) { if constexpr (std::is_floating_point_v<T>) return std::floor(x); else return x; }
template <class T> inline T ceil(T x) { if constexpr (std::is_floating_point_v<T>) return std::ceil(x); else return x; }
template <class T> inline T trunc(T x) { if constexpr (std::is_floating_point_v<T>) return std::trunc(x); else return x; }
template <class T> inline bool isnan(T x) { if constexpr (std::is_floating_point_v<T>) return std::isnan(x); else return false; }
template <class T> inline bool isinf(T x) { if constexpr (std::is_floating_point_v<T>) return std::isinf(x); else return false; }
template <class T> inline bool signbit(T x) {
  // Read the sign bit directly: GCC 12 crashes vectorising std::signbit on float (an ICE in extract_insn).
  if constexpr (std::is_same_v<T, float>) { uint32_t u; std::memcpy(&u, &x, 4); return u >> 31; }
  else if constexpr (std::is_same_v<T, double>) { uint64_t u; std::memcpy(&u, &x, 8); return u >> 63; }
  else if constexpr (std::is_signed_v<T>) return x < 0;
  else return false;
}

// log(1 + exp(beta x)) / beta, linear above the threshold (PyTorch's definition).
template <class T> inline T softplus(T x, T beta, T threshold) {
  return x * beta > threshold ? x : std::log1p(std::exp(x * beta)) / beta;
}


// Inverse error function: Giles' single-precision approximation refined by two Newton steps, which makes
// it accurate to double precision too.
template <class T> inline T erfinv(T y) {
  if (y <= T(-1)) return y == T(-1) ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::quiet_NaN();
  if (y >= T(1)) return y == T(1) ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::quiet_NaN();
  if (std::isnan(y)) return y;
  double yd = double(y), w = -std::log((1.0 - yd) * (1.0 + yd)), x;
  if (w < 5.0) {
    w -= 2.5;
    double p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w; p = -3.5233877e-06 + p * w; p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w; p = -0.00125372503 + p * w; p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w; p = 1.50140941 + p * w;
    x = p * yd;
  } else {
    w = std::sqrt(w) - 3.0;
    double p = -0.000200214257;
    p = 0.000100950558 + p * w; p = 0.00134934322 + p * w; p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w; p = -0.0076224613 + p * w; p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w; p = 2.83297682 + p * w;
    x = p * yd;
  }
  const double k = 1.1283791670955126;  // 2/sqrt(pi)
  for (int i = 0; i < 2; i++) x -= (std::erf(x) - yd) / (k * std::exp(-x * x));
  return T(x);
}

// Digamma: recurrence up to x >= 10, then the asymptotic series; reflection for negative x.
template <class T> inline T digamma(T xt) {
  double x = double(xt);
  if (x == 0) return std::copysign(std::numeric_limits<T>::infinity(), -xt);
  if (x < 0) {
    if (x == std::floor(x)) return std::numeric_limits<T>::quiet_NaN();
    const double pi = 3.14159265358979323846;
    return T(digamma(1.0 - x) - pi / std::tan(pi * x));
  }
  double r = 0;
  while (x < 10) { r -= 1 / x; x += 1; }  // the series below is then accurate to ~1e-16
  double f = 1 / (x * x);
  double t = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 + f * (-1.0 / 132)))));
  return T(r + std::log(x) - 0.5 / x + t);
}

}  // namespace vt::math
