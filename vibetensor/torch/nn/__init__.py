"""``torch.nn`` for vibetensor: vibetensor.nn's modules, Parameter and submodules under PyTorch's names.

>>> import vibetensor.torch as torch
>>> from vibetensor.torch import nn
>>> nn.Linear(3, 2)(torch.ones(4, 3)).shape
vibetensor.Size([4, 2])
"""
from ... import nn as _nn
from .._reexport import reexport
from . import functional, init, utils  # noqa: F401  (real submodules: `import vibetensor.torch.nn.functional as F`)

__all__ = reexport(_nn, globals()) + ["functional", "init", "utils"]
