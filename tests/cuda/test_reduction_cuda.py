"""Reductions and softmax on the GPU (generated Triton kernels) against the same op on CPU."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import random_array, rng

pytestmark = pytest.mark.cuda

TOL = {vt.float32: 2e-5, vt.float64: 1e-12, vt.bfloat16: 2e-2, vt.float16: 5e-3}


def close(got, want, dtype):
    assert got.is_cuda and got.dtype == want.dtype and tuple(got.shape) == tuple(want.shape)
    tol = TOL.get(dtype, 0)
    np.testing.assert_allclose(got.cpu().to(vt.float64).numpy(), want.to(vt.float64).numpy(), rtol=tol,
                               atol=tol * 10)


def layouts(x):
    """(cpu, cuda) pairs: contiguous, transposed, sliced."""
    g = x.cuda()
    return [(x, g), (x.transpose(0, 1), g.transpose(0, 1)), (x[:, 1::2], g[:, 1::2])]


@pytest.mark.parametrize("op", ["sum", "mean", "prod", "amax", "amin"])
@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.float64])
def test_reductions_match_cpu(op, dtype):
    a = random_array((6, 40, 9), vt.float64, rng(), low=0.5 if op == "prod" else -4, high=1.5 if op == "prod" else 4)
    x = vt.tensor(a).to(dtype)
    for xc, xg in layouts(x):
        for kw in [{}, {"dim": 0}, {"dim": 1}, {"dim": -1, "keepdim": True}, {"dim": (0, 2)}]:
            if op == "prod" and "dim" in kw and isinstance(kw["dim"], tuple):
                continue  # prod takes one dim, like PyTorch
            if op == "prod" and not kw:
                close(getattr(xg[:2, :5], op)(), getattr(xc[:2, :5], op)(), dtype)
                continue
            close(getattr(xg, op)(**kw), getattr(xc, op)(**kw), dtype)


def test_integer_and_bool_reductions():
    gen = rng()
    i = vt.tensor(gen.integers(-9, 9, size=(7, 300)))
    for op in ("sum", "amax", "amin"):
        for kw in [{}, {"dim": 1}, {"dim": 0}]:
            got = getattr(i.cuda(), op)(**kw)
            assert got.dtype == getattr(i, op)(**kw).dtype and got.cpu().tolist() == getattr(i, op)(**kw).tolist()
    assert i.cuda().sum(dtype=vt.float32).cpu().item() == float(i.sum().item())
    b = i > 5
    for op in ("any", "all"):
        assert getattr(b.cuda(), op)(1).cpu().tolist() == getattr(b, op)(1).tolist()
        assert getattr(b.cuda(), op)().cpu().item() == getattr(b, op)().item()
    assert vt.ones(3, 0, device="cuda").sum(1).cpu().tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(IndexError):
        vt.ones(3, 0, device="cuda").amax(1)


def test_long_rows_and_columns_use_splits():
    """Few outputs over a long reduced range (split into partials and folded) and column sums."""
    gen = rng()
    for shape, dim in [((3, 200_000), 1), ((100_000, 5), 0), ((2048, 2048), 0), ((1, 1 << 20), None)]:
        x = vt.tensor(random_array(shape, vt.float32, gen)).float()
        g = x.cuda()
        close(g.sum(dim) if dim is not None else g.sum(), x.to(vt.float64).sum(dim).float() if dim is not None
              else x.to(vt.float64).sum().float(), vt.float32)
        close(g.amax(dim) if dim is not None else g.amax(), x.amax(dim) if dim is not None else x.amax(), vt.float32)
        close(g.mean(dim) if dim is not None else g.mean(),
              x.to(vt.float64).mean(dim).float() if dim is not None else x.to(vt.float64).mean().float(), vt.float32)


def test_max_min_dim_argmax_with_nans_and_ties():
    x = vt.tensor([[1.0, 3.0, 3.0, -1.0], [float("nan"), 2.0, 5.0, 5.0], [0.0, 0.0, 0.0, 0.0]])
    g = x.cuda()
    for op in ("max", "min"):
        v, i = getattr(g, op)(1)
        vc, ic = getattr(x, op)(1)
        np.testing.assert_array_equal(v.cpu().numpy(), vc.numpy())
        assert i.cpu().tolist() == ic.tolist() and i.dtype == vt.int64
    for op in ("argmax", "argmin"):
        assert getattr(g, op)(1).cpu().tolist() == getattr(x, op)(1).tolist()
        assert getattr(g, op)().cpu().item() == getattr(x, op)().item()
    assert np.isnan(g.amax().cpu().item()) and np.isnan(g.sum().cpu().item())
    big = vt.tensor(random_array((5, 5000), vt.float32, rng())).float()
    assert big.cuda().argmax(1).cpu().tolist() == big.argmax(1).tolist()
    assert big.cuda().max(0)[1].cpu().tolist() == big.max(0)[1].tolist()


def test_norms():
    x = vt.tensor(random_array((30, 70), vt.float32, rng())).float()
    for p in (1, 2, 3.5, float("inf")):
        close(vt.norm(x.cuda(), p), vt.norm(x, p), vt.float32)
        close(vt.norm(x.cuda(), p, dim=1), vt.norm(x, p, dim=1), vt.float32)


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.float16, vt.float64])
@pytest.mark.parametrize("n", [1, 7, 1000, 4096, 8192, 10000])
def test_softmax_rows_whole_and_streamed(dtype, n):
    x = vt.tensor(random_array((5, n), vt.float64, rng(), low=-8, high=8)).to(dtype)
    for fn in (vt.softmax, vt.log_softmax):
        close(fn(x.cuda(), -1), fn(x, -1), dtype)
    close(vt.softmax(x.cuda(), 0), vt.softmax(x, 0), dtype)  # not the last dim: moved, then moved back


def test_softmax_special_rows_and_autograd():
    x = vt.tensor([[0.0, -float("inf"), 1.0], [-float("inf")] * 3, [1000.0, 1000.0, -1000.0]])
    np.testing.assert_array_equal(vt.softmax(x.cuda(), -1).cpu().numpy(), vt.softmax(x, -1).numpy())
    a = random_array((4, 33), vt.float64, rng())
    xc = vt.tensor(a, requires_grad=True)
    xg = vt.tensor(a).cuda().requires_grad_()
    w = vt.tensor(random_array((4, 33), vt.float64, rng()))
    (vt.log_softmax(xc, 1) * w).sum().backward()
    (vt.log_softmax(xg, 1) * w.cuda()).sum().backward()
    np.testing.assert_allclose(xg.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-10, atol=1e-12)
    ys = (xg.softmax(0) * w.cuda()).mean()
    ys.backward()
    assert xg.grad.is_cuda
