"""The op fuzzer's table: for each family of ops, how to draw a call and its numpy reference.

A drawn `Case` holds the arguments (tensor `Spec`s, scalars, junk), `call(m, *args)` written once for both
vibetensor and torch (same API), and `ref(*arrays)`, the numpy computation. torch decides whether the call is
valid and what dtype it returns (PyTorch's semantics are the contract); numpy gives the values, in float64
("f64"), in the result dtype so integers wrap like the kernels' ("arith" on integer results), or in each
input's own dtype ("own", for views and indexing, which move values without arithmetic).
"""
import math
from typing import Callable, NamedTuple

import numpy as np
from hypothesis import strategies as st

from fuzz_inputs import JUNK, broadcastable_to, dims_for, scalars, shapes, specs


class Case(NamedTuple):
    label: str
    args: tuple
    call: Callable
    ref: Callable
    mode: str = "arith"
    junk: bool = False  # an argument was replaced by junk: only "raises cleanly or matches torch's dtype" is checked


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _xlogy(x, y):
    with np.errstate(all="ignore"):
        return np.where(np.isnan(y), np.nan, np.where(x == 0, 0.0, x * np.log(y)))


def _lgamma(v):
    try:
        return math.lgamma(v)
    except ValueError:  # a pole (0, -1, -2, ...): C's lgamma gives +inf
        return math.inf


def _logsumexp(a, dim, keepdim):
    m = np.max(a, axis=dim, keepdims=True) if a.size else np.zeros([1] * a.ndim)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(a - m), axis=dim, keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=dim)


UNARY = {
    "abs": np.abs, "neg": np.negative, "sign": np.sign, "square": np.square, "floor": np.floor, "ceil": np.ceil,
    "trunc": np.trunc, "frac": lambda a: a - np.trunc(a), "relu": lambda a: np.maximum(a, 0).astype(a.dtype),
    "sqrt": np.sqrt, "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "log2": np.log2,
    "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "atan": np.arctan, "asinh": np.arcsinh, "sigmoid": _sigmoid,
    "reciprocal": lambda a: 1 / a, "rsqrt": lambda a: 1 / np.sqrt(a), "silu": lambda a: a * _sigmoid(a),
    "erf": np.vectorize(math.erf, otypes=[np.float64]), "lgamma": np.vectorize(_lgamma, otypes=[np.float64]),
    "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite, "signbit": np.signbit,
    "logical_not": np.logical_not, "bitwise_not": np.invert,
}
PREDICATES = ("isnan", "isinf", "isfinite", "signbit", "logical_not")
BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide, "floor_divide": np.floor_divide,
    "remainder": np.remainder, "fmod": np.fmod, "pow": np.power, "atan2": np.arctan2, "maximum": np.maximum,
    "minimum": np.minimum, "fmax": np.fmax, "fmin": np.fmin, "hypot": np.hypot, "logaddexp": np.logaddexp,
    "copysign": np.copysign, "xlogy": _xlogy, "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor, "bitwise_left_shift": np.left_shift, "bitwise_right_shift": np.right_shift,
}
COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
           "ge": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or,
           "logical_xor": np.logical_xor}
INPLACE = ("add", "sub", "mul", "div", "remainder", "pow", "bitwise_and")  # x.<name>_(y) on a view


def _junk_or(draw, value, numbers_ok=False):
    """(`value`, False), or (one time in eight) (a junk argument, True)."""
    if draw(st.integers(0, 7)) == 0:
        pool = [j for j in JUNK if not (numbers_ok and (type(j) is float or type(j) is int and abs(j) < 2 ** 63))]
        return draw(st.sampled_from(pool)), True
    return value, False


def _function(m, name):
    """m.<name>, or torch.nn.functional.<name> for activations torch keeps there."""
    return getattr(m, name) if hasattr(m, name) else getattr(m.nn.functional, name)


@st.composite
def unary(draw):
    name = draw(st.sampled_from(sorted(UNARY)))
    ref = UNARY[name]
    mode = "f64" if name in PREDICATES else "arith"  # a bool result says something about the float value
    return Case(name, (draw(specs()),), lambda m, a: _function(m, name)(a), ref, mode)


