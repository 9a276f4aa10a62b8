"""Unary, binary and ternary elementwise ops against float64 numpy and torch, across dtypes and layouts."""
import math

import numpy as np
import pytest
from scipy.special import digamma as digamma_ref, erfinv as erfinv_ref, gammaln as lgamma_ref

import vibetensor as vt
from helpers import (FLOAT_DTYPES, INT_DTYPES, assert_close, make, random_array, rng, torch, torch_call,
                     torch_to_numpy)

LAYOUTS = ["contiguous", "transposed", "strided"]

# name -> (numpy float64 reference, input domain: "any" | "positive" | "unit" (|x| < 1) | "ge1")
UNARY_FLOAT = {
    "sqrt": (np.sqrt, "positive"), "rsqrt": (lambda x: 1 / np.sqrt(x), "positive"), "exp": (np.exp, "any"),
    "exp2": (np.exp2, "any"), "expm1": (np.expm1, "any"), "log": (np.log, "positive"),
    "log2": (np.log2, "positive"), "log10": (np.log10, "positive"), "log1p": (np.log1p, "positive"),
    "sin": (np.sin, "any"), "cos": (np.cos, "any"), "tan": (np.tan, "unit"), "asin": (np.arcsin, "unit"),
    "acos": (np.arccos, "unit"), "atan": (np.arctan, "any"), "sinh": (np.sinh, "any"), "cosh": (np.cosh, "any"),
    "tanh": (np.tanh, "any"), "asinh": (np.arcsinh, "any"), "acosh": (np.arccosh, "ge1"),
    "atanh": (np.arctanh, "unit"), "erf": (np.vectorize(math.erf), "any"), "erfc": (np.vectorize(math.erfc), "any"),
    "erfinv": (erfinv_ref, "unit"), "lgamma": (lgamma_ref, "positive"), "digamma": (digamma_ref, "positive"),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), "any"), "reciprocal": (lambda x: 1 / x, "any"),
    "silu": (lambda x: x / (1 + np.exp(-x)), "any"),
    "mish": (lambda x: x * np.tanh(np.log1p(np.exp(x))), "any"),
}
UNARY_NUMERIC = {
    "abs": np.abs, "neg": np.negative, "sign": np.sign, "square": np.square, "relu": lambda x: np.maximum(x, 0),
    "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc,
}


def domain_input(shape, dtype, domain, gen):
    if domain == "positive":
        return random_array(shape, dtype, gen, positive=True)
    if domain == "unit":
        return random_array(shape, dtype, gen, low=-0.95, high=0.95)
    if domain == "ge1":
        return random_array(shape, dtype, gen, low=1.05, high=4.0)
    return random_array(shape, dtype, gen)


@pytest.mark.parametrize("name", sorted(UNARY_FLOAT))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_unary_float(name, dtype):
    ref, domain = UNARY_FLOAT[name]
    gen = rng()
    for layout in LAYOUTS:
        a = domain_input((5, 7), dtype, domain, gen)
        x = make(a, dtype, layout)
        out = getattr(x, name)()
        assert out.dtype == dtype and out.shape == x.shape
        assert_close(out, ref(a), dtype, rtol=5e-2 if dtype == vt.bfloat16 else None)
        # the function form and the in-place form agree
        assert_close(getattr(vt, name)(x), ref(a), dtype, rtol=5e-2 if dtype == vt.bfloat16 else None)
        y = x.clone()
        v = y._version
        assert getattr(y, name + "_")() is y and y._version > v
        assert_close(y, ref(a), dtype, rtol=5e-2 if dtype == vt.bfloat16 else None)


@pytest.mark.parametrize("name", sorted(UNARY_FLOAT))
def test_unary_float_promotes_integers(name):
    ref, domain = UNARY_FLOAT[name]
    if domain in ("unit",):
        a = np.array([0, 0, 0], np.int32) if name not in ("acos", "asin", "atanh", "tan", "erfinv") else np.zeros(3, np.int32)
    else:
        a = np.array([1, 2, 3], np.int32)
    out = getattr(vt.tensor(a), name)()
    assert out.dtype == vt.float32
    assert_close(out, ref(a.astype(np.float64)), vt.float32)
    with pytest.raises(TypeError, match="can't be cast"):
        getattr(vt.tensor(a), name + "_")()


