"""``torch.backends`` for vibetensor: ``cpu`` and ``cuda`` are vibetensor's own (the CPU kernels' vector level;
matmul TF32 switch, BLAS library); no cuDNN and no MPS (their ``is_available()`` is False)."""
from ...backends import cpu, cuda  # noqa: F401
from . import cudnn, mps  # noqa: F401

__all__ = ["cpu", "cuda", "cudnn", "mps"]
