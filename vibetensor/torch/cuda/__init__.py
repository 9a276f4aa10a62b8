"""``torch.cuda`` for vibetensor: vibetensor's own CUDA runtime (devices, streams, events, the caching
allocator, graphs, random state). Without a GPU ``is_available()`` is False and calls that need one raise
one clear RuntimeError, as in PyTorch. ``torch.cuda.amp`` is torch.amp with the device fixed to CUDA."""
from ...tensor_core.cuda import *  # noqa: F401,F403
from ...tensor_core.cuda import __all__ as _cuda_all
from ...tensor_core.cuda import is_available
from . import amp  # noqa: F401


def is_initialized():
    """True once the driver is loaded and a device exists (vibetensor initialises CUDA lazily, on first use)."""
    return is_available()


__all__ = list(_cuda_all) + ["is_initialized", "amp"]