@pytest.mark.parametrize("name", sorted(UNARY_NUMERIC))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + [vt.int8, vt.int32, vt.int64])
def test_unary_numeric(name, dtype):
    gen = rng()
    for layout in LAYOUTS:
        a = random_array((4, 6), dtype, gen)
        out = getattr(make(a, dtype, layout), name)()
        assert out.dtype == dtype
        assert_close(out, UNARY_NUMERIC[name](a.astype(np.float64)).astype(out.numpy().dtype if not dtype.is_floating_point else np.float64), dtype)


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("name", sorted(set(UNARY_FLOAT) | set(UNARY_NUMERIC)))
def test_unary_matches_torch(name):
    gen = rng()
    domain = UNARY_FLOAT.get(name, (None, "positive"))[1]
    a = domain_input((3, 5), vt.float32, domain, gen)
    x = make(a, vt.float32)
    expected = torch_to_numpy(torch_call(name, x))
    np.testing.assert_allclose(getattr(vt, name)(x).numpy(), expected, rtol=2e-6, atol=1e-6)


def test_special_values():
    x = vt.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0])
    assert np.isnan(x.exp().numpy()[0]) and x.exp().numpy()[1] == np.inf and x.exp().numpy()[2] == 0
    assert x.isnan().tolist() == [True, False, False, False, False]
    assert x.isinf().tolist() == [False, True, True, False, False]
    assert x.isfinite().tolist() == [False, False, False, True, True]
    assert x.signbit().tolist() == [False, False, True, False, True]
    assert x.nan_to_num().tolist()[:3] == [0.0, np.finfo(np.float32).max, -np.finfo(np.float32).max]
    assert x.nan_to_num(nan=1.0, posinf=2.0, neginf=-2.0).tolist() == [1.0, 2.0, -2.0, 0.0, -0.0]
    assert vt.tensor([-3, 0, 5]).sign().tolist() == [-1, 0, 1]
    assert vt.tensor([1.5, 2.5, -0.5]).round().tolist() == [2.0, 2.0, -0.0]  # ties to even
    assert vt.tensor([1.2345, 6.789]).round(decimals=2).tolist() == pytest.approx([1.23, 6.79])


def test_parametrised_activations():
    gen = rng()
    a = random_array((6, 4), vt.float64, gen)
    x = make(a, vt.float64)
    erf = np.vectorize(math.erf)
    assert_close(vt.gelu(x), 0.5 * a * (1 + erf(a / math.sqrt(2))), vt.float64)
    assert_close(vt.gelu(x, approximate="tanh"),
                 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3))), vt.float64)
    assert_close(vt.softplus(x, 2.0, 3.0), np.where(2 * a > 3, a, np.log1p(np.exp(2 * a)) / 2), vt.float64)
    assert_close(vt.elu(x, 0.7), np.where(a > 0, a, 0.7 * np.expm1(a)), vt.float64)
    assert_close(vt.leaky_relu(x, 0.1), np.where(a > 0, a, 0.1 * a), vt.float64)
    assert_close(vt.hardtanh(x, -1.5, 2.0), np.clip(a, -1.5, 2.0), vt.float64)
    with pytest.raises(ValueError, match="approximate"):
        vt.gelu(x, approximate="fast")


# ---- binary ----------------------------------------------------------------------------------------------
BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum, "minimum": np.minimum,
    "fmax": np.fmax, "fmin": np.fmin,
}
BINARY_FLOAT = {
    "div": np.divide, "atan2": np.arctan2, "hypot": np.hypot, "copysign": np.copysign,
    "logaddexp": np.logaddexp, "xlogy": lambda x, y: np.where(x == 0, 0, x * np.log(y)),
}


