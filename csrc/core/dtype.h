// The ten dtypes, their C++ types, PyTorch's promotion rules and the dispatch macros kernels use.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string_view>

#include "core/error.h"

namespace vt {

enum class DType : uint8_t { Bool, UInt8, Int8, Int16, Int32, Int64, Float16, BFloat16, Float32, Float64 };
constexpr int kNumDTypes = 10;

// IEEE half and bfloat16 are storage types: kernels convert them to float to compute ("opmath").
struct Half {
  uint16_t x;
  Half() = default;
  Half(float f);
  operator float() const;
};
struct BFloat16 {
  uint16_t x;
  BFloat16() = default;
  BFloat16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if (std::isnan(f)) { x = 0x7fc0; return; }
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
    x = uint16_t(u >> 16);
  }
  operator float() const {
    uint32_t u = uint32_t(x) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

inline Half::operator float() const {
  uint32_t sign = uint32_t(x & 0x8000) << 16, exp = (x >> 10) & 0x1f, man = x & 0x3ff, u;
  if (exp == 0x1f) u = sign | 0x7f800000u | (man << 13);            // inf / nan
  else if (exp != 0) u = sign | ((exp + 112) << 23) | (man << 13);   // normal
  else if (man == 0) u = sign;                                       // zero
  else {                                                             // subnormal: normalise
    int e = -1;
    do { e++; man <<= 1; } while (!(man & 0x400));
    u = sign | uint32_t(112 - e) << 23 | ((man & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline Half::Half(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000, a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) { x = uint16_t(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0)); return; }
  if (a >= 0x477ff000u) { x = uint16_t(sign | 0x7c00); return; }  // overflow -> inf
  if (a < 0x38800000u) {                                             // subnormal or zero
    float v;
    std::memcpy(&v, &a, 4);
    x = uint16_t(sign | uint32_t(std::nearbyint(v * 16777216.0f)));  // v / 2^-24, ties to even
    return;
  }
  uint32_t r = a + 0xc8000fffu + ((a >> 13) & 1u);  // rebias exponent and round to nearest even
  x = uint16_t(sign | (r >> 13));
}

template <class T> struct is_reduced_float : std::false_type {};
template <> struct is_reduced_float<Half> : std::true_type {};
template <> struct is_reduced_float<BFloat16> : std::true_type {};
// The type arithmetic happens in: float for half types, the type itself otherwise.
template <class T> using opmath_t = std::conditional_t<is_reduced_float<T>::value, float, T>;
// The dtype the fused ops keep per-row statistics in (a norm's mean and rstd, a log-sum-exp): float64 for
// float64 inputs, float32 for the others.
inline DType stats_dtype(DType d) { return d == DType::Float64 ? DType::Float64 : DType::Float32; }

template <class T> struct dtype_of;
#define VT_FORALL_DTYPES(_) \
  _(bool, Bool) _(uint8_t, UInt8) _(int8_t, Int8) _(int16_t, Int16) _(int32_t, Int32) _(int64_t, Int64) \
  _(Half, Float16) _(BFloat16, BFloat16) _(float, Float32) _(double, Float64)
#define VT_DTYPE_OF(T, D) template <> struct dtype_of<T> { static constexpr DType value = DType::D; };
VT_FORALL_DTYPES(VT_DTYPE_OF)
#undef VT_DTYPE_OF

inline size_t itemsize(DType t) {
  static constexpr uint8_t sizes[] = {1, 1, 1, 2, 4, 8, 2, 2, 4, 8};
  return sizes[int(t)];
}
// Named in error messages, also those about a DType outside the enum (a corrupt value from a cast): such a
// value gets "invalid" rather than a read past the table.
inline const char* dtype_name(DType t) {
  static constexpr const char* names[] = {"bool",    "uint8",   "int8",     "int16",   "int32",
                                          "int64",   "float16", "bfloat16", "float32", "float64"};
  return unsigned(t) < std::size(names) ? names[int(t)] : "invalid";
}
bool parse_dtype(std::string_view name, DType& out);  // accepts torch aliases ("float", "long", "half")
inline bool is_floating(DType t) { return t >= DType::Float16; }
inline bool is_integral(DType t, bool include_bool) {
  return (t >= DType::UInt8 && t <= DType::Int64) || (include_bool && t == DType::Bool);
}
inline bool is_signed(DType t) { return t != DType::Bool && t != DType::UInt8; }

DType promote_types(DType a, DType b);  // PyTorch's table
constexpr DType kDefaultFloat = DType::Float32;

}  // namespace vt

// Kernel dtype switches. Usage: VT_DISPATCH_FLOATING(dtype, "exp", [&] { use scalar_t; });
#define VT_DTYPE_CASE(T, D, ...) \
  case ::vt::DType::D: {         \
    using scalar_t = T;          \
    return __VA_ARGS__();        \
  }
#define VT_DTYPE_FAIL(dt, op) \
  default:                    \
    VT_THROW(TypeError, op, ": unsupported dtype ", ::vt::dtype_name(dt));
#define VT_CASES_FLOAT(...)                                                           \
  VT_DTYPE_CASE(float, Float32, __VA_ARGS__) VT_DTYPE_CASE(double, Float64, __VA_ARGS__) \
  VT_DTYPE_CASE(::vt::Half, Float16, __VA_ARGS__) VT_DTYPE_CASE(::vt::BFloat16, BFloat16, __VA_ARGS__)
#define VT_CASES_INT(...)                                                                    \
  VT_DTYPE_CASE(uint8_t, UInt8, __VA_ARGS__) VT_DTYPE_CASE(int8_t, Int8, __VA_ARGS__)        \
  VT_DTYPE_CASE(int16_t, Int16, __VA_ARGS__) VT_DTYPE_CASE(int32_t, Int32, __VA_ARGS__)      \
  VT_DTYPE_CASE(int64_t, Int64, __VA_ARGS__)
#define VT_DISPATCH_FLOATING(dt, op, ...) \
  [&] { switch (dt) { VT_CASES_FLOAT(__VA_ARGS__) VT_DTYPE_FAIL(dt, op) } }()
#define VT_DISPATCH_INTEGRAL(dt, op, ...) \
  [&] { switch (dt) { VT_CASES_INT(__VA_ARGS__) VT_DTYPE_FAIL(dt, op) } }()
#define VT_DISPATCH_INTEGRAL_AND_BOOL(dt, op, ...) \
  [&] { switch (dt) { VT_CASES_INT(__VA_ARGS__) VT_DTYPE_CASE(bool, Bool, __VA_ARGS__) VT_DTYPE_FAIL(dt, op) } }()
#define VT_DISPATCH_NUMERIC(dt, op, ...) \
  [&] { switch (dt) { VT_CASES_FLOAT(__VA_ARGS__) VT_CASES_INT(__VA_ARGS__) VT_DTYPE_FAIL(dt, op) } }()
#define VT_DISPATCH_ALL(dt, op, ...)                                                           \
  [&] {                                                                                        \
    switch (dt) {                                                                              \
      VT_CASES_FLOAT(__VA_ARGS__) VT_CASES_INT(__VA_ARGS__) VT_DTYPE_CASE(bool, Bool, __VA_ARGS__) \
      VT_DTYPE_FAIL(dt, op)                                                                    \
    }                                                                                          \
  }()
