"""The LayerNorm / RMSNorm and cross-entropy Triton kernels, run by Triton's interpreter against the
float64 numpy references (tests/norm_ce_reference.py), forward and backward."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels import interpret_norm as run
from helpers import TOLERANCES, random_array, rng
import norm_ce_reference as ref

triton = pytest.importorskip("triton")

DTYPES = [vt.float32, vt.float16, vt.bfloat16]
# statistics are fp32 in every dtype; a low-precision result is one rounding of them (bf16: 2^-8 relative)
TOL = {vt.float32: (1e-4, 1e-5), vt.float16: (2e-3, 2e-3), vt.bfloat16: (1.6e-2, 1.6e-2)}


def _vt(a, dtype):
    return vt.tensor(a).to(dtype)


def _np(t):
    return t.float().numpy().astype(np.float64)


def test_references_match_numeric_gradients():
    gen = rng()
    x, w, dy = gen.normal(size=(3, 7)), gen.normal(size=7), gen.normal(size=(3, 7))
    for kind in ("ln", "rms"):
        dx, dw, _ = ref.norm_backward(kind, dy, x, w)
        f = lambda xx: (ref.norm_forward(kind, xx, w)[0] * dy).sum()  # noqa: E731
        np.testing.assert_allclose(dx, ref.numeric_grad(f, x), rtol=1e-6, atol=1e-7)
        fw = lambda ww: (ref.norm_forward(kind, x, ww)[0] * dy).sum()  # noqa: E731
        np.testing.assert_allclose(dw, ref.numeric_grad(fw, w), rtol=1e-6, atol=1e-7)
    logits, target = gen.normal(size=(4, 5)), np.array([1, -100, 4, 0])
    g = ref.cross_entropy_backward(0.7, logits, target, smoothing=0.2)
    fl = lambda z: 0.7 * ref.cross_entropy_forward(z, target, smoothing=0.2)[0]  # noqa: E731
    np.testing.assert_allclose(g, ref.numeric_grad(fl, logits), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,affine", [("ln", "-"), ("ln", "w"), ("ln", "wb"), ("rms", "-"), ("rms", "w")])
def test_norm_forward_and_backward(dtype, kind, affine):
    gen = rng()
    rows, n = 7, 100  # N not a power of two: the block's tail is masked
    x = random_array((rows, n), dtype, gen)
    w = random_array((n,), dtype, gen, low=0.5, high=1.5) if affine != "-" else None
    b = random_array((n,), dtype, gen) if affine == "wb" else None
    dy = random_array((rows, n), dtype, gen, low=-1, high=1)
    rtol, atol = TOL[dtype]
    y, mean, rstd = run.norm_forward(kind, _vt(x, dtype), None if w is None else _vt(w, dtype),
                                     None if b is None else _vt(b, dtype), eps=1e-5)
    ey, emean, erstd = ref.norm_forward(kind, x, w, b, 1e-5)
    np.testing.assert_allclose(_np(y), ey, rtol=rtol, atol=atol * 4)
    np.testing.assert_allclose(rstd.numpy(), erstd, rtol=1e-5)
    if kind == "ln":
        np.testing.assert_allclose(mean.numpy(), emean, rtol=1e-5, atol=1e-6)
    # 3 programs over 7 rows: rows 0, 3, 6 / 1, 4 / 2, 5, each program's weight gradient in its own row
    dx, dw, db = run.norm_backward(kind, _vt(dy, dtype), _vt(x, dtype), mean, rstd,
                                   None if w is None else _vt(w, dtype), has_bias=b is not None, programs=3)
    edx, edw, edb = ref.norm_backward(kind, dy, x, w, 1e-5)
    np.testing.assert_allclose(_np(dx), edx, rtol=rtol, atol=atol * 8)
    if w is not None:
        assert tuple(dw.shape) == (3, n)
        np.testing.assert_allclose(dw.numpy().sum(0), edw, rtol=1e-4, atol=1e-4)
    if b is not None:
        np.testing.assert_allclose(db.numpy().sum(0), edb, rtol=1e-4, atol=1e-4)


def test_norm_float64_rows_keep_float64_statistics():
    gen = rng()
    x, w = gen.normal(size=(4, 33)), gen.normal(size=33)
    y, _, rstd = run.norm_forward("ln", vt.tensor(x), vt.tensor(w), None, eps=1e-6)
    assert rstd.dtype == vt.float64
    np.testing.assert_allclose(y.numpy(), ref.norm_forward("ln", x, w, None, 1e-6)[0], *TOLERANCES[vt.float64])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_forward_and_backward(dtype, smoothing):
    gen = rng()
    rows, n = 6, 300  # streamed in 128-wide chunks: two whole ones and a masked tail
    logits = random_array((rows, n), dtype, gen) * 2
    target = gen.integers(0, n, size=rows)
    target[[1, 4]] = -100  # ignored rows: no loss, no count, zero gradient
    t = vt.tensor(target.astype(np.int64))
    loss, lse, count = run.cross_entropy_forward(_vt(logits, dtype), t, smoothing=smoothing, block=128)
    eloss, else_ = ref.cross_entropy_forward(logits, target, smoothing=smoothing)
    assert loss.dtype == dtype and count.item() == 4
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(lse.numpy(), else_, rtol=1e-5)
    np.testing.assert_allclose(loss.float().item(), eloss, rtol=rtol, atol=atol)
    grad = vt.tensor(0.5).to(dtype)
    dx = run.cross_entropy_backward(grad, _vt(logits, dtype), t, lse, count, smoothing=smoothing, block=128)
    edx = ref.cross_entropy_backward(0.5, logits, target, smoothing=smoothing)
    np.testing.assert_allclose(_np(dx), edx, rtol=rtol, atol=atol * 1e-2)
    assert not _np(dx)[[1, 4]].any()


def test_cross_entropy_ignore_index_and_out_of_range_targets():
    gen = rng()
    logits = gen.normal(size=(3, 50)).astype(np.float32)
    target = np.array([7, 3, 49], np.int64)
    loss, _, count = run.cross_entropy_forward(vt.tensor(logits), vt.tensor(target), ignore_index=3, block=16)
    assert count.item() == 2
    np.testing.assert_allclose(loss.item(), ref.cross_entropy_forward(logits, target, 3)[0], rtol=1e-5)
    # a target past the classes is recorded in the status word (the runner raises it as the runtime would)
    with pytest.raises(IndexError, match="index 50 is out of bounds for dimension 1 with size 50"):
        run.cross_entropy_forward(vt.tensor(logits), vt.tensor(np.array([7, 50, 1], np.int64)), block=16)
