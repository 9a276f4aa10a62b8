#include "cpu/capability.h"

#include <cctype>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace vt::cpu {
namespace {

Capability hardware() {
#if defined(__GNUC__) && defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return Capability::AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Capability::AVX2;
#endif
  return Capability::SSE2;
}

Capability detect() {
  Capability hw = hardware();
  const char* s = std::getenv("VIBETENSOR_CPU_CAPABILITY");
  if (!s || !*s) return hw;
  std::string v;
  for (const char* p = s; *p; p++) v += char(std::tolower(static_cast<unsigned char>(*p)));
  Capability cap;
  if (v == "sse2" || v == "default") cap = Capability::SSE2;
  else if (v == "avx2") cap = Capability::AVX2;
  else if (v == "avx512") cap = Capability::AVX512;
  else VT_THROW(ValueError, "VIBETENSOR_CPU_CAPABILITY='", s, "' is invalid: expected sse2, avx2 or avx512");
  return cap < hw ? cap : hw;  // a cap, never more than the CPU has
}

}  // namespace

Capability capability() {
  static const Capability c = detect();
  return c;
}

const char* capability_name(Capability c) {
  return c == Capability::AVX512 ? "AVX512" : c == Capability::AVX2 ? "AVX2" : "DEFAULT";
}

}  // namespace vt::cpu
