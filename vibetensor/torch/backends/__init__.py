"""``torch.backends`` for vibetensor: no cuDNN and no MPS (their ``is_available()`` is False)."""
from . import cudnn, mps  # noqa: F401

__all__ = ["cudnn", "mps"]
