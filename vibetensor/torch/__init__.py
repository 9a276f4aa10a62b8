"""``import vibetensor.torch as torch``: PyTorch's namespace over vibetensor, for running PyTorch scripts.

A training script written for ``torch`` runs by changing its imports::

    import vibetensor.torch as torch
    import vibetensor.torch.nn as nn
    import vibetensor.torch.nn.functional as F
    from vibetensor.torch.utils.data import DataLoader, TensorDataset

Everything here is vibetensor's own object under PyTorch's name (``torch.Tensor is vibetensor.Tensor``,
``torch.nn.Linear is vibetensor.nn.Linear``), plus small shims where the spellings differ: random factories
take ``generator=``; ``save``/``load`` pickle tensors as raw bytes (serialization.py); ``torch.cuda`` is
vibetensor's CUDA runtime (``vt.cuda``); ``torch.autocast`` and ``torch.amp`` are ``vt.amp``. ``tools/api_parity.py`` lists which PyTorch names exist.

>>> import vibetensor.torch as torch
>>> _ = torch.manual_seed(0)
>>> x = torch.randn(3, 4, requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> torch.allclose(x.grad, 2 * x)
True
"""
import vibetensor as _vibetensor

from ._reexport import reexport as _reexport

_names = _reexport(_vibetensor, globals())

from . import _composites, _random  # noqa: E402
from ._composites import *  # noqa: E402,F401,F403
from ._random import *  # noqa: E402,F401,F403  (generator= aware; replace the plain ops copied above)
from .serialization import load, save  # noqa: E402,F401
from . import amp, autograd, backends, cuda, nn, optim, utils  # noqa: E402,F401

__version__ = _vibetensor.__version__
__all__ = sorted(set(_names) | set(_composites.__all__) | set(_random.__all__)
                 | {"load", "save", "amp", "autograd", "backends", "cuda", "nn", "optim", "utils"})
