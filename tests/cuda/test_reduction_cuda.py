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


# (shape, dim, what the native side picks: "r"/"i" read 16 bytes at a time, "g" element by element)
LAYOUT_CASES = [
    ((64, 1000), 1, "r: several rows per program, R a whole number of vectors but not of tiles"),
    ((3, 100_000), 1, "r: few long rows, split"),
    ((2000, 72), 0, "i: narrow columns, split, I not a whole tile"),
    ((100_003, 8), 0, "i: one vector wide, many splits with a short last one"),
    ((4096, 4096), 0, "i: the benchmark's column sum"),
    ((33, 1001), 1, "g: R not a whole number of vectors"),
    ((33, 1001), 0, "g: I not a whole number of vectors"),
]


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.float16, vt.float64])
def test_vector_and_strided_layouts_match_cpu(dtype):
    """Row and column reductions in every layout (LAYOUT_CASES), on the dense tensor, on a view whose rows are
    padded to 16 elements (still 16-byte aligned: vectors, with a row stride other than R or I) and on one whose
    first element is off by one (element by element)."""
    gen = rng()
    for shape, dim, why in LAYOUT_CASES:
        rows, cols = shape
        padded = (cols + 16) // 16 * 16
        full = vt.tensor(random_array((rows + 1, padded), vt.float64, gen)).to(dtype)
        g_full = full.cuda()
        for x, g in [(full[:-1, :cols].contiguous(), g_full[:-1, :cols].contiguous()),
                     (full[1:, :cols], g_full[1:, :cols]),
                     (full[1:, 1:cols + 1], g_full[1:, 1:cols + 1])]:
            x64 = x.to(vt.float64)
            close(g.sum(dim), x64.sum(dim).to(dtype), dtype)
            v, i = g.max(dim)
            vc, ic = x.max(dim)
            close(v, vc, dtype)
            assert i.cpu().tolist() == ic.tolist(), why
            if dtype in (vt.float32, vt.bfloat16):  # the rest shares the 2- and 4-byte kernels' code paths
                close(g.amax(dim), x.amax(dim), dtype)
                close(g.var(dim), x64.var(dim).to(dtype), dtype)  # mean (aux operand), split squares, fold


def test_vector_layouts_of_integers_and_bools():
    """1-byte (16 to a vector) and 8-byte (2 to a vector) elements, rows and columns."""
    gen = rng()
    b = vt.tensor(gen.integers(0, 2, size=(48, 160)).astype(np.bool_))
    b[0] = True
    for op in ("any", "all"):
        for dim in (0, 1):
            assert getattr(b.cuda(), op)(dim).cpu().tolist() == getattr(b, op)(dim).tolist()
    i = vt.tensor(gen.integers(-9, 9, size=(300, 64)))
    for dim in (0, 1):
        assert i.cuda().sum(dim).cpu().tolist() == i.sum(dim).tolist()
        assert i.cuda().amin(dim).cpu().tolist() == i.amin(dim).tolist()
    assert i.cuda().sum().cpu().item() == i.sum().item()


def test_full_reductions_of_many_elements():
    """One output over 2**24 + 8 elements: R split over ~1000 programs, then one fold ('r' both times)."""
    a = random_array(((1 << 24) + 8,), vt.float32, rng())
    for dtype in (vt.float32, vt.bfloat16):
        x = vt.tensor(a).to(dtype)
        g = x.cuda()
        close(g.sum(), x.to(vt.float64).sum().to(dtype), dtype)
        close(g.amax(), x.amax(), dtype)
        close(g.mean(), x.to(vt.float64).mean().to(dtype), dtype)


def test_column_sums_wider_than_one_grid_axis():
    """Over dim 0 of a 2 x 9M tensor (and of a strided view of one): more than 65535 blocks along the kept
    dim, which once overflowed a launch axis ("reduction too large for one launch")."""
    gen = rng()
    a = gen.standard_normal((2, 9 << 20)).astype(np.float32)
    t = vt.tensor(a).to("cuda")
    np.testing.assert_allclose(t.sum(0).cpu().numpy(), a.astype(np.float64).sum(0), rtol=1e-5, atol=1e-5)
    wide = vt.tensor(np.concatenate([a, a[:, :1000]], 1)).to("cuda").narrow(1, 0, 9 << 20)  # rows not adjacent
    np.testing.assert_allclose(wide.amax(0).cpu().numpy(), a.max(0))