@pytest.mark.parametrize("name", sorted(BINARY) + sorted(BINARY_FLOAT))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + [vt.int16, vt.int64])
def test_binary(name, dtype):
    gen = rng()
    ref = BINARY.get(name) or BINARY_FLOAT[name]
    positive = name == "xlogy"
    shapes = [((4, 5), (4, 5)), ((4, 1), (1, 5)), ((3, 4, 5), (5,)), ((), (2, 3)), ((0, 3), (1, 3))]
    for (sa, sb), layout in zip(shapes, LAYOUTS * 2):
        a = random_array(sa, dtype, gen)
        b = random_array(sb, dtype, gen, positive=positive)
        out = getattr(vt, name)(make(a, dtype, layout), make(b, dtype))
        expect_dtype = vt.float32 if (name in BINARY_FLOAT and not dtype.is_floating_point) else dtype
        assert out.dtype == expect_dtype, (name, dtype, out.dtype)
        expected = ref(a.astype(np.float64), b.astype(np.float64))
        if not expect_dtype.is_floating_point:
            expected = expected.astype(out.numpy().dtype)
        assert_close(out, expected, expect_dtype)


@pytest.mark.parametrize("dtype", [vt.float32, vt.int32, vt.int64])
def test_division_modes(dtype):
    gen = rng()
    a = random_array((50,), dtype, gen, low=-20, high=20)
    b = random_array((50,), dtype, gen, low=-7, high=7)
    x, y = make(a, dtype), make(b, dtype)
    af, bf = a.astype(np.float64), b.astype(np.float64)
    assert_close(vt.div(x, y, rounding_mode="trunc"), np.trunc(af / bf).astype(x.numpy().dtype), dtype)
    assert_close(vt.div(x, y, rounding_mode="floor"), np.floor(af / bf).astype(x.numpy().dtype), dtype)
    assert_close(x // y, np.floor(af / bf).astype(x.numpy().dtype), dtype)
    assert_close(x % y, np.mod(af, bf).astype(x.numpy().dtype), dtype, rtol=1e-4)
    assert_close(vt.fmod(x, y), np.fmod(af, bf).astype(x.numpy().dtype), dtype, rtol=1e-4)
    if not dtype.is_floating_point:
        with pytest.raises(ValueError, match="ZeroDivisionError"):
            x // vt.zeros(50, dtype=dtype)
        with pytest.raises(ValueError, match="rounding_mode"):
            vt.div(x, y, rounding_mode="round")


def test_pow():
    gen = rng()
    a = random_array((20,), vt.float64, gen, positive=True)
    b = random_array((20,), vt.float64, gen)
    assert_close(make(a, vt.float64) ** make(b, vt.float64), a**b, vt.float64)
    assert_close(make(a, vt.float64) ** 2, a**2, vt.float64)
    assert_close(make(a, vt.float64) ** 0.5, np.sqrt(a), vt.float64)
    assert_close(2.0 ** make(b, vt.float64), 2.0**b, vt.float64)
    i = vt.tensor([2, 3, -2])
    assert (i**3).tolist() == [8, 27, -8] and (i**3).dtype == vt.int64
    assert (i ** 0.5).dtype == vt.float32
    assert vt.tensor([1, -1]).pow(vt.tensor([-3, -3])).tolist() == [1, -1]
    with pytest.raises(ValueError, match="negative integer powers"):
        i ** -1


def test_comparisons_and_logic():
    gen = rng()
    for dtype in [vt.float32, vt.int32, vt.bool, vt.bfloat16]:
        a = random_array((3, 4), dtype, gen)
        b = random_array((3, 4), dtype, gen)
        a[0, 0] = b[0, 0]
        x, y = make(a, dtype), make(b, dtype)
        for op, ref in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
                        ("gt", np.greater), ("ge", np.greater_equal), ("logical_and", np.logical_and),
                        ("logical_or", np.logical_or), ("logical_xor", np.logical_xor)]:
            out = getattr(vt, op)(x, y)
            assert out.dtype == vt.bool
            np.testing.assert_array_equal(out.numpy(), ref(a, b))
    x = vt.tensor([1.0, 2.0, 3.0])
    assert (x == 2).tolist() == [False, True, False] and (2 < x).tolist() == [False, False, True]
    assert vt.logical_not(vt.tensor([0, 3])).tolist() == [True, False]
    y = x.clone()
    y.lt_(2.5)
    assert y.tolist() == [1.0, 1.0, 0.0] and y.dtype == vt.float32


