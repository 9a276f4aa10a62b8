"""Elementwise ops on the GPU (generated Triton kernels launched from C++) against the CPU and float64."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import random_array, rng

pytestmark = pytest.mark.cuda

BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "atan2", "hypot", "remainder", "fmod", "pow",
          "copysign", "logaddexp", "fmax", "fmin"]


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.float64])
def test_binary_matches_cpu(op, dtype):
    gen = rng()
    a = random_array((33, 65), dtype, gen, positive=op == "pow")
    b = random_array((33, 65), dtype, gen, positive=op in ("pow", "remainder", "fmod"))
    x, y = vt.tensor(a).to(dtype), vt.tensor(b).to(dtype)
    want = getattr(vt, op)(x, y).to(vt.float64).numpy()
    for xg, yg, w in [(x.cuda(), y.cuda(), want), (x.cuda().t(), y.cuda().t(), want.T),
                      (x.cuda(), y[0:1].cuda(), getattr(vt, op)(x, y[0:1]).to(vt.float64).numpy()),
                      (x.cuda()[:, ::3], 2.0, getattr(vt, op)(x[:, ::3], 2.0).to(vt.float64).numpy())]:
        got = getattr(vt, op)(xg, yg)
        assert got.is_cuda and got.dtype == dtype
        tol = {vt.float32: 2e-6, vt.float64: 1e-12, vt.bfloat16: 1e-2}[dtype]
        np.testing.assert_allclose(got.cpu().to(vt.float64).numpy(), w, rtol=tol, atol=tol, err_msg=op)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "atan2", "pow"])
def test_mixed_float_dtypes_convert_as_they_load(op):
    """Floats of two dtypes (broadcast, and in place into the narrower one): the CPU's promoted result, from one
    kernel whose key names both input dtypes, where the narrower input was first copied to the common dtype."""
    gen = rng()
    for da, db in ((vt.bfloat16, vt.float32), (vt.float64, vt.float16), (vt.float16, vt.bfloat16)):
        a = vt.tensor(random_array((33, 65), da, gen, positive=op == "pow")).to(da)
        b = vt.tensor(random_array((65,), db, gen, positive=op == "pow")).to(db)
        want = getattr(vt, op)(a, b)
        got = getattr(vt, op)(a.cuda(), b.cuda())
        assert got.is_cuda and got.dtype == want.dtype, (op, da, db)
        tol = 1e-12 if want.dtype == vt.float64 else 2e-6
        np.testing.assert_allclose(got.cpu().to(vt.float64).numpy(), want.to(vt.float64).numpy(), rtol=tol,
                                   atol=tol, err_msg=f"{op} {da} {db}")
        assert any(f"|{da.name},{db.name}|" in k for k in vt._C._cuda.kernel_keys() if k.startswith("ew|"))
    x, y = vt.tensor(random_array((40,), vt.float32, gen)).to(vt.bfloat16), vt.tensor(random_array((40,), vt.float32,
                                                                                                     gen))
    xg = x.cuda()
    xg.add_(y.cuda())  # computed in float32, rounded into the bfloat16 tensor
    assert xg.dtype == vt.bfloat16 and xg.cpu().tolist() == x.add_(y).tolist()


def test_integer_and_comparison_ops():
    gen = rng()
    a = vt.tensor(gen.integers(-20, 20, size=(50,)))
    b = vt.tensor(gen.integers(1, 7, size=(50,)))
    ag, bg = a.cuda(), b.cuda()
    for fn in (lambda p, q: p + q, lambda p, q: p * q, lambda p, q: p // q, lambda p, q: p % q, lambda p, q: p & q,
               lambda p, q: p << q, lambda p, q: p == q, lambda p, q: p < q, vt.maximum):
        assert fn(ag, bg).cpu().tolist() == fn(a, b).tolist()
    x = vt.tensor(gen.normal(size=100).astype(np.float32))
    xg = x.cuda()
    assert (xg > 0).cpu().tolist() == (x > 0).tolist()
    assert vt.where(xg > 0, xg, 0.0).cpu().tolist() == vt.where(x > 0, x, 0.0).tolist()
    assert xg.clamp(-0.5, 0.5).cpu().tolist() == x.clamp(-0.5, 0.5).tolist()
    assert xg.masked_fill(xg < 0, 7.0).cpu().tolist() == x.masked_fill(x < 0, 7.0).tolist()


def test_inplace_views_casts_and_fill():
    x = vt.arange(12.0).view(3, 4).cuda()
    x[:, 1].add_(100)  # strided view written in place on the GPU
    x.t()[0].mul_(2)
    assert x.cpu().tolist() == [[0.0, 101.0, 2.0, 3.0], [8.0, 105.0, 6.0, 7.0], [16.0, 109.0, 10.0, 11.0]]
    h = x.to(vt.bfloat16)  # device-side cast
    assert h.is_cuda and h.dtype == vt.bfloat16 and h.cpu().float().tolist() == x.cpu().tolist()
    y = vt.empty(5, 5, device="cuda").fill_(2.5)
    assert y.cpu().tolist() == [[2.5] * 5] * 5
    assert x.t().contiguous().cpu().tolist() == x.cpu().t().tolist()  # strided read back
    assert vt.ones(3, device="cuda").cpu().tolist() == [1.0] * 3
    assert vt.full((2,), 7, device="cuda").cpu().tolist() == [7, 7]
    assert vt.arange(5, device="cuda").cpu().tolist() == [0, 1, 2, 3, 4]
    assert vt.eye(2, device="cuda").cpu().tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_a_million_elements_and_the_kernel_cache():
    n = 1 << 20
    x = vt.randn(n)
    g = x.cuda()
    r = (g * 2 + 1) / 3 - g
    np.testing.assert_allclose(r.cpu().numpy(), (x.numpy() * 2 + 1) / 3 - x.numpy(), rtol=1e-6, atol=1e-6)
    assert any(k.startswith("ew|mul|") for k in vt._C._cuda.kernel_keys())
