"""Making tensors from Python data and other libraries' arrays, and the *_like factories."""
import builtins

import numpy as np

from .. import _C
from . import dtypes as _dt
from .tensor import Tensor

_FROM_NUMPY = {
    np.dtype(np.bool_): _dt.bool, np.dtype(np.uint8): _dt.uint8, np.dtype(np.int8): _dt.int8,
    np.dtype(np.int16): _dt.int16, np.dtype(np.int32): _dt.int32, np.dtype(np.int64): _dt.int64,
    np.dtype(np.float16): _dt.float16, np.dtype(np.float32): _dt.float32, np.dtype(np.float64): _dt.float64,
}


def _infer(data):
    """numpy array for nested Python data, with PyTorch's dtype inference (Python floats -> float32)."""
    try:
        arr = np.asarray(data)
    except ValueError as e:
        raise ValueError(f"tensor(): could not build a tensor from {type(data).__name__}: {e}") from None
    if arr.dtype == object:
        raise TypeError(f"tensor(): could not infer dtype of {type(data).__name__} (ragged or non-numeric data)")
    if arr.dtype.kind == "f" and not isinstance(data, np.ndarray) and not isinstance(data, np.generic):
        return arr, _dt.float32
    if arr.dtype.kind in "iu" and not isinstance(data, (np.ndarray, np.generic)):
        return arr, _dt.int64
    if arr.dtype not in _FROM_NUMPY:
        raise TypeError(f"tensor(): numpy dtype {arr.dtype} is not supported")
    return arr, _FROM_NUMPY[arr.dtype]


def tensor(data, *, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (nested lists, numbers, numpy arrays or tensors).

    >>> import vibetensor as vt
    >>> vt.tensor([[1, 2], [3, 4]]).dtype
    vibetensor.int64
    >>> vt.tensor([1.5, 2]).tolist()
    [1.5, 2.0]
    """
    if isinstance(data, _C.TensorBase):
        out = data.to(dtype=dtype or data.dtype, device=device or data.device, copy=True)
    else:
        arr, inferred = _infer(data)
        src = from_numpy(arr if arr.flags.c_contiguous else arr.copy())
        out = src.to(dtype=dtype or inferred, copy=True)
        if device is not None:
            out = out.to(device)
    if requires_grad:
        out.requires_grad_(True)
    return out


def as_tensor(data, dtype=None, device=None):
    """Like tensor(), but shares memory with a tensor or numpy array when no conversion is needed."""
    if isinstance(data, _C.TensorBase):
        return data.to(dtype=dtype or data.dtype, device=device or data.device)
    if isinstance(data, np.ndarray) and data.dtype in _FROM_NUMPY:
        return from_numpy(data).to(dtype=dtype or _FROM_NUMPY[data.dtype], device=device or "cpu")
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A tensor sharing ``array``'s memory (writes show through both ways; read-only stays read-only)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(array).__name__})")
    if array.dtype not in _FROM_NUMPY:
        raise TypeError(f"can't convert np.ndarray of type {array.dtype}. The only supported types are: "
                        "float64, float32, float16, int64, int32, int16, int8, uint8, and bool.")
    if any(s < 0 for s in array.strides):
        raise ValueError("from_numpy: at least one stride in the given numpy array is negative, and tensors with "
                         "negative strides are not supported. (You can probably work around this by making a "
                         "copy of your array with array.copy().)")
    if any(s % array.itemsize for s in array.strides):
        raise ValueError("from_numpy: array strides are not a multiple of the element size; use array.copy()")
    return _C._from_dlpack(array)


def from_dlpack(obj):
    """Zero-copy import of any DLPack producer (numpy, torch, cupy, ...) or capsule."""
    return _C._from_dlpack(obj)


def _like(fn, t, *args, dtype=None, device=None, requires_grad=False):
    out = fn(t.shape, *args, dtype=dtype or t.dtype, device=device or t.device)
    if requires_grad:
        out.requires_grad_(True)
    return out


def empty_like(t, *, dtype=None, device=None, requires_grad=False):
    return _like(_C._ops.empty, t, dtype=dtype, device=device, requires_grad=requires_grad)


def zeros_like(t, *, dtype=None, device=None, requires_grad=False):
    return _like(_C._ops.zeros, t, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(t, *, dtype=None, device=None, requires_grad=False):
    return _like(_C._ops.ones, t, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t, fill_value, *, dtype=None, device=None, requires_grad=False):
    return _like(_C._ops.full, t, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def rand_like(t, *, dtype=None, device=None, requires_grad=False):
    return _like(_C._ops.rand, t, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(t, *, dtype=None, device=None, requires_grad=False):
    return _like(_C._ops.randn, t, dtype=dtype, device=device, requires_grad=requires_grad)


def randint_like(t, low, high=None, *, dtype=None, device=None):
    if high is None:
        low, high = 0, low
    return _C._ops.randint(low, high, t.shape, dtype=dtype or t.dtype, device=device or t.device)


def is_tensor(obj):
    return isinstance(obj, _C.TensorBase)


def numel(t):
    return t.numel()


__all__ = ["tensor", "as_tensor", "from_numpy", "from_dlpack", "empty_like", "zeros_like", "ones_like", "full_like",
           "rand_like", "randn_like", "randint_like", "is_tensor", "numel"]
_ = builtins
