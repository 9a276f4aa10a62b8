"""``torch.optim`` for vibetensor: SGD, Adam, AdamW, the Optimizer base and ``lr_scheduler``.

>>> import vibetensor.torch as torch
>>> p = torch.nn.Parameter(torch.ones(2))
>>> opt = torch.optim.SGD([p], lr=0.5)
>>> p.grad = torch.ones(2)
>>> opt.step()
>>> p.tolist()
[0.5, 0.5]
"""
from ... import optim as _optim
from .._reexport import reexport
from . import lr_scheduler  # noqa: F401

__all__ = reexport(_optim, globals()) + ["lr_scheduler"]
