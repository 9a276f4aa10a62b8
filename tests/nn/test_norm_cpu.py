"""LayerNorm and RMSNorm through the CPU fused kernels (csrc/cpu/norm.cpp): nn.functional takes them on CPU,
forward and backward match float64 (and torch), the weight gradients do not depend on the thread count,
and bad arguments raise."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import rng, torch
from norm_ce_reference import norm_backward, norm_forward

F = vt.nn.functional
TOL = {vt.float64: 1e-12, vt.float32: 2e-6, vt.bfloat16: 2e-2, vt.float16: 4e-3}
SHAPES = [(37, 48), (3, 5, 130), (1, 4097), (200, 1), (0, 8)]


def _rel(got, want):
    got = got.detach().to(vt.float64).numpy()
    return float(np.abs(got - want).max() / max(1.0, np.abs(want).max())) if want.size else 0.0


def _run(kind, shape, dtype, gen, affine=True):
    x, dy = gen.standard_normal(shape) * 3 + 1, gen.standard_normal(shape)
    w, b = gen.standard_normal(shape[-1]), gen.standard_normal(shape[-1])
    X, W, B, DY = (vt.tensor(a).to(dtype) for a in (x, w, b, dy))
    x, w, b, dy = (a.to(vt.float64).numpy() for a in (X, W, B, DY))  # the rounded values are the inputs
    X.requires_grad_(), W.requires_grad_(), B.requires_grad_()
    n = (shape[-1],)
    if kind == "ln":
        y = F.layer_norm(X, n, W, B) if affine else F.layer_norm(X, n)
    else:
        y = F.rms_norm(X, n, W, 1e-5) if affine else F.rms_norm(X, n, eps=1e-5)
    y.backward(DY)
    want_y = norm_forward(kind, x, w if affine else None, b if affine and kind == "ln" else None)[0]
    dx, dw, db = norm_backward(kind, dy, x, w if affine else None)
    return y, X, W, B, want_y, dx, dw, db


@pytest.mark.parametrize("dtype", [vt.float64, vt.float32, vt.bfloat16, vt.float16])
@pytest.mark.parametrize("kind", ["ln", "rms"])
def test_norms_match_float64(kind, dtype):
    gen = rng()
    for shape in SHAPES:
        y, X, W, B, want_y, dx, dw, db = _run(kind, shape, dtype, gen)
        assert y.dtype == dtype and tuple(y.shape) == shape
        grads = [(X.grad, dx), (W.grad, dw)] + ([(B.grad, db)] if kind == "ln" else [])
        for got, want in [(y, want_y)] + grads:
            assert _rel(got, want) < TOL[dtype], (kind, shape, dtype)
        y, X, *_, want_y, dx, _, _ = _run(kind, shape, dtype, gen, affine=False)
        assert _rel(y, want_y) < TOL[dtype] and _rel(X.grad, dx) < TOL[dtype]


def test_cpu_takes_the_fused_op():
    """One recorded op each: the fused op, not the composite's chain."""
    x = vt.randn(6, 10, requires_grad=True)
    assert type(F.layer_norm(x, (10,), vt.randn(10), vt.randn(10)).grad_fn).__name__ == "NativeLayerNormBackward0"
    assert type(F.rms_norm(x, (10,), vt.randn(10)).grad_fn).__name__ == "FusedRmsNormBackward0"


def test_weight_gradients_do_not_depend_on_threads():
    gen = rng()
    x, dy = vt.tensor(gen.standard_normal((3000, 64))), vt.tensor(gen.standard_normal((3000, 64)))
    w, b = vt.tensor(gen.standard_normal(64)), vt.tensor(gen.standard_normal(64))
    x, dy, w, b = (t.to(vt.float32) for t in (x, dy, w, b))
    threads = vt.get_num_threads()
    try:
        out = []
        for n in (1, 2, 3):
            vt.set_num_threads(n)
            mean, rstd = vt.ops.native_layer_norm(x, [64], w, b, 1e-5)[1:]
            out.append([t.numpy() for t in vt.ops.native_layer_norm_backward(dy, x, [64], mean, rstd, w, True)])
        for other in out[1:]:
            for a, c in zip(out[0], other):
                assert np.array_equal(a, c)
    finally:
        vt.set_num_threads(threads)


def test_bad_arguments_raise():
    x = vt.randn(4, 6)
    with pytest.raises(ValueError, match="normalized_shape does not match"):
        vt.ops.native_layer_norm(x, [5], None, None, 1e-5)
    with pytest.raises(ValueError, match="bias only with a weight"):
        vt.ops.native_layer_norm(x, [6], None, vt.randn(6), 1e-5)
    with pytest.raises(TypeError, match="input's dtype"):
        vt.ops.native_layer_norm(x, [6], vt.randn(6).double(), None, 1e-5)
    with pytest.raises(TypeError, match="floating point"):
        vt.ops._fused_rms_norm(vt.ones(4, 6, dtype=vt.int64), [6], None, 1e-5)
    mean, rstd = vt.ops.native_layer_norm(x, [6], None, None, 1e-5)[1:]
    with pytest.raises(ValueError, match="one statistic per row"):
        vt.ops.native_layer_norm_backward(vt.randn(4, 6), x, [6], mean[:3], rstd, None, False)
    with pytest.raises(ValueError, match="grad_out must match"):
        vt.ops.native_layer_norm_backward(vt.randn(4, 5), x, [6], mean, rstd, None, False)
    # nn.functional keeps its composite for what the fused op does not take: wider weights than the input
    y = F.layer_norm(x.to(vt.bfloat16), (6,), vt.ones(6), vt.zeros(6))
    assert y.dtype == vt.bfloat16


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("kind", ["ln", "rms"])
def test_same_as_torch(kind):
    gen = rng()
    x, w, b = gen.standard_normal((5, 7, 33)), gen.standard_normal(33), gen.standard_normal(33)
    X, W, B = (vt.tensor(a, dtype=vt.float32, requires_grad=True) for a in (x, w, b))
    TX, TW, TB = (torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in (x, w, b))
    if kind == "ln":
        y, ty = F.layer_norm(X, (33,), W, B), torch.nn.functional.layer_norm(TX, (33,), TW, TB)
    else:
        y, ty = F.rms_norm(X, (33,), W, 1e-6), torch.nn.functional.rms_norm(TX, (33,), TW, 1e-6)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    for a, t in ((y, ty), (X.grad, TX.grad), (W.grad, TW.grad)) + (((B.grad, TB.grad),) if kind == "ln" else ()):
        np.testing.assert_allclose(a.detach().numpy(), t.detach().numpy(), rtol=2e-5, atol=2e-5)