@st.composite
def binary(draw):
    table = draw(st.sampled_from([BINARY, COMPARE]))
    name = draw(st.sampled_from(sorted(table)))
    a = draw(specs())
    b = draw(st.one_of(specs(shape=draw(broadcastable_to(a.array.shape))), scalars))
    if draw(st.booleans()):
        a, b = (b, a) if not isinstance(b, (int, float)) else (a, b)
    b, junk = _junk_or(draw, b, numbers_ok=True)
    mode = "promoted" if table is COMPARE else "arith"  # uint8 >= -1 compares in uint8, where -1 is 255
    if draw(st.integers(0, 3)) == 0 and name in INPLACE and not isinstance(a, (int, float)):
        def inplace(m, x, y):  # writes through x's layout; returns x itself
            return getattr(x, name + "_")(y)
        return Case(name + "_", (a, b), inplace, lambda x, y: BINARY[name](x, y), "inplace", junk)
    return Case(name, (a, b), lambda m, x, y: getattr(m, name)(x, y), table[name], mode, junk)


def _dims_arg(draw, ndim):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return None
    if kind == 1:
        return draw(dims_for(ndim))
    return tuple(draw(st.lists(dims_for(ndim), max_size=max(ndim, 1), unique=True)))


def _axis(dim, ndim):
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else dim
    return tuple(d % ndim for d in dims) if ndim else None


@st.composite
def reduction(draw):
    a = draw(specs())
    nd = a.array.ndim
    name = draw(st.sampled_from(["sum", "mean", "prod", "amax", "amin", "argmax", "argmin", "var", "std",
                                 "logsumexp", "cumsum", "any", "all", "softmax", "log_softmax", "max.dim"]))
    keepdim = draw(st.booleans())
    if name in ("prod", "argmax", "argmin", "any", "all", "cumsum", "softmax", "log_softmax", "max.dim"):
        dim = draw(dims_for(nd)) if name in ("cumsum", "softmax", "log_softmax", "max.dim") or draw(
            st.booleans()) else None
    else:
        dim = _dims_arg(draw, nd)
    dim, junk = _junk_or(draw, dim)
    if name == "logsumexp" and (dim is None or dim == ()):
        dim = -1  # torch's logsumexp(dim=()) fails on integer inputs (its bug): no oracle there
    ax = None if junk else (_axis(dim, nd) or None)  # torch reads dim=() as "all dims"

    def ref(x):
        if name == "sum":
            return np.sum(x, axis=ax, keepdims=keepdim)
        if name == "mean":
            return np.mean(x, axis=ax, keepdims=keepdim)
        if name == "prod":
            return np.prod(x, axis=ax, keepdims=keepdim and ax is not None)
        if name in ("amax", "amin"):
            return (np.max if name == "amax" else np.min)(x, axis=ax or None, keepdims=keepdim)
        if name in ("argmax", "argmin"):
            r = (np.argmax if name == "argmax" else np.argmin)(x, axis=None if ax is None else ax[0])
            return np.expand_dims(r, ax[0]) if keepdim and ax is not None else r
        if name in ("var", "std"):
            r = np.var(x, axis=ax, ddof=1, keepdims=keepdim)
            return np.sqrt(r) if name == "std" else r
        if name == "logsumexp":
            return _logsumexp(x, ax or None, keepdim)
        if name == "cumsum":
            return np.cumsum(x, axis=ax[0]) if nd else x.copy()
        if name in ("any", "all"):
            return (np.any if name == "any" else np.all)(x, axis=ax, keepdims=keepdim and ax is not None)
        if name in ("softmax", "log_softmax"):
            axis = ax[0] if nd else None
            e = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))
            s = e / np.sum(e, axis=axis, keepdims=True)
            return np.log(s) if name == "log_softmax" else s
        vals = np.max(x, axis=ax[0], keepdims=keepdim) if nd else x.copy()
        idx = np.argmax(x, axis=ax[0]) if nd else np.zeros((), np.int64)
        return [vals, np.expand_dims(idx, ax[0]) if keepdim and nd else idx]

    def call(m, x, d):
        if name in ("cumsum", "softmax", "log_softmax"):
            return getattr(x, name)(d)
        if name == "max.dim":
            return tuple(x.max(d, keepdim))
        if name in ("argmax", "argmin", "any", "all", "prod") and d is None:
            return getattr(x, name)()
        if name in ("amax", "amin") and d is None:
            return getattr(x, name)((), keepdim)
        return getattr(x, name)(d, keepdim=keepdim) if name != "logsumexp" else x.logsumexp(d, keepdim)
    mode = "arith" if name in ("sum", "prod", "cumsum", "amax", "amin", "max.dim") else "f64"
    return Case(name, (a, dim), call, lambda x, d: ref(x), mode, junk)


