"""Shared test helpers: fresh random inputs, float64 numpy references, per-dtype tolerances, torch parity.

Every op test compares vibetensor against a float64 reference computed on the same (never all-zero) random
inputs, across dtypes and memory layouts; where torch is installed, against torch's same call too.
"""
import math

import numpy as np
import pytest

import vibetensor as vt

try:
    import torch
except ImportError:  # torch is optional: parity checks skip without it
    torch = None

FLOAT_DTYPES = [vt.float32, vt.float64, vt.float16, vt.bfloat16]
INT_DTYPES = [vt.uint8, vt.int8, vt.int16, vt.int32, vt.int64]
ALL_DTYPES = FLOAT_DTYPES + INT_DTYPES + [vt.bool]

# (rtol, atol) when comparing a result in this dtype with a float64 reference.
TOLERANCES = {
    vt.float64: (1e-10, 1e-12), vt.float32: (1e-5, 1e-6), vt.float16: (2e-3, 1e-3), vt.bfloat16: (1.6e-2, 1e-2),
}

_NP = {vt.bool: np.bool_, vt.uint8: np.uint8, vt.int8: np.int8, vt.int16: np.int16, vt.int32: np.int32,
       vt.int64: np.int64, vt.float16: np.float16, vt.float32: np.float32, vt.float64: np.float64,
       vt.bfloat16: np.float32}


def rng(seed=None):
    """A fresh generator: by default seeded from the test's own name so failures reproduce."""
    if seed is None:  # a stable hash (str hashes differ per process), so a failure reproduces
        import os
        import zlib
        seed = zlib.crc32(os.environ.get("PYTEST_CURRENT_TEST", "").split(" (")[0].encode())
    return np.random.default_rng(seed)


def random_array(shape, dtype, gen, low=-4.0, high=4.0, positive=False, nonzero=True):
    """Random values representable in `dtype` (so the float64 reference sees the same numbers)."""
    shape = tuple(shape)
    if dtype == vt.bool:
        return gen.integers(0, 2, size=shape).astype(np.bool_)
    if not dtype.is_floating_point:
        info = np.iinfo(_NP[dtype])
        lo = 1 if positive else max(info.min, -50)
        hi = min(info.max, 50)
        a = gen.integers(lo, hi + 1, size=shape).astype(_NP[dtype])
        if nonzero:
            a[a == 0] = 1
        return a
    lo = 0.05 if positive else low
    a = gen.uniform(lo, high, size=shape)
    if nonzero:
        a[np.abs(a) < 1e-3] = 0.5
    return round_to(a, dtype)


def round_to(a, dtype):
    """Round float64 values to what `dtype` can hold (via the library's own conversion for bfloat16)."""
    if dtype == vt.bfloat16:
        return vt.tensor(np.asarray(a, np.float32)).to(vt.bfloat16).float().numpy().astype(np.float64)
    return np.asarray(a).astype(_NP[dtype]).astype(np.float64 if dtype.is_floating_point else _NP[dtype])


def make(arr, dtype, layout="contiguous"):
    """A vibetensor of `dtype` holding `arr`, laid out as asked: contiguous, transposed, strided or expanded."""
    t = vt.tensor(np.asarray(arr, np.float64) if dtype.is_floating_point else arr).to(dtype)
    if layout == "contiguous" or t.dim() == 0:
        return t
    if layout == "transposed":  # same values, reversed memory order
        return t.permute(*reversed(range(t.dim()))).contiguous().permute(*reversed(range(t.dim())))
    if layout == "strided":  # every other element of a twice-as-wide buffer
        big = vt.zeros(*t.shape[:-1], t.shape[-1] * 2, dtype=dtype)
        view = big[..., ::2]
        view.copy_(t)
        return view
    raise ValueError(layout)


def to_numpy64(t):
    """A vibetensor's values as float64 numpy (or its own dtype for ints/bools)."""
    if t.dtype.is_floating_point:
        return t.to(vt.float64).numpy()
    return t.numpy()


def assert_close(actual, expected, dtype=None, rtol=None, atol=None, equal_nan=True):
    dtype = dtype or actual.dtype
    a = to_numpy64(actual) if isinstance(actual, vt.Tensor) else np.asarray(actual)
    e = np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != expected {e.shape}"
    if dtype.is_floating_point:
        r, t = TOLERANCES[dtype]
        np.testing.assert_allclose(a, e.astype(np.float64), rtol=rtol or r, atol=atol or t, equal_nan=equal_nan)
    else:
        np.testing.assert_array_equal(a, e)


def torch_call(name, *args, **kwargs):
    """Runs torch.<name> on the same values (vibetensors converted through numpy); skips without torch."""
    if torch is None:
        pytest.skip("torch is not installed")

    def conv(x):
        if isinstance(x, vt.Tensor):
            if x.dtype == vt.bfloat16:
                return torch.from_numpy(x.float().numpy().copy()).to(torch.bfloat16)
            return torch.from_numpy(x.numpy().copy())
        if isinstance(x, (list, tuple)):
            return type(x)(conv(y) for y in x)
        if isinstance(x, vt.dtype):
            return getattr(torch, x.name)
        return x

    fn = None
    if not name.startswith("."):
        for ns in (torch, torch.nn.functional, torch.special):
            fn = getattr(ns, name, None)
            if fn is not None:
                break
    args = [conv(a) for a in args]
    kwargs = {k: conv(v) for k, v in kwargs.items()}
    if fn is None:
        return getattr(args[0], name[1:])(*args[1:], **kwargs)
    return fn(*args, **kwargs)


def torch_to_numpy(t):
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.detach().numpy()


def chi2_ok(counts, probs):
    """Pearson's chi-square below df + 5 sqrt(2 df): about 5 sigma of its null distribution."""
    counts, probs = np.asarray(counts, np.float64).ravel(), np.asarray(probs, np.float64).ravel()
    expected = counts.sum() * probs / probs.sum()
    stat = ((counts - expected) ** 2 / expected).sum()
    df = len(counts) - 1
    return stat < df + 5 * math.sqrt(2 * df), stat


def unprepared(launch):
    """A stand-in for _C._cuda.prepare_launch that hands each launch to launch(key, grid, args) as launch_kernel
    would take it (its two base addresses added to the first two pointers): for tests that watch the fabric's
    launches or run them on CPU."""
    def prepare(key, grid, args):
        def run(base0, base1):
            launch(key, grid, [("ptr", args[0][1] + base0), ("ptr", args[1][1] + base1), *args[2:]])
        return run
    return prepare
