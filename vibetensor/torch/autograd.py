"""``torch.autograd`` for vibetensor: backward, grad, Function, grad modes and gradcheck."""
from .. import autograd as _autograd
from ._reexport import reexport

__all__ = reexport(_autograd, globals())