def _squeeze(x, d):  # torch's squeeze(dim): a no-op on a dim that is not 1
    return np.squeeze(x, d) if x.ndim and x.shape[d] == 1 else x


@st.composite
def view(draw):
    """Views and indexing: reshape, transpose, permute, slicing, integer/tensor/mask indexing, narrow, ..."""
    a = draw(specs())
    nd, shape = a.array.ndim, a.array.shape
    d = draw(dims_for(nd))
    kind = draw(st.sampled_from(["reshape", "transpose", "permute", "slice", "int", "index", "mask", "narrow",
                                 "select", "unsqueeze", "squeeze", "flatten", "expand", "flip", "gather",
                                 "index_select", "tril", "movedim"]))
    ax = d % nd if nd and -nd <= d < nd else 0
    if kind == "reshape":
        n = a.array.size
        new = draw(st.one_of(shapes(), st.just((n,)), st.just((-1,)),
                             st.just((1, -1)) if n else st.just((0, -1))))
        return Case(kind, (a, new), lambda m, x, s: x.reshape(s), lambda x, s: x.reshape(s), "own")
    if kind == "transpose":
        d1 = draw(dims_for(nd))
        return Case(kind, (a, d, d1), lambda m, x, i, j: x.transpose(i, j),
                    lambda x, i, j: np.swapaxes(x, i, j) if nd else x, "own")
    if kind in ("permute", "movedim"):
        perm = draw(st.permutations(range(nd))) if draw(st.integers(0, 5)) else draw(st.lists(dims_for(nd)))
        if kind == "movedim":
            return Case(kind, (a, d, draw(dims_for(nd))), lambda m, x, i, j: x.movedim(i, j),
                        lambda x, i, j: np.moveaxis(x, i, j) if nd else x, "own")
        return Case(kind, (a, tuple(perm)), lambda m, x, p: x.permute(*p), lambda x, p: np.transpose(x, p), "own")
    if kind == "slice":
        sl = tuple(slice(draw(st.integers(-7, 7) | st.none()), draw(st.integers(-7, 7) | st.none()),
                         draw(st.integers(1, 3))) for _ in range(draw(st.integers(0, nd + 1))))
        return Case(kind, (a, sl), lambda m, x, s: x[s], lambda x, s: x[s], "own")
    if kind == "int":
        i = draw(st.integers(-6, 6))
        return Case(kind, (a, i), lambda m, x, j: x[j], lambda x, j: x[j], "own")
    if kind == "index":
        n = shape[0] if nd else 1
        idx = draw(st.lists(st.integers(-n - 1, n), max_size=5))
        return Case(kind, (a, idx), lambda m, x, j: x[m.tensor(j, dtype=m.int64)],
                    lambda x, j: x[np.array(j, np.int64)], "own")
    if kind == "mask":
        mask = draw(specs(shape=draw(st.sampled_from([shape, shape[:1], (7,)])), dtypes=(
            __import__("vibetensor").bool,)))
        return Case(kind, (a, mask), lambda m, x, k: x[k], lambda x, k: x[k.astype(bool)], "own")
    if kind == "narrow":
        start, length = draw(st.integers(-6, 6)), draw(st.integers(-1, 6))
        return Case(kind, (a, d, start, length), lambda m, x, i, s, n: x.narrow(i, s, n),
                    lambda x, i, s, n: np.take(x, range(s % x.shape[i], s % x.shape[i] + n), axis=i), "own")
    if kind == "select":
        i = draw(st.integers(-6, 6))
        return Case(kind, (a, d, i), lambda m, x, k, j: x.select(k, j), lambda x, k, j: np.take(x, j, axis=k), "own")
    if kind == "unsqueeze":
        d = draw(st.integers(-nd - 2, nd + 1))
        return Case(kind, (a, d), lambda m, x, k: x.unsqueeze(k),
                    lambda x, k: np.expand_dims(x, k if k >= 0 else k + nd + 1), "own")
    if kind == "squeeze":
        return Case(kind, (a, d), lambda m, x, k: x.squeeze(k), lambda x, k: _squeeze(x, k), "own")
    if kind == "flatten":
        return Case(kind, (a, d), lambda m, x, k: x.flatten(k), lambda x, k: x.reshape(
            shape[:k % nd] + (math.prod(shape[k % nd:]),)) if nd else x.reshape(1), "own")
    if kind == "expand":
        new = tuple(draw(st.sampled_from([-1, s, 2 * s + 1, 3])) for s in shape)
        new = tuple(draw(st.lists(st.integers(1, 3), max_size=2))) + new
        return Case(kind, (a, new), lambda m, x, s: x.expand(*s), lambda x, s: np.broadcast_to(
            x, tuple(o if n == -1 else n for n, o in zip(s, (1,) * (len(s) - nd) + shape))), "own")
    if kind == "flip":
        return Case(kind, (a, d), lambda m, x, k: x.flip([k]), lambda x, k: np.flip(x, k) if nd else x, "own")
    if kind == "tril":
        k = draw(st.integers(-3, 3))
        return Case(kind, (a, k), lambda m, x, j: x.tril(j), lambda x, j: np.tril(x, j), "own")
    n = shape[ax] if nd else 1
    idx_shape = tuple(draw(st.integers(0, 3)) if i == ax else s for i, s in enumerate(shape))
    if kind == "gather":
        gen = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
        idx = gen.integers(-1 if draw(st.integers(0, 5)) == 0 else 0, n + (draw(st.integers(0, 5)) == 0),
                           size=idx_shape)
        return Case(kind, (a, d, idx), lambda m, x, k, i: x.gather(k, m.tensor(i, dtype=m.int64)),
                    lambda x, k, i: np.take_along_axis(x, i, axis=k) if nd else x.reshape(1)[i.reshape(1)].reshape(
                        ()), "own")
    idx = draw(st.lists(st.integers(-1, n), max_size=4))
    return Case(kind, (a, d, idx), lambda m, x, k, i: x.index_select(k, m.tensor(i, dtype=m.int64)),
                lambda x, k, i: np.take(x, np.array(i, np.int64), axis=k) if nd else x.reshape(1)[i].reshape(
                    len(i)), "own")


