"""``torch.backends`` for vibetensor: ``cuda`` is vibetensor's own (matmul TF32 switch, BLAS library);
no cuDNN and no MPS (their ``is_available()`` is False)."""
from ...backends import cuda  # noqa: F401
from . import cudnn, mps  # noqa: F401

__all__ = ["cuda", "cudnn", "mps"]
