"""``vt.backends.cpu``: which vector extensions the CPU kernels use.

``get_cpu_capability()`` names them as ``torch.backends.cpu.get_cpu_capability()`` does: "AVX512", "AVX2"
(with FMA) or "DEFAULT" (x86-64's baseline, SSE2). It is the CPU's best, capped by
VIBETENSOR_CPU_CAPABILITY (sse2, avx2 or avx512; read once, when a CPU kernel first asks), which lets every
kernel path run on one machine (tests, comparisons).
"""
from .. import _C


def get_cpu_capability():
    return _C._cpu_capability()