@st.composite
def matmul(draw):
    k = draw(st.integers(0, 4))
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    sa = draw(st.sampled_from([(k,), (2, k), lead + (3, k)]))
    kb = k if draw(st.integers(0, 7)) else k + 1  # sometimes the inner sizes disagree
    sb = draw(st.sampled_from([(kb,), (kb, 2), lead[-1:] + (kb, 1)]))
    return Case("matmul", (draw(specs(shape=sa)), draw(specs(shape=sb))), lambda m, x, y: m.matmul(x, y),
                np.matmul)


@st.composite
def join(draw):
    base = draw(shapes(min_dims=1, max_dims=3))
    parts = [draw(specs(shape=draw(st.sampled_from([base, base[:-1] + (2,), (0,), base[1:]])))) for _ in
             range(draw(st.integers(1, 3)))]
    stack = draw(st.booleans())
    d = draw(dims_for(len(base) + stack))

    def ref(*xs):
        kept = [x for x in xs if stack or x.shape != (0,)]  # torch's cat skips 1-D empty tensors (legacy)
        if not kept:
            return np.concatenate(xs)
        xs = kept
        return np.stack(xs, d) if stack else np.concatenate(xs, d)
    return Case("stack" if stack else "cat", tuple(parts), lambda m, *xs: (m.stack if stack else m.cat)(
        list(xs), d), ref, "arith")


CASES = st.one_of(unary(), binary(), reduction(), view(), matmul(), join())
