// Which x86 vector extensions the CPU kernels may use: the CPU's own, capped by VIBETENSOR_CPU_CAPABILITY
// (sse2, avx2 or avx512; like PyTorch's ATEN_CPU_CAPABILITY), so every code path can be run and tested on
// one machine. One build serves every x86-64 CPU: the wider kernels carry target attributes and are handed
// out only after this check.
#pragma once

namespace vt::cpu {

enum class Capability { SSE2 = 0, AVX2 = 1, AVX512 = 2 };  // AVX2 includes FMA; AVX512 is AVX-512F + FMA

Capability capability();  // read once; an unknown VIBETENSOR_CPU_CAPABILITY raises ValueError naming it
// "DEFAULT" (x86-64's baseline, SSE2), "AVX2", "AVX512": torch.backends.cpu.get_cpu_capability()'s spelling
const char* capability_name(Capability c);

inline bool has_avx2() { return capability() >= Capability::AVX2; }
inline bool has_avx512() { return capability() >= Capability::AVX512; }

}  // namespace vt::cpu
