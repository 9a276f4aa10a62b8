"""``torch.save`` / ``torch.load`` for vibetensor: a pickle whose tensors are stored as raw bytes.

The file is a standard pickle (protocol 4) of the object; each tensor is reduced to
``(dtype name, shape, little-endian bytes, requires_grad, is Parameter)``, so a state dict, an optimiser's
state dict or any nesting of dicts, lists, tuples, numbers and strings round-trips bit-exactly.
``load`` uses a restricted unpickler by default (``weights_only=True``, PyTorch's default since 2.6): only
containers, numbers, strings and tensors come back, never arbitrary classes or calls. The format is not
PyTorch's zip checkpoint; for files both libraries read, use safetensors (``vibetensor.save_file``).

>>> import io, vibetensor.torch as torch
>>> buf = io.BytesIO()
>>> torch.save({"w": torch.arange(4.0), "step": 3}, buf)
>>> _ = buf.seek(0)
>>> torch.load(buf)
{'w': tensor([0., 1., 2., 3.]), 'step': 3}
"""
import collections
import io
import os
import pickle

import numpy as np

from .. import _C
from ..tensor_core import dtypes as _dt
from ..tensor_core.factories import from_numpy

_PROTOCOL = 4
_ZIP_MAGIC = b"PK\x03\x04"
# numpy's view of each dtype's bytes; bfloat16 travels as its int16 bit patterns.
_NUMPY = {"bool": "?", "uint8": "u1", "int8": "i1", "int16": "<i2", "int32": "<i4", "int64": "<i8",
          "float16": "<f2", "bfloat16": "<i2", "float32": "<f4", "float64": "<f8"}


def _tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == _dt.bfloat16:
        t = t.view(_dt.int16)
    return np.ascontiguousarray(t.numpy(), dtype=_NUMPY[t.dtype.name]).tobytes()


def _rebuild_tensor(dtype_name, shape, data, requires_grad=False, is_parameter=False):
    if dtype_name not in _NUMPY:
        raise ValueError(f"load: unknown tensor dtype '{dtype_name}' in the file")
    arr = np.frombuffer(data, dtype=_NUMPY[dtype_name])
    if arr.size != int(np.prod(shape, dtype=np.int64)):
        raise ValueError(f"load: a tensor of shape {list(shape)} holds {arr.size} elements in the file")
    t = from_numpy(arr.reshape(shape).copy())
    if dtype_name == "bfloat16":
        t = t.view(_dt.bfloat16)
    if is_parameter:
        from ..nn import Parameter
        return Parameter(t, requires_grad)
    return t.requires_grad_(True) if requires_grad else t


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, _C.TensorBase):
            from ..nn import Parameter
            return _rebuild_tensor, (obj.dtype.name, tuple(obj.shape), _tensor_bytes(obj), obj.requires_grad,
                                     isinstance(obj, Parameter))
        return NotImplemented


# What weights_only=True lets a file name: our rebuild function and plain containers. Nothing that runs code.
_ALLOWED = {(__name__, "_rebuild_tensor"): _rebuild_tensor, ("collections", "OrderedDict"): collections.OrderedDict,
            ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "slice"): slice,
            ("builtins", "complex"): complex}


class _WeightsUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"load(weights_only=True): the file refers to {module}.{name}, which is not a tensor or a plain "
                "container; pass weights_only=False only if you trust where the file came from") from None


def save(obj, f, pickle_module=None, pickle_protocol=_PROTOCOL, _use_new_zipfile_serialization=True):
    """Writes ``obj`` (tensors, Parameters, dicts, lists, numbers...) to a path or a binary file object."""
    _check_pickle_module(pickle_module)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            _Pickler(fh, protocol=pickle_protocol).dump(obj)
    else:
        _Pickler(f, protocol=pickle_protocol).dump(obj)


def _check_pickle_module(module):
    if module not in (None, pickle):
        raise TypeError("only the standard pickle module is supported (pass pickle_module=None)")


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Reads what ``save`` wrote; ``map_location`` (a device or device string) moves every tensor there.
    ``mmap`` is accepted for PyTorch's signature; the file is read whole either way."""
    _check_pickle_module(pickle_module)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            data = fh.read()
    else:
        data = f.read()
    if data[:4] == _ZIP_MAGIC:
        raise RuntimeError("load: this is a PyTorch zip checkpoint; vibetensor.torch.load reads files written by "
                           "vibetensor.torch.save (convert with torch and safetensors, then vibetensor.load_file)")
    unpickler_cls = _WeightsUnpickler if weights_only else pickle.Unpickler
    try:
        obj = unpickler_cls(io.BytesIO(data), **pickle_load_args).load()
    except (EOFError, pickle.UnpicklingError) as e:
        raise RuntimeError(f"load: not a file written by vibetensor.torch.save ({e})") from None
    return obj if map_location is None else _map(obj, map_location)


def _map(obj, location):
    if callable(location):
        raise TypeError("load: map_location as a function is not supported; pass a device or device string")
    if isinstance(obj, _C.TensorBase):
        return obj.to(location)
    if isinstance(obj, dict):
        return type(obj)((k, _map(v, location)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_map(v, location) for v in obj)
    return obj


__all__ = ["save", "load"]
