"""Fused LayerNorm / RMSNorm and cross-entropy on the GPU (vt.nn.functional's CUDA path) against the float64
references (tests/norm_ce_reference.py), against torch's functions, and through autograd."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import random_array, rng
import norm_ce_reference as ref

pytestmark = pytest.mark.cuda
F = vt.nn.functional
TOL = {vt.float32: (1e-4, 1e-5), vt.float64: (1e-10, 1e-12), vt.float16: (2e-3, 2e-3), vt.bfloat16: (1.6e-2, 1.6e-2)}


def _np(t):
    return t.detach().cpu().to(vt.float64).numpy()


def _leaf(a, dtype):
    return vt.tensor(a).to(dtype).cuda().requires_grad_(True)


@pytest.mark.parametrize("dtype", [vt.float32, vt.float64, vt.float16, vt.bfloat16])
@pytest.mark.parametrize("kind,affine", [("ln", "-"), ("ln", "w"), ("ln", "wb"), ("rms", "-"), ("rms", "w")])
@pytest.mark.parametrize("shape", [(3, 5, 100), (1000, 768), (64, 5000)])
def test_norm_forward_and_backward_match_float64(dtype, kind, affine, shape):
    gen = rng()
    n = shape[-1]
    a = random_array(shape, dtype, gen)
    w = random_array((n,), dtype, gen, low=0.5, high=1.5) if affine != "-" else None
    b = random_array((n,), dtype, gen) if affine == "wb" else None
    dy = random_array(shape, dtype, gen, low=-1, high=1)
    x = _leaf(a, dtype)
    wt = _leaf(w, dtype) if w is not None else None
    bt = _leaf(b, dtype) if b is not None else None
    y = F.layer_norm(x, [n], wt, bt, 1e-5) if kind == "ln" else F.rms_norm(x, [n], wt, 1e-5)
    rtol, atol = TOL[dtype]
    assert y.dtype == dtype and y.device == x.device
    np.testing.assert_allclose(_np(y), ref.norm_forward(kind, a, w, b, 1e-5)[0], rtol=rtol, atol=4 * atol)
    inputs = [t for t in (x, wt, bt) if t is not None]
    grads = vt.autograd.grad(y, inputs, vt.tensor(dy).to(dtype).cuda())
    edx, edw, edb = ref.norm_backward(kind, dy, a, w, 1e-5)
    np.testing.assert_allclose(_np(grads[0]), edx, rtol=rtol, atol=8 * atol)
    rows = a.size // n  # weight gradients sum `rows` products: their error grows with it
    for got, want in zip(grads[1:], (edw, edb)):
        np.testing.assert_allclose(_np(got), want, rtol=rtol, atol=atol * max(8, np.sqrt(rows)))


def test_norm_falls_back_to_the_composite_beyond_fused_rows():
    a = random_array((2, 20000), vt.float32, rng())
    y = F.layer_norm(vt.tensor(a).cuda(), [20000])
    np.testing.assert_allclose(_np(y), ref.norm_forward("ln", a)[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [vt.float32, vt.float16, vt.bfloat16])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("shape", [(37, 1000), (64, 32768 + 5)])
def test_cross_entropy_matches_float64(dtype, smoothing, shape):
    gen = rng()
    logits = random_array(shape, dtype, gen) * 2
    target = gen.integers(0, shape[1], size=shape[0])
    target[::5] = -100
    x = _leaf(logits, dtype)
    t = vt.tensor(target.astype(np.int64)).cuda()
    loss = F.cross_entropy(x, t, label_smoothing=smoothing)
    rtol, atol = TOL[dtype]
    assert loss.dtype == dtype and loss.shape == ()
    np.testing.assert_allclose(_np(loss), ref.cross_entropy_forward(logits, target, -100, smoothing)[0], rtol=rtol,
                               atol=atol)
    (g,) = vt.autograd.grad(loss * 3.0, [x])
    edx = ref.cross_entropy_backward(3.0, logits, target, -100, smoothing)
    np.testing.assert_allclose(_np(g), edx, rtol=rtol, atol=atol * 1e-2)


def test_cross_entropy_all_rows_ignored_is_nan_like_torch():
    x = vt.randn(4, 10).cuda()
    assert np.isnan(F.cross_entropy(x, vt.full([4], -100, dtype=vt.int64).cuda()).item())


def test_fused_ops_match_their_cpu_composites():
    """The CUDA kernels agree with the ops' CPU composite kernels (gradchecked in tests/autograd) in float64."""
    gen = rng()
    a, w, b = gen.normal(size=(4, 9)), gen.normal(size=9), gen.normal(size=9)
    target = np.array([1, -100, 8, 0], np.int64)
    cases = [
        (lambda x, w, b: vt.ops.native_layer_norm(x, [9], w, b, 1e-5), (a, w, b)),
        (lambda x, w: vt.ops._fused_rms_norm(x, [9], w, 1e-5), (a, w)),
        (lambda x, t: vt.ops._cross_entropy_logits(x, t, -100, 0.1), (a, target)),
    ]
    for fn, arrays in cases:
        for got, want in zip(fn(*[vt.tensor(v).cuda() for v in arrays]), fn(*[vt.tensor(v) for v in arrays])):
            np.testing.assert_allclose(_np(got), _np(want), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
def test_against_torch_functions(dtype_name):
    torch = pytest.importorskip("torch")
    dt, tdt = getattr(vt, dtype_name), getattr(torch, dtype_name)
    host = vt.randn(256, 1024).to(dt)
    x, tx = host.cuda().requires_grad_(True), torch.from_dlpack(host).cuda().requires_grad_(True)
    w_host = (vt.rand(1024) + 0.5).to(dt)
    w, tw = w_host.cuda().requires_grad_(True), torch.from_dlpack(w_host).cuda().requires_grad_(True)
    target = vt.randint(0, 1024, [256])
    target[::7] = -100
    tt = torch.from_dlpack(target).cuda()
    tol = 2e-2 if dtype_name == "bfloat16" else 1e-4
    pairs = [
        (lambda: F.layer_norm(x, [1024], w), lambda: torch.nn.functional.layer_norm(tx, [1024], tw), [x, w], [tx, tw]),
        (lambda: F.rms_norm(x, [1024], w, 1e-6), lambda: torch.nn.functional.rms_norm(tx, [1024], tw, 1e-6), [x, w],
         [tx, tw]),
        (lambda: F.cross_entropy(x, target.cuda(), label_smoothing=0.05),
         lambda: torch.nn.functional.cross_entropy(tx, tt, label_smoothing=0.05), [x], [tx]),
    ]
    for fv, ft, iv, it in pairs:
        yv, yt = fv(), ft()
        assert yt.dtype == tdt
        np.testing.assert_allclose(_np(yv), yt.detach().double().cpu().numpy(), rtol=tol, atol=tol)
        gy = vt.randn(list(yv.shape)).to(dt)  # 0-d for the loss
        for a, b in zip(vt.autograd.grad(yv, iv, gy.cuda()), torch.autograd.grad(yt, it, torch.from_dlpack(gy).cuda())):
            want = b.double().cpu().numpy()
            np.testing.assert_allclose(_np(a), want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))


def test_norm_output_modified_in_place_still_differentiates():
    """Only the statistics are saved (result=(1, 2)): an in-place op on the output leaves backward valid."""
    a = random_array((8, 64), vt.float32, rng())
    x = _leaf(a, vt.float32)
    y = F.layer_norm(x, [64])
    y.mul_(2.0)
    (g,) = vt.autograd.grad(y.sum(), [x])
    np.testing.assert_allclose(_np(g), ref.norm_backward("ln", np.full(a.shape, 2.0), a)[0], rtol=1e-4, atol=1e-5)


def test_cross_entropy_out_of_range_target_raises_index_error_and_the_runtime_survives():
    x = vt.randn(3, 5).cuda()
    with pytest.raises(IndexError, match=r"index 7 is out of bounds for dimension 1 with size 5 \(cross_entropy"):
        F.cross_entropy(x, vt.tensor([1, 7, 2]).cuda()).item()
    assert float(F.cross_entropy(x, vt.tensor([1, 4, 2]).cuda()).item()) > 0
