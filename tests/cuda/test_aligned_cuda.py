"""Aligned kernel keys on the GPU (kernel_library.h kAlignedSuffix, kernels/compile.py ALIGNED): the launcher
takes the 16-byte form only where every pointer it lists and the element count are multiples of 16, and the
plain form elsewhere (a view one element into its storage, an odd length); both give the float64
reference's values."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor import _C
from helpers import random_array, rng

pytestmark = pytest.mark.cuda
F = vt.nn.functional


def _np(t):
    return t.detach().cpu().to(vt.float64).numpy()


def _gelu(a):
    from math import erf
    return 0.5 * a * (1 + np.vectorize(erf)(a / np.sqrt(2)))


def _pair(shape, dtype, offset):
    """A random CUDA tensor of `shape` starting `offset` elements into its storage, and its float64 values."""
    n = int(np.prod(shape))
    base = vt.tensor(random_array((n + offset,), dtype, rng())).to(dtype).cuda()
    t = base[offset:].view(*shape)
    return t, _np(t)


def _used(prefix):
    return {k for k in _C._cuda.kernel_keys() if k.startswith(prefix)}


@pytest.mark.parametrize("dtype", [vt.bfloat16, vt.float32])
@pytest.mark.parametrize("offset,shape", [(0, (64, 96)), (1, (64, 96)), (0, (7, 9))])
def test_elementwise_aligned_and_plain_forms(dtype, offset, shape):
    x, xa = _pair(shape, dtype, offset)
    y, ya = _pair(shape, dtype, 0)
    tol = 1.6e-2 if dtype == vt.bfloat16 else 1e-5
    np.testing.assert_allclose(_np(F.gelu(x)), _gelu(xa), rtol=tol, atol=tol)
    np.testing.assert_allclose(_np(x * y), xa * ya, rtol=tol, atol=tol)
    key = f"ew|mul|{dtype.name},{dtype.name}|{dtype.name}|ccc|0"
    assert (key + "@a16" if offset == 0 and np.prod(shape) % 16 == 0 else key) in _used(key)


@pytest.mark.parametrize("offset", [0, 1])
def test_dropout_aligned_and_plain_forms(offset):
    x, xa = _pair((128, 64), vt.bfloat16, offset)
    y, mask = vt.ops.native_dropout(x, 0.25, True)
    m = _np(mask).astype(bool)
    assert abs(m.mean() - 0.75) < 0.03
    np.testing.assert_allclose(_np(y), np.where(m, xa / 0.75, 0), rtol=1.6e-2, atol=1.6e-2)


@pytest.mark.parametrize("offset", [0, 1])
def test_norm_softmax_bias_act_aligned_and_plain_forms(offset):
    x, xa = _pair((32, 256), vt.bfloat16, offset)
    w, wa = _pair((256,), vt.bfloat16, offset)
    b, ba = _pair((256,), vt.bfloat16, offset)
    mu, var = xa.mean(1, keepdims=True), xa.var(1, keepdims=True)
    np.testing.assert_allclose(_np(F.layer_norm(x, (256,), w, b)), (xa - mu) / np.sqrt(var + 1e-5) * wa + ba,
                               rtol=3e-2, atol=3e-2)
    e = np.exp(xa - xa.max(1, keepdims=True))
    np.testing.assert_allclose(_np(F.softmax(x, -1)), e / e.sum(1, keepdims=True), rtol=2e-2, atol=1e-3)
    np.testing.assert_allclose(_np(F.bias_gelu(x, b)), _gelu(xa + ba), rtol=3e-2, atol=3e-2)
    target = rng().integers(0, 256, size=32)
    logits = x.detach().requires_grad_(True)
    loss = F.cross_entropy(logits, vt.tensor(target).cuda())
    lse = np.log(np.exp(xa - xa.max(1, keepdims=True)).sum(1)) + xa.max(1)
    np.testing.assert_allclose(_np(loss), np.mean(lse - xa[np.arange(32), target]), rtol=2e-2, atol=2e-2)
    loss.backward()
    p = np.exp(xa - lse[:, None])
    p[np.arange(32), target] -= 1
    np.testing.assert_allclose(_np(logits.grad), p / 32, rtol=2e-2, atol=2e-3)
    if offset == 0:
        for prefix in ("norm|fwd|ln|bfloat16|wb|256", "soft|softmax|bfloat16|bfloat16|256|w",
                       "bact|fwd|gelu|bfloat16|", "xent|fwd|bfloat16|", "xent|bwd|bfloat16|"):
            assert any(k.endswith("@a16") for k in _used(prefix)), prefix


@pytest.mark.parametrize("offset", [0, 1])
@pytest.mark.parametrize("dtype", [vt.bfloat16, vt.float32])
def test_triton_gemm_aligned_and_plain_forms(offset, dtype):
    before = vt.backends.cuda.preferred_blas_library()
    vt.backends.cuda.preferred_blas_library("triton")
    try:
        a, aa = _pair((64, 128), dtype, offset)
        b, ba = _pair((128, 96), dtype, 0)
        tol = 3e-2 if dtype == vt.bfloat16 else 2e-3  # float32 may run as TF32 where allowed
        np.testing.assert_allclose(_np(vt.mm(a, b)), aa @ ba, rtol=tol, atol=tol * 10)
        keys = _used(f"mm|{dtype.name}|{dtype.name}|")
        assert any(k.endswith("@a16") for k in keys) or offset, keys
        assert offset == 0 or any(not k.endswith("@a16") for k in keys), keys
    finally:
        vt.backends.cuda.preferred_blas_library(before)
