"""var/std/logsumexp, cumsum/cumprod, sort/argsort/topk and the copy-shaped ops (cat, stack, flip, roll,
repeat, tril/triu) on the GPU, against the CPU kernels (which are tested against float64 references)."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import random_array, rng

pytestmark = pytest.mark.cuda

FLOATS = [vt.float32, vt.float16, vt.bfloat16, vt.float64]
INTS = [vt.int64, vt.int32, vt.int16, vt.int8, vt.uint8]
TOL = {vt.float32: 1e-5, vt.float64: 1e-12, vt.float16: 2e-3, vt.bfloat16: 1.6e-2}


def layouts(t):
    """(name, tensor) for the same values laid out contiguous, transposed, sliced and broadcast."""
    yield "contiguous", t
    yield "transposed", t.t().contiguous().t()
    big = vt.zeros(t.shape[0], t.shape[1] * 2, dtype=t.dtype)
    big[:, ::2] = t
    yield "sliced", big[:, ::2]
    yield "broadcast", t[:1].expand(t.shape[0], t.shape[1])


def same(got, want, dtype=None, exact=False):
    assert got.is_cuda
    assert got.dtype == want.dtype and tuple(got.shape) == tuple(want.shape)
    g, w = got.cpu(), want
    if exact or not w.dtype.is_floating_point:
        np.testing.assert_array_equal(g.to(vt.float64).numpy() if w.dtype.is_floating_point else g.numpy(),
                                      w.to(vt.float64).numpy() if w.dtype.is_floating_point else w.numpy())
    else:
        tol = TOL[dtype or w.dtype]
        np.testing.assert_allclose(g.to(vt.float64).numpy(), w.to(vt.float64).numpy(), rtol=tol, atol=tol)


def sample(dtype, shape=(33, 65)):
    return vt.tensor(random_array(shape, dtype, rng())).to(dtype)


# ---- var / std / logsumexp --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
def test_var_std_logsumexp_match_cpu(dtype):
    x = sample(dtype) + 100  # an offset mean: a one-pass formula would lose the variance
    for name, t in layouts(x):
        tg = t.cuda()
        for kw in [{}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"dim": [0, 1]}, {"dim": 1, "correction": 0},
                   {"dim": 0, "unbiased": False}, {"dim": 1, "correction": 65}]:
            same(vt.var(tg, **kw), vt.var(t, **kw), dtype)
            same(vt.std(tg, **kw), vt.std(t, **kw), dtype)
        same(vt.logsumexp(tg, 1), vt.logsumexp(t, 1), dtype)
        same(vt.logsumexp(tg, [0, 1], keepdim=True), vt.logsumexp(t, [0, 1], keepdim=True), dtype)


def test_var_logsumexp_long_rows_split_and_special_values():
    gen = rng()
    x = vt.tensor(gen.normal(size=(2, 50000)).astype(np.float32) + 1e3)
    same(vt.var(x.cuda(), 1), vt.var(x, 1), vt.float32)
    same(vt.std(x.cuda()), vt.std(x), vt.float32)
    same(vt.logsumexp(x.cuda(), 1), vt.logsumexp(x, 1), vt.float32)
    y = vt.tensor(np.array([[-np.inf] * 4, [1.0, np.inf, 2.0, 3.0], [1.0, np.nan, 0.0, 0.0], [800.0, 801.0, 0, 0]],
                           np.float32))
    same(vt.logsumexp(y.cuda(), 1), vt.logsumexp(y, 1), vt.float32)
    e = vt.zeros(3, 0)
    same(vt.var(e.cuda(), 1), vt.var(e, 1), vt.float32)  # nan, like PyTorch
    same(vt.logsumexp(e.cuda(), 1), vt.logsumexp(e, 1), vt.float32)  # -inf
    same(vt.logsumexp(sample(vt.int32).cuda(), 0), vt.logsumexp(sample(vt.int32), 0), vt.float32)


# ---- cumsum / cumprod ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS + INTS + [vt.bool])
def test_cumsum_cumprod_match_cpu(dtype):
    x = sample(dtype)
    if dtype.is_floating_point:
        x = x / 8 + 1 if dtype != vt.bfloat16 else x  # keep products finite
    for name, t in layouts(x[:, :12]):
        tg = t.cuda()
        for dim in (0, 1, -1):
            same(vt.cumsum(tg, dim), vt.cumsum(t, dim), dtype)
            same(vt.cumprod(tg, dim), vt.cumprod(t, dim), dtype)
    same(vt.cumsum(x.cuda(), 1, dtype=vt.float64), vt.cumsum(x, 1, dtype=vt.float64), vt.float64)


def test_cumsum_long_rows_split_carry_and_shapes():
    gen = rng()
    x = vt.tensor(gen.integers(-3, 4, size=(3, 70000)))  # int64: exact, so the split carry must be exact
    same(vt.cumsum(x.cuda(), 1), vt.cumsum(x, 1), exact=True)
    f = vt.tensor(gen.normal(size=(100000,)).astype(np.float32))
    np.testing.assert_allclose(vt.cumsum(f.cuda(), 0).cpu().to(vt.float64).numpy(),
                               np.cumsum(f.to(vt.float64).numpy()), rtol=1e-4, atol=1e-2)
    three = sample(vt.float32, (4, 5, 6)).permute(2, 0, 1)  # dims that do not merge
    for d in range(3):
        same(vt.cumsum(three.cuda(), d), vt.cumsum(three, d))
    s = vt.tensor(2.5)
    same(vt.cumsum(s.cuda(), 0), vt.cumsum(s, 0))
    e = vt.zeros(0, 3)
    same(vt.cumprod(e.cuda(), 0), vt.cumprod(e, 0))


# ---- sort / argsort / topk -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS + INTS + [vt.bool])
def test_sort_argsort_match_cpu_stable(dtype):
    gen = rng()
    a = random_array((9, 40), dtype, gen)
    if dtype.is_floating_point:
        a = np.round(a)  # ties
        a[2, 5] = a[3, 0] = a[3, 9] = np.nan
        a[4, 1], a[4, 2] = -0.0, 0.0
    x = vt.tensor(a).to(dtype)
    for name, t in layouts(x):
        tg = t.cuda()
        for dim in (0, 1):
            for desc in (False, True):
                v, i = vt.sort(tg, dim, descending=desc, stable=True)
                wv, wi = vt.sort(t, dim, descending=desc, stable=True)
                same(v, wv, exact=True)
                same(i, wi, exact=True)
                same(vt.argsort(tg, dim, descending=desc), vt.argsort(t, dim, descending=desc), exact=True)


@pytest.mark.parametrize("n", [1, 3, 4096, 4097, 20000])
def test_sort_row_lengths_including_merge_passes(n):
    gen = rng()
    for dtype in (vt.float32, vt.float64, vt.int16):
        x = vt.tensor(gen.integers(-50, 50, size=(3, n))).to(dtype)
        for desc in (False, True):
            v, i = vt.sort(x.cuda(), -1, descending=desc)
            wv, wi = vt.sort(x, -1, descending=desc)
            same(v, wv, exact=True)
            same(i, wi, exact=True)


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.int32, vt.float64])
def test_topk_matches_cpu(dtype):
    gen = rng()
    a = random_array((7, 300), dtype, gen)
    if dtype.is_floating_point:
        a[1, 10] = np.nan
    x = vt.tensor(a).to(dtype)
    for name, t in layouts(x):
        tg = t.cuda()
        for k, dim, largest in [(5, 1, True), (5, 1, False), (3, 0, True), (300, 1, True), (0, 1, True)]:
            v, i = vt.topk(tg, k, dim, largest=largest)
            wv, wi = vt.topk(t, k, dim, largest=largest)
            same(v, wv, exact=True)
            same(i, wi, exact=True)
        v, i = vt.topk(tg, 9, 1, sorted=False)  # any order: compare as sets per row
        wv, wi = vt.topk(t, 9, 1, sorted=False)
        assert np.array_equal(np.sort(i.cpu().numpy(), 1), np.sort(wi.numpy(), 1))
    big = vt.tensor(gen.integers(0, 500, size=(2, 30000))).to(dtype)  # long rows with ties
    for k in (1, 7, 2048, 3000):  # the tournament (k <= 2048), then the full merge sort
        for largest in (True, False):
            v, i = vt.topk(big.cuda(), k, largest=largest)
            wv, wi = vt.topk(big, k, largest=largest)
            same(i, wi, exact=True)
            same(v, wv, exact=True)
    s = vt.tensor(3.0)
    same(vt.topk(s.cuda(), 1)[0], vt.topk(s, 1)[0], exact=True)


# ---- cat, stack, flip, roll, repeat, tril/triu -----------------------------------------------------
@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.int64, vt.bool])
def test_copy_shaped_ops_match_cpu(dtype):
    x = sample(dtype, (6, 7))
    for name, t in layouts(x):
        tg = t.cuda()
        same(vt.cat([tg, tg[:2]], 0), vt.cat([t, t[:2]], 0), exact=True)
        same(vt.cat([tg, tg[:, 1:3]], 1), vt.cat([t, t[:, 1:3]], 1), exact=True)
        same(vt.stack([tg, tg], 1), vt.stack([t, t], 1), exact=True)
        for dims in ([0], [1], [0, 1], [-1]):
            same(vt.flip(tg, dims), vt.flip(t, dims), exact=True)
        same(vt.roll(tg, 2, 1), vt.roll(t, 2, 1), exact=True)
        same(vt.roll(tg, [1, -3], [0, 1]), vt.roll(t, [1, -3], [0, 1]), exact=True)
        same(vt.roll(tg, 5), vt.roll(t, 5), exact=True)
        same(tg.repeat(2, 1, 3), t.repeat(2, 1, 3), exact=True)
        for diag in (-2, 0, 3, 10):
            same(vt.tril(tg, diag), vt.tril(t, diag), exact=True)
            same(vt.triu(tg, diag), vt.triu(t, diag), exact=True)
    c = x.cuda()
    c.tril_(1)
    same(c, vt.tril(x, 1), exact=True)
    c = x.cuda().t()  # in place through a transposed view
    c.triu_()
    same(c, vt.triu(x.t()), exact=True)
    b = sample(dtype, (3, 4, 5)).permute(1, 0, 2)  # batch dims that do not merge
    same(vt.triu(b.cuda(), 1), vt.triu(b, 1), exact=True)
    same(vt.flip(b.cuda(), [0, 2]), vt.flip(b, [0, 2]), exact=True)


def test_cat_mixed_dtypes_and_empty():
    a, b = sample(vt.float32, (2, 3)), sample(vt.int32, (4, 3))
    same(vt.cat([a.cuda(), b.cuda()]), vt.cat([a, b]))
    e = vt.zeros(0)
    same(vt.cat([a.cuda(), e.cuda()]), vt.cat([a, e]))
    same(vt.flip(vt.zeros(0, 3).cuda(), [0]), vt.flip(vt.zeros(0, 3), [0]))


# ---- autograd --------------------------------------------------------------------------------------
def test_autograd_through_cumsum_sort_topk_cat_var():
    x0 = sample(vt.float32, (4, 6))
    grads = {}
    for dev in ("cpu", "cuda"):
        x = x0.to(dev).detach().requires_grad_(True)
        y = (vt.cumsum(x, 1) * 2).sum() + vt.sort(x, 1)[0][:, :2].sum() + vt.topk(x, 2, 0)[0].sum() \
            + vt.cat([x, x * 3], 0).sum() + vt.var(x, 1).sum() + vt.logsumexp(x, 0).sum()
        y.backward()
        grads[dev] = x.grad.cpu()
    same(grads["cuda"].cuda(), grads["cpu"])


# ---- bad input -------------------------------------------------------------------------------------
def test_bad_input_raises_clear_errors():
    x = sample(vt.float32, (3, 4)).cuda()
    with pytest.raises(IndexError, match="out of range"):
        vt.topk(x, 5, 1)
    with pytest.raises(IndexError):
        vt.sort(x, 2)
    with pytest.raises(IndexError):
        vt.cumsum(x, -3)
    with pytest.raises(TypeError, match="floating point"):
        vt.var(sample(vt.int32, (3, 4)).cuda())
    with pytest.raises(TypeError, match="bool"):
        vt.topk(x > 0, 1)
    with pytest.raises((ValueError, RuntimeError), match="device"):
        vt.cat([x, x.cpu()])
    with pytest.raises(ValueError, match="Sizes of tensors must match"):
        vt.cat([x, x[:, :2]], 0)
    with pytest.raises(ValueError, match="multiple times"):
        vt.flip(x, [0, 0])
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        vt.tril(x[0])
    with pytest.raises(IndexError, match="non-zero size"):  # amax has no identity (fixed in reduce_ops.cpp)
        vt.amax(vt.zeros(3, 0).cuda(), 1)
    assert vt.cumsum(x, 0).is_cuda  # the runtime is still usable
