"""nn.Parameter: a tensor that a Module registers as a learnable parameter."""
from .. import _C
from ..tensor_core import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad (by default) and is registered when assigned to a Module.

    >>> import vibetensor as vt
    >>> p = vt.nn.Parameter(vt.zeros(2))
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    __module__ = "vibetensor.nn"

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = _C._ops.empty([0])
        if not isinstance(data, _C.TensorBase):
            raise TypeError(f"Parameter data must be a Tensor, got {type(data).__name__}")
        p = _C._make_subclass(cls, data.detach())
        p.requires_grad_(requires_grad)
        return p

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        out = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.detach(), self.requires_grad))


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)