def test_bitwise():
    gen = rng()
    a = random_array((10,), vt.int32, gen, low=-100, high=100)
    b = random_array((10,), vt.int32, gen, low=0, high=8)
    x, y = make(a, vt.int32), make(b, vt.int32)
    np.testing.assert_array_equal((x & y).numpy(), a & b)
    np.testing.assert_array_equal((x | y).numpy(), a | b)
    np.testing.assert_array_equal((x ^ y).numpy(), a ^ b)
    np.testing.assert_array_equal((~x).numpy(), ~a)
    np.testing.assert_array_equal((x << y).numpy(), a << b)
    np.testing.assert_array_equal((x >> y).numpy(), a >> b)
    assert (~vt.tensor([True, False])).tolist() == [False, True]
    with pytest.raises(TypeError, match="bitwise_and"):
        vt.tensor([1.0]) & vt.tensor([2.0])


# ---- type promotion ----------------------------------------------------------------------------------------
PROMOTION_CASES = [
    (vt.int32, vt.float16, vt.float16), (vt.uint8, vt.int8, vt.int16), (vt.bool, vt.int8, vt.int8),
    (vt.float16, vt.bfloat16, vt.float32), (vt.int64, vt.float32, vt.float32), (vt.uint8, vt.int64, vt.int64),
    (vt.float32, vt.float64, vt.float64), (vt.bool, vt.bool, vt.bool),
]


@pytest.mark.parametrize("a,b,expected", PROMOTION_CASES)
def test_tensor_promotion(a, b, expected):
    x = vt.ones(2, dtype=a)
    y = vt.ones(2, dtype=b)
    assert (x * y).dtype == expected


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_promotion_matches_torch_everywhere():
    dtypes = FLOAT_DTYPES + INT_DTYPES + [vt.bool]
    scalars = [True, 3, 2.5]
    for a in dtypes:
        for b in dtypes:
            got = (vt.ones(2, dtype=a) * vt.ones(2, dtype=b)).dtype
            want = (torch.ones(2, dtype=getattr(torch, a.name)) * torch.ones(2, dtype=getattr(torch, b.name))).dtype
            assert got.name == str(want).split(".")[1], (a, b)
            # a 0-d tensor of b only lifts a's dtype across categories
            got0 = (vt.ones(2, dtype=a) * vt.ones((), dtype=b)).dtype
            want0 = (torch.ones(2, dtype=getattr(torch, a.name)) * torch.ones((), dtype=getattr(torch, b.name))).dtype
            assert got0.name == str(want0).split(".")[1], (a, b, "0-d")
        for s in scalars:
            if a == vt.bool and isinstance(s, bool):
                continue
            got = (vt.ones(2, dtype=a) * s).dtype
            want = (torch.ones(2, dtype=getattr(torch, a.name)) * s).dtype
            assert got.name == str(want).split(".")[1], (a, s)


def test_scalar_operands_keep_precision():
    x = vt.ones(3, dtype=vt.float64)
    assert ((x * 0.1).tolist()[0]) == 0.1  # the Python float is not rounded through float32
    big = vt.tensor([2**40], dtype=vt.int64)
    assert (big + 1).tolist() == [2**40 + 1]
    assert (vt.tensor([200], dtype=vt.uint8) + 100).tolist() == [44]  # wraps like torch


