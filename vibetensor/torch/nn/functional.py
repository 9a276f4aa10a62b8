"""``torch.nn.functional`` for vibetensor: the stateless layer functions of vibetensor.nn.functional.

>>> import vibetensor.torch as torch
>>> import vibetensor.torch.nn.functional as F
>>> F.relu(torch.tensor([-1.0, 2.0])).tolist()
[0.0, 2.0]
"""
from ...nn import functional as _functional
from .._reexport import reexport

__all__ = reexport(_functional, globals())
