"""The bias + GELU / SiLU Triton kernels and the activations' gradient expressions, run by Triton's
interpreter against the float64 numpy references (tests/fused_act_reference.py), forward and backward."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels import interpret_fused_act as run
from vibetensor.kernels.interpret import run_elementwise
from helpers import random_array, rng
import fused_act_reference as ref
from norm_ce_reference import numeric_grad

triton = pytest.importorskip("triton")

ACTS = ["gelu", "gelu_tanh", "silu"]
# fp32 compute, one rounding to the output dtype
TOL = {vt.float32: (1e-5, 1e-6), vt.float64: (1e-12, 1e-13), vt.float16: (2e-3, 1e-3), vt.bfloat16: (1.6e-2, 1e-2)}


def _np(t):
    return t.float().numpy().astype(np.float64) if t.dtype != vt.float64 else t.numpy()


def test_reference_gradients_match_numeric_differences():
    z = rng().normal(size=11) * 3
    for name in ACTS:
        num = np.array([numeric_grad(lambda v: ref.act(name, v).sum(), z[i:i + 1])[0] for i in range(z.size)])
        np.testing.assert_allclose(ref.act_grad(name, z), num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.float64])
@pytest.mark.parametrize("act", ACTS)
def test_bias_act_forward_and_backward(dtype, act):
    gen = rng()
    m, n = 5, 37  # neither a multiple of the 2 x 16 tiles: the edge tiles are masked
    x, b, dy = random_array((m, n), dtype, gen), random_array((n,), dtype, gen), random_array((m, n), dtype, gen)
    xt, bt, dyt = (vt.tensor(a).to(dtype) for a in (x, b, dy))
    rtol, atol = TOL[dtype]
    y = run.bias_act_forward(act, xt, bt)
    np.testing.assert_allclose(_np(y), ref.bias_act_forward(act, x, b), rtol=rtol, atol=atol)
    # 2 programs over 3 row tiles: program 0 takes tiles 0 and 2, each program's bias gradient in its own row
    dx, db = run.bias_act_backward(act, dyt, xt, bt, programs=2)
    edx, edb = ref.bias_act_backward(act, dy, x, b)
    np.testing.assert_allclose(_np(dx), edx, rtol=rtol, atol=atol * 4)
    assert tuple(db.shape) == (2, n) and db.dtype == (vt.float64 if dtype == vt.float64 else vt.float32)
    np.testing.assert_allclose(db.numpy().sum(0), edb, rtol=max(rtol, 1e-5), atol=atol * 8)
    dx2, none = run.bias_act_backward(act, dyt, xt, bt, bias_grad=False, programs=3)
    assert none is None and np.array_equal(_np(dx2), _np(dx))


@pytest.mark.parametrize("act", ACTS)
def test_activation_gradient_expressions(act):
    gen = rng()
    x = random_array((300,), vt.float32, gen, low=-8, high=8)
    g = random_array((300,), vt.float32, gen)
    out = vt.empty(300)
    run_elementwise(act + "_backward", out, [vt.tensor(g).float(), vt.tensor(x).float()])
    # fp32: 1 + tanh cancels for large negative x (an absolute error of a few ulps of 1, as in torch)
    np.testing.assert_allclose(out.numpy(), g * ref.act_grad(act, x), rtol=2e-6, atol=2e-5)
