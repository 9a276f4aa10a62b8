"""torch-level functions that vibetensor spells differently or composes from its ops."""
from .. import _C
from ..tensor_core import dtypes as _dt


def get_default_dtype():
    """float32: vibetensor's factories make float32 from Python floats (there is no setter yet)."""
    return _dt.float32


def is_floating_point(input):
    return input.is_floating_point()


def where(condition, input=None, other=None):
    """``where(cond, x, y)`` picks elementwise; ``where(cond)`` alone is ``nonzero(cond, as_tuple=True)``.

    >>> import vibetensor.torch as torch
    >>> [t.tolist() for t in torch.where(torch.tensor([[0, 3], [5, 0]]) > 0)]
    [[0, 1], [1, 0]]
    """
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where() takes a condition alone, or a condition with both input and other")
    return _C._ops.where(condition, input, other)


def nonzero(input, *, as_tuple=False):
    """Indices of the non-zero elements: an (n, dim) tensor, or with ``as_tuple`` one index tensor per dim."""
    idx = _C._ops.nonzero(input)
    if not as_tuple:
        return idx
    if input.dim() == 0:  # PyTorch treats a 0-d input as a 1-element vector here
        return (_C._ops.zeros([idx.shape[0]], dtype=_dt.int64, device=input.device),)
    return tuple(idx.unbind(1))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other| elementwise; equal values (infinities included) are close.

    >>> import vibetensor.torch as torch
    >>> torch.isclose(torch.tensor([1.0, 2.0]), torch.tensor([1.0 + 1e-9, 2.1])).tolist()
    [True, False]
    """
    if not isinstance(other, _C.TensorBase):
        other = _C._ops.full([], other, dtype=input.dtype, device=input.device)
    if input.dtype != other.dtype:
        raise TypeError(f"isclose: expected both inputs to have the same dtype, but got {input.dtype} and "
                        f"{other.dtype}")
    close = (input == other) | ((input - other).abs() <= atol + rtol * other.abs())
    if equal_nan and input.dtype.is_floating_point:
        close = close | (input.isnan() & other.isnan())
    return close


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element of ``isclose`` is (a host sync: it returns a Python bool)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all().item())


def equal(input, other):
    """Same shape and the same values (a host sync: it returns a Python bool)."""
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool((input == other).all().item())


__all__ = ["get_default_dtype", "is_floating_point", "where", "nonzero", "isclose", "allclose", "equal"]
