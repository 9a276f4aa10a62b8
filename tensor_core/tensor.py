"""vt.Tensor: the native TensorBase plus the parts that are easier to write in Python.

Op methods (``x.exp()``, ``x.sum(1)``) and operators come from the native op table; this class adds
conversions (``.to``, ``.numpy``), printing, iteration and the PyTorch conveniences built on ops.
"""
import builtins

import numpy as np

from .. import _C
from . import dtypes as _dt
from .printing import tensor_repr


class Size(tuple):
    """The shape of a tensor: a tuple of ints, like ``torch.Size``."""

    def __repr__(self):
        return f"vibetensor.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


_NUMPY_DTYPES = {
    _dt.bool: np.bool_, _dt.uint8: np.uint8, _dt.int8: np.int8, _dt.int16: np.int16, _dt.int32: np.int32,
    _dt.int64: np.int64, _dt.float16: np.float16, _dt.float32: np.float32, _dt.float64: np.float64,
}


class Tensor(_C.TensorBase):
    """A strided view of typed memory on one device, with autograd.

    >>> import vibetensor as vt
    >>> x = vt.tensor([[1., 2.], [3., 4.]])
    >>> (x @ x.T).tolist()
    [[5.0, 11.0], [11.0, 25.0]]
    """

    __module__ = "vibetensor"
    __array_priority__ = 1000  # numpy defers to our reflected operators

    # ---- printing --------------------------------------------------------------------------------
    def __repr__(self):
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self.dim() == 0:
            return self.item().__format__(spec)
        return builtins.format(repr(self), spec)

    # ---- conversions -----------------------------------------------------------------------------
    def numpy(self, *, force=False):
        """A numpy array sharing this tensor's memory (CPU tensors; bfloat16 has no numpy dtype)."""
        if self.device.type != "cpu":
            raise TypeError(f"can't convert {self.device} tensor to numpy. Use Tensor.cpu() to copy it to host memory first.")
        if self.dtype == _dt.bfloat16:
            raise TypeError("Got unsupported ScalarType BFloat16: numpy has no bfloat16; use .float() first")
        if getattr(self, "requires_grad", False) and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return np.from_dlpack(self)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy(force=True)
        return a.astype(dtype) if dtype is not None else a

    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``, with ``copy=`` and ``non_blocking=``."""
        dtype, device = kwargs.pop("dtype", None), kwargs.pop("device", None)
        copy, non_blocking = kwargs.pop("copy", False), kwargs.pop("non_blocking", False)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, _C.dtype):
                dtype = a
            elif isinstance(a, (str, _C.device, builtins.int)) and not isinstance(a, builtins.bool):
                device = _C.device(a) if not isinstance(a, _C.device) else a
            elif isinstance(a, _C.TensorBase):
                dtype, device = a.dtype, a.device
            else:
                raise TypeError(f"to() received an invalid argument {a!r}")
        if device is not None and not isinstance(device, _C.device):
            device = _C.device(device)
        same_dtype = dtype is None or dtype == self.dtype
        same_device = device is None or device == self.device
        if same_dtype and same_device and not copy:
            return self
        return _C._ops._to_copy(self, dtype=dtype, device=device, non_blocking=non_blocking)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to(_C.device("cuda" if device is None else device), non_blocking=non_blocking)

    def type(self, dtype=None):
        if dtype is None:
            return f"vibetensor.{self.dtype.name}"
        return self.to(dtype)

    def type_as(self, other):
        return self.to(other.dtype)

    def float(self): return self.to(_dt.float32)  # noqa: E704
    def double(self): return self.to(_dt.float64)  # noqa: E704
    def half(self): return self.to(_dt.float16)  # noqa: E704
    def bfloat16(self): return self.to(_dt.bfloat16)  # noqa: E704
    def long(self): return self.to(_dt.int64)  # noqa: E704
    def int(self): return self.to(_dt.int32)  # noqa: E704
    def short(self): return self.to(_dt.int16)  # noqa: E704
    def char(self): return self.to(_dt.int8)  # noqa: E704
    def byte(self): return self.to(_dt.uint8)  # noqa: E704
    def bool(self): return self.to(_dt.bool)  # noqa: E704

    # ---- autograd flags (the engine in autograd/ builds on these) -----------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = builtins.bool(requires_grad)
        return self

    # ---- shape conveniences ----------------------------------------------------------------------
    @property
    def T(self):
        return self.permute(*range(self.dim() - 1, -1, -1))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def view_as(self, other): return self.view(other.shape)  # noqa: E704
    def reshape_as(self, other): return self.reshape(other.shape)  # noqa: E704
    def expand_as(self, other): return self.expand(other.shape)  # noqa: E704
    def swapaxes(self, a, b): return self.transpose(a, b)  # noqa: E704
    def clip(self, min=None, max=None): return self.clamp(min, max)  # noqa: E704,A002
    def clip_(self, min=None, max=None): return self.clamp_(min, max)  # noqa: E704,A002
    def absolute(self): return self.abs()  # noqa: E704
    def negative(self): return self.neg()  # noqa: E704
    def true_divide(self, other): return self.div(other)  # noqa: E704
    def multiply(self, other): return self.mul(other)  # noqa: E704
    def subtract(self, other, alpha=1): return self.sub(other, alpha=alpha)  # noqa: E704
    def greater(self, other): return self.gt(other)  # noqa: E704
    def less(self, other): return self.lt(other)  # noqa: E704

    def new_empty(self, *size, dtype=None, device=None):
        return _C._ops.empty(*size, dtype=dtype or self.dtype, device=device or self.device)

    def new_zeros(self, *size, dtype=None, device=None):
        return _C._ops.zeros(*size, dtype=dtype or self.dtype, device=device or self.device)

    def new_ones(self, *size, dtype=None, device=None):
        return _C._ops.ones(*size, dtype=dtype or self.dtype, device=device or self.device)

    def new_full(self, size, fill_value, dtype=None, device=None):
        return _C._ops.full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device)

    def new_tensor(self, data, dtype=None, device=None):
        from .factories import tensor
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device)

    # ---- Python protocols ------------------------------------------------------------------------
    def __iter__(self):
        if self.dim() == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __reversed__(self):
        return self.flip(0)

    def __contains__(self, element):
        return builtins.bool((self == element).any().item())

    def __deepcopy__(self, memo):
        out = self.clone()
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, proto):
        from .factories import tensor
        data = self.float().numpy() if self.dtype == _dt.bfloat16 else self.numpy(force=True).copy()
        return (_rebuild, (data, self.dtype.name, str(self.device)))

    def __dir__(self):
        return sorted(set(super().__dir__()))


def _rebuild(array, dtype_name, device):
    from .factories import tensor
    return tensor(array, dtype=getattr(_dt, dtype_name), device=device)


_C._set_tensor_class(Tensor)
_C._set_size_class(Size)
