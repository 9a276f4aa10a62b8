"""vibetensor: PyTorch-style eager tensors with autograd, organised around the Fabric layer.

>>> import vibetensor as vt
>>> x = vt.arange(6, dtype=vt.float32).view(2, 3)
>>> x.sum(1).tolist()
[3.0, 12.0]
"""
from . import _C
from .tensor_core import *  # noqa: F401,F403
from .tensor_core import Tensor, Size, dtype, device, OutOfMemoryError, library, ops, cuda  # noqa: F401
from ._C import get_num_threads, set_num_threads  # noqa: F401
from . import autograd  # noqa: F401  (installs autograd on Tensor and in the dispatcher)
from .autograd import no_grad, enable_grad, set_grad_enabled, inference_mode, is_grad_enabled  # noqa: F401
from . import nn, optim, checkpoint  # noqa: F401
from . import amp  # noqa: F401
from .amp import (autocast, clear_autocast_cache, get_autocast_dtype, is_autocast_cache_enabled,  # noqa: F401
                  is_autocast_enabled, set_autocast_cache_enabled, set_autocast_dtype, set_autocast_enabled)
from . import kernels  # noqa: F401  (registers the GPU kernel compiler when a GPU is present)
from . import backends  # noqa: F401
from .backends.cuda import set_float32_matmul_precision, get_float32_matmul_precision  # noqa: F401

__version__ = "0.1.0"


def __getattr__(name):
    # vt.fabric is imported on first use: its topology layer pulls in networkx, which `import vibetensor` skips.
    if name == "fabric":
        import importlib
        return importlib.import_module(".fabric", __name__)
    raise AttributeError(f"module 'vibetensor' has no attribute {name!r}")
