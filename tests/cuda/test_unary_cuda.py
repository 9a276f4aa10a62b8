"""Unary elementwise ops on the GPU against the same op on CPU (itself tested against float64 references)."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import random_array, rng

pytestmark = pytest.mark.cuda

POSITIVE = {"sqrt", "rsqrt", "log", "log2", "log10", "log1p", "lgamma", "digamma"}
UNIT = {"asin", "acos", "atanh", "erfinv"}
FLOAT_OPS = ["sqrt", "rsqrt", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "asin",
             "acos", "atan", "sinh", "cosh", "tanh", "asinh", "erf", "erfc", "erfinv", "lgamma", "digamma",
             "sigmoid", "reciprocal", "silu", "mish", "abs", "neg", "sign", "square", "relu", "floor", "ceil",
             "trunc", "frac", "round", "gelu", "nan_to_num"]
TOL = {vt.float32: 3e-6, vt.float64: 1e-12, vt.bfloat16: 1e-2, vt.float16: 2e-3}


def inputs(op, dtype, shape=(37, 29)):
    gen = rng()
    if op in POSITIVE:
        a = random_array(shape, vt.float64, gen, positive=True)
    elif op in UNIT:
        a = random_array(shape, vt.float64, gen, low=-0.9, high=0.9)
    else:
        a = random_array(shape, vt.float64, gen)
    return vt.tensor(a).to(dtype)


@pytest.mark.parametrize("op", FLOAT_OPS)
@pytest.mark.parametrize("dtype", [vt.float32, vt.float16, vt.bfloat16, vt.float64])
def test_unary_matches_cpu(op, dtype):
    x = inputs(op, dtype)
    tol = 1e-9 if op == "digamma" and dtype == vt.float64 else TOL[dtype]  # series truncated at ~1e-11
    fn = getattr(vt, op)
    for xc in (x, x.t(), x[::2, 1::3]):  # contiguous, transposed, sliced
        want = fn(xc).to(vt.float64).numpy()
        got = fn(xc.cuda())
        assert got.is_cuda and got.dtype == dtype
        np.testing.assert_allclose(got.cpu().to(vt.float64).numpy(), want, rtol=tol, atol=tol, err_msg=op)
    y = x.cuda()
    getattr(y, op + "_")() if hasattr(y, op + "_") else None  # in place writes the same values
    if hasattr(x, op + "_"):
        np.testing.assert_allclose(y.cpu().to(vt.float64).numpy(), fn(x).to(vt.float64).numpy(),
                                   rtol=tol, atol=tol, err_msg=op)


@pytest.mark.parametrize("call", [lambda t: vt.gelu(t, approximate="tanh"), lambda t: vt.softplus(t, 2.0, 3.0),
                                  lambda t: vt.elu(t, 0.5), lambda t: vt.leaky_relu(t, 0.2),
                                  lambda t: vt.hardtanh(t, -1.5, 0.5), lambda t: vt.round(t, decimals=2),
                                  lambda t: vt.round(t * 1000, decimals=-2)])
def test_parametrised_unary(call):
    x = inputs("x", vt.float32)
    np.testing.assert_allclose(call(x.cuda()).cpu().numpy(), call(x).numpy(), rtol=1e-6, atol=1e-5)


def test_integer_and_special_values():
    i = vt.tensor([-3, 0, 7, -128], dtype=vt.int32).cuda()
    for op in ("abs", "neg", "sign", "square", "relu", "floor", "ceil", "trunc", "round", "bitwise_not"):
        got = getattr(vt, op)(i)
        assert got.dtype == vt.int32 and got.cpu().tolist() == getattr(vt, op)(i.cpu()).tolist(), op
    assert vt.sqrt(i.abs()).dtype == vt.float32  # integer inputs of float ops compute in float32
    s = vt.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 1.0])
    for op in ("isnan", "isinf", "isfinite", "signbit", "logical_not"):
        assert getattr(vt, op)(s.cuda()).cpu().tolist() == getattr(vt, op)(s).tolist(), op
        assert getattr(vt, op)(i).cpu().tolist() == getattr(vt, op)(i.cpu()).tolist(), op
    assert vt.nan_to_num(s.cuda(), nan=1.0).cpu().tolist() == vt.nan_to_num(s, nan=1.0).tolist()
    b = vt.tensor([True, False]).cuda()
    assert (~b).cpu().tolist() == [False, True]
    with pytest.raises(TypeError, match="bool"):
        vt.neg(b)
    with pytest.raises(TypeError):
        vt.frac(i)
