"""``torch.nn.utils`` for vibetensor: gradient clipping and parameter/vector conversion."""
from ...nn import utils as _utils
from .._reexport import reexport

__all__ = reexport(_utils, globals())
