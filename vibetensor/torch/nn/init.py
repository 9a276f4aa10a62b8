"""``torch.nn.init`` for vibetensor: in-place initialisers from vibetensor.nn.init."""
from ...nn import init as _init
from .._reexport import reexport

__all__ = reexport(_init, globals())
