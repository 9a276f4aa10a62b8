"""Hypothesis strategies for the op fuzzer: dtypes, shapes (0-d and empty included), memory layouts, scalars
and junk arguments, plus the conversions that give vibetensor, torch and numpy the same values.

A drawn tensor is a `Spec` (values as numpy, dtype, layout); `to_vt` lays it out in memory as asked, so the
kernels see transposed, strided, offset and expanded (stride-0) inputs, while the references see plain arrays.
"""
from typing import NamedTuple

import numpy as np
import torch
from hypothesis import strategies as st

import vibetensor as vt
from helpers import ALL_DTYPES, make, random_array

LAYOUTS = ("contiguous", "transposed", "strided", "offset", "expanded")
# Arguments of the wrong kind: every op must answer them with an exception, never a crash.
JUNK = (None, "x", 1.5, float("nan"), [1, "a"], (), object(), vt.float32, 2 ** 63, -2 ** 70, [[0]])


class Spec(NamedTuple):
    array: np.ndarray  # the values (bfloat16 as float64 holding bfloat16-representable numbers)
    dtype: object      # a vibetensor dtype
    layout: str


def torch_dtype(dtype):
    return getattr(torch, dtype.name)


def numpy_dtype(dtype):
    """The numpy dtype that holds `dtype`'s values exactly (float64 for the floats: the reference precision)."""
    return np.float64 if dtype.is_floating_point else np.dtype(torch.empty(0, dtype=torch_dtype(dtype)).numpy().dtype)


def to_vt(spec):
    arr, dtype, layout = spec
    if layout == "offset" and arr.ndim:  # a view starting one element into a bigger buffer
        flat = np.concatenate([arr.reshape(-1)[:1] if arr.size else np.zeros(1, arr.dtype), arr.reshape(-1)])
        return make(flat, dtype)[1:].view(*arr.shape) if arr.size else make(arr, dtype)
    if layout == "expanded" and arr.ndim and arr.shape[0] > 1 and (arr == arr[:1]).all():
        return make(arr[:1], dtype).expand(*arr.shape)  # stride 0 along dim 0
    return make(arr, dtype, layout if layout in ("transposed", "strided") else "contiguous")


def to_torch(spec):
    arr, dtype, layout = spec
    if layout == "expanded" and arr.ndim and arr.shape[0] > 1 and (arr == arr[:1]).all():
        return to_torch(Spec(arr[:1], dtype, "contiguous")).expand(*arr.shape)  # in-place writes must fail alike
    if dtype == vt.bfloat16:
        return torch.from_numpy(arr.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.array(arr, copy=True)).to(torch_dtype(dtype))  # (ascontiguousarray makes 0-d 1-d)


def vt_to_numpy(t):
    return t.float().numpy().astype(np.float64) if t.dtype == vt.bfloat16 else t.numpy()


@st.composite
def shapes(draw, min_dims=0, max_dims=4, max_side=5):
    return tuple(draw(st.lists(st.integers(0 if draw(st.integers(0, 9)) == 0 else 1, max_side),
                               min_size=min_dims, max_size=max_dims)))


@st.composite
def specs(draw, shape=None, dtypes=tuple(ALL_DTYPES), positive=False):
    """A tensor: random dtype, shape and layout; values never all zero (and rarely nan/inf for floats)."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes()) if shape is None else tuple(shape)
    layout = draw(st.sampled_from(LAYOUTS))
    gen = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    arr = random_array(shape, dtype, gen, positive=positive)
    if layout == "expanded" and arr.ndim and arr.shape[0] > 1:
        arr = np.broadcast_to(arr[:1], arr.shape).copy()
    if dtype.is_floating_point and arr.size and draw(st.integers(0, 7)) == 0:
        arr.reshape(-1)[gen.integers(0, arr.size)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return Spec(arr, dtype, layout)


def broadcastable_to(shape):
    """Shapes that broadcast with `shape` (some dims 1, some dropped from the front), or, rarely, one that does not."""
    @st.composite
    def draw_shape(draw):
        if draw(st.integers(0, 11)) == 0:
            return draw(shapes())  # most likely a mismatch: the error path
        keep = draw(st.integers(0, len(shape)))
        return tuple(1 if draw(st.booleans()) else s for s in shape[len(shape) - keep:])
    return draw_shape()


scalars = st.one_of(st.integers(-5, 5), st.floats(-4, 4, allow_nan=False, width=32), st.booleans(),
                    st.sampled_from([0, 0.0, float("inf"), float("nan"), -1]))


def dims_for(ndim):
    """A dim: usually valid (negative ones included), sometimes out of range."""
    return st.integers(-ndim - 2, ndim + 1) if ndim else st.integers(-2, 1)