# ---- ternary ---------------------------------------------------------------------------------------------------
def test_where_masked_fill_clamp_lerp_addc():
    gen = rng()
    a = random_array((4, 5), vt.float32, gen)
    b = random_array((4, 5), vt.float32, gen)
    c = a > 0
    x, y = make(a, vt.float32, "transposed"), make(b, vt.float32)
    assert_close(vt.where(vt.tensor(c), x, y), np.where(c, a, b), vt.float32)
    assert_close(vt.where(vt.tensor(c), x, 0.0), np.where(c, a, 0.0), vt.float32)
    assert vt.where(vt.tensor(c), vt.ones(4, 5, dtype=vt.int32), 2.5).dtype == vt.float32
    assert_close(x.masked_fill(vt.tensor(c), -1.0), np.where(c, -1.0, a), vt.float32)
    assert_close(x.masked_fill(vt.tensor(c[0]), 7.0), np.where(c[0], 7.0, a), vt.float32)  # broadcast mask
    assert_close(x.clamp(-1.0, 2.0), np.clip(a, -1, 2), vt.float32)
    assert_close(x.clamp(min=0.5), np.maximum(a, 0.5), vt.float32)
    assert_close(x.clamp(max=y), np.minimum(a, b), vt.float32)
    assert_close(vt.lerp(x, y, 0.3), a + 0.3 * (b - a), vt.float32)
    w = random_array((4, 5), vt.float32, gen, low=0, high=1)
    assert_close(vt.lerp(x, y, make(w, vt.float32)), a + w * (b - a), vt.float32)
    assert_close(vt.addcmul(x, y, y, value=0.5), a + 0.5 * b * b, vt.float32)
    assert_close(vt.addcdiv(x, y, y + 10, value=2), a + 2 * b / (b + 10), vt.float32)
    with pytest.raises(ValueError, match="At least one of 'min' or 'max'"):
        x.clamp()
    with pytest.raises(TypeError, match="boolean"):
        vt.where(vt.tensor(a), x, y)
    with pytest.raises(TypeError, match="boolean"):
        x.masked_fill(vt.tensor(a), 1.0)


# ---- in-place, overlap and bad input ----------------------------------------------------------------------
def test_inplace_semantics():
    x = vt.tensor([1.0, 2.0, 3.0])
    v = x._version
    y = x
    y += 1
    assert y is x and x.tolist() == [2.0, 3.0, 4.0] and x._version == v + 1
    x.mul_(2).sub_(1, alpha=2)
    assert x.tolist() == [2.0, 4.0, 6.0]
    view = x[1:]
    view.add_(10)
    assert x.tolist() == [2.0, 14.0, 16.0] and x._version == view._version
    i = vt.tensor([1, 2])
    with pytest.raises(TypeError, match="can't be cast to the desired output type"):
        i.add_(0.5)
    with pytest.raises(ValueError, match="doesn't match the broadcast shape"):
        vt.ones(3).add_(vt.ones(2, 3))


def test_overlap_checks():
    x = vt.arange(6.0)
    with pytest.raises(RuntimeError, match="single memory location"):
        x[1:].add_(x[:-1])
    e = vt.ones(1).expand(4)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        e.add_(1)
    x.add_(x)  # exact aliasing is fine
    assert x.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"size of tensor a \(3\) must match the size of tensor b \(4\)"):
        vt.ones(3) + vt.ones(4)
    with pytest.raises(TypeError, match="Subtraction"):
        vt.tensor([True]) - vt.tensor([False])
    with pytest.raises(TypeError, match="neg"):
        -vt.tensor([True])
    with pytest.raises(TypeError, match="alpha must not be a floating point"):
        vt.add(vt.tensor([1]), vt.tensor([2]), alpha=0.5)
    with pytest.raises(TypeError, match="argument 'other'"):
        vt.add(vt.ones(2), "a")
    with pytest.raises(TypeError):
        vt.ones(2) + "a"
    with pytest.raises(TypeError, match="abs"):
        vt.tensor([True]).abs()
