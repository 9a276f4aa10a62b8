"""torch-level functions that vibetensor spells differently or composes from its ops."""
from .. import _C
from ..tensor_core import dtypes as _dt


def get_default_dtype():
    """float32: vibetensor's factories make float32 from Python floats (there is no setter yet)."""
    return _dt.float32


def is_floating_point(input):
    return input.is_floating_point()


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


__all__ = ["get_default_dtype", "is_floating_point", "isclose", "allclose", "equal"]
