"""``vt.backends``: switches for the native backends, named as in ``torch.backends``.

>>> import vibetensor as vt
>>> vt.backends.cuda.matmul.allow_tf32
False
"""
from . import cpu, cuda  # noqa: F401

__all__ = ["cpu", "cuda"]
