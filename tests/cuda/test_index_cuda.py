"""The indexing ops on the GPU (generated Triton kernels launched from C++) against the CPU result, autograd
through them, and out-of-range indices: an IndexError at the next synchronization, the runtime still usable."""
import os
import subprocess
import sys

import numpy as np
import pytest

import vibetensor as vt
from helpers import random_array, rng

pytestmark = pytest.mark.cuda

DTYPES = [vt.float32, vt.float16, vt.bfloat16, vt.float64, vt.int64, vt.int32, vt.int8, vt.uint8, vt.bool]


def same(got, want):
    """A CUDA result equals the CPU one (bitwise for moves; half-type sums within their precision)."""
    assert got.is_cuda and got.dtype == want.dtype and tuple(got.shape) == tuple(want.shape)
    g, w = got.cpu().to(vt.float64).numpy(), want.to(vt.float64).numpy()
    # float64 sums by atomics add in another order than the CPU's loop: last-bit differences
    tol = {vt.float16: 2e-2, vt.bfloat16: 1e-1, vt.float32: 1e-5, vt.float64: 1e-13}.get(want.dtype, 0)
    np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def layouts(t):
    """t on the GPU as contiguous, transposed (same values) and sliced views, with the CPU view to match."""
    c = t.cuda()
    return [(c, t), (c.transpose(0, 1).contiguous().transpose(0, 1), t), (c[..., ::2], t[..., ::2])]


def arr(shape, dtype, gen):
    return vt.tensor(random_array(shape, dtype, gen)).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_select_embedding_gather(dtype):
    gen = rng()
    x = arr((6, 8), dtype, gen)
    for xg, xc in layouts(x):
        for dim in (0, 1):
            idx = vt.tensor(gen.integers(0, xc.shape[dim], size=11))
            for i in (idx, idx.to(vt.int32), idx.cuda()):
                same(vt.index_select(xg, dim, i.cuda() if i.dtype == vt.int64 else i), vt.index_select(xc, dim, i.cpu()))
            gi = vt.tensor(gen.integers(0, xc.shape[dim], size=(4, 3)))
            same(vt.gather(xg, dim, gi.cuda()), vt.gather(xc, dim, gi))
    if dtype.is_floating_point:
        ind = vt.tensor(gen.integers(0, 6, size=(2, 5)))
        same(vt.embedding(x.cuda(), ind.cuda()), vt.embedding(x, ind))
        same(vt.embedding(x.cuda().transpose(0, 1).contiguous().transpose(0, 1), ind.to(vt.int32).cuda()),
             vt.embedding(x, ind))
    same(vt.index_select(x.cuda(), 0, vt.tensor([], dtype=vt.int64).cuda()), vt.index_select(x, 0, vt.tensor([], dtype=vt.int64)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_advanced_getitem_and_setitem(dtype):
    gen = rng()
    x = arr((5, 6, 4), dtype, gen)
    i = vt.tensor(gen.integers(-5, 5, size=(3, 1)))
    j = vt.tensor(gen.integers(0, 6, size=(7,)))
    mask = vt.tensor(gen.random((5, 6)) < 0.4)
    for xg, xc in layouts(x):
        same(xg[i.cuda(), j.cuda()], xc[i, j])
        same(xg[:, j.cuda()], xc[:, j])
        same(xg[i.cuda(), :, 1:3], xc[i, :, 1:3])
        same(xg[i.cuda(), :, j[:4].cuda() % 2], xc[i, :, j[:4] % 2])  # non-adjacent: B goes first
        same(xg[[0, 3, -1]], xc[[0, 3, -1]])  # a list index: a CPU tensor moved to the GPU
        same(xg[mask.cuda()], xc[mask])
    y, yc = x.cuda(), x.clone()
    v = arr((3, 7, 4), dtype, gen)
    y[i.cuda(), j.cuda()] = v[:, :1].cuda()  # broadcast value; duplicate targets: any one of them wins on CUDA
    yc[i, j] = v[:, :1]
    if len(set(zip(np.broadcast_to(i.numpy(), (3, 7)).ravel() % 5, np.broadcast_to(j.numpy(), (3, 7)).ravel()))) == 21:
        same(y, yc)
    y[mask.cuda()] = 1
    yc[mask] = 1
    same(y[mask.cuda()], yc[mask])


@pytest.mark.parametrize("dtype", DTYPES)
def test_accumulate_with_duplicates(dtype):
    """index_put(accumulate=True), index_add and scatter_add with repeated indices: atomics (or a float32 /
    int32 accumulator for half types and small ints), equal to the CPU's ordered sums."""
    gen = rng()
    base = arr((6, 5), dtype, gen)
    v = arr((40, 5), dtype, gen)
    idx = vt.tensor(gen.integers(-6, 6, size=40))
    same(vt.index_put(base.cuda(), (idx.cuda(),), v.cuda(), True), vt.index_put(base, (idx,), v, True))
    pos = vt.tensor(gen.integers(0, 6, size=40))
    same(vt.index_add(base.cuda(), 0, pos.cuda(), v.cuda()), vt.index_add(base, 0, pos, v))
    if not dtype.is_floating_point and dtype != vt.bool:
        same(vt.index_add(base.cuda(), 0, pos.cuda(), v.cuda(), alpha=3), vt.index_add(base, 0, pos, v, alpha=3))
    # scatter_add: few long lines (atomics) and many short ones (ordered line walk)
    long_idx = vt.tensor(gen.integers(0, 5, size=(2, 300)))
    long_src = arr((2, 300), dtype, gen)
    same(vt.scatter_add(base.cuda(), 1, long_idx.cuda(), long_src.cuda()), vt.scatter_add(base, 1, long_idx, long_src))
    short_idx = vt.tensor(gen.integers(0, 6, size=(9, 5)))
    short_src = arr((9, 5), dtype, gen)
    same(vt.scatter_add(base.cuda(), 0, short_idx.cuda(), short_src.cuda()), vt.scatter_add(base, 0, short_idx, short_src))


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.int32, vt.bool])
def test_scatter_forms(dtype):
    gen = rng()
    base = arr((5, 7), dtype, gen)
    idx = vt.tensor(gen.integers(0, 5, size=(8, 6)))
    src = arr((8, 7), dtype, gen)
    for reduce in (None, "add", "multiply"):
        # duplicates along dim 0: applied in order on the GPU too (one line per program), so the CPU result
        same(vt.scatter(base.cuda(), 0, idx.cuda(), src.cuda(), reduce=reduce), vt.scatter(base, 0, idx, src, reduce=reduce))
        same(vt.scatter(base.cuda().transpose(0, 1).contiguous().transpose(0, 1), 0, idx.cuda(), 2, reduce=reduce),
             vt.scatter(base, 0, idx, 2, reduce=reduce))
    y, yc = base.cuda(), base.clone()
    assert y.scatter_(1, idx[:5].cuda() % 7, src[:5, :6].cuda()) is y
    yc.scatter_(1, idx[:5] % 7, src[:5, :6])
    same(y, yc)


def test_nonzero_masked_select_one_hot():
    gen = rng()
    for shape in [(0,), (1,), (3, 700), (2, 3, 500)]:
        a = random_array(shape, vt.float32, gen)
        a[gen.random(shape) < 0.5] = 0
        x = vt.tensor(a)
        same(vt.nonzero(x.cuda()), vt.nonzero(x))
        m = vt.tensor(gen.random(shape) < 0.3)
        same(vt.masked_select(x.cuda(), m.cuda()), vt.masked_select(x, m))
    x = vt.tensor(random_array((4, 5), vt.float16, gen))
    m = vt.tensor(gen.random((5,)) < 0.5)
    same(vt.masked_select(x.cuda(), m.cuda()), vt.masked_select(x, m))  # broadcast mask
    same(vt.nonzero(vt.tensor(3.0).cuda()), vt.nonzero(vt.tensor(3.0)))
    c = vt.tensor(gen.integers(0, 6, size=(3, 4)))
    same(vt.nn.functional.one_hot(c.cuda()), vt.nn.functional.one_hot(c))
    same(vt.nn.functional.one_hot(c.cuda(), 9), vt.nn.functional.one_hot(c, 9))


def test_autograd_through_embedding_gather_index():
    gen = rng()
    w = vt.tensor(random_array((7, 4), vt.float32, gen))
    ind = vt.tensor(gen.integers(0, 7, size=(3, 5)))  # repeats: gradients add up
    grads = []
    for dev in ("cpu", "cuda"):
        wd = w.to(dev).detach().requires_grad_()
        i = ind.to(dev)
        y = vt.nn.functional.embedding(i, wd)
        z = vt.gather(wd, 1, (i[:, :4] % 4))
        u = wd[i[0]] * 2 + wd[wd[:, 0] > 0].sum()
        (y.sum() * 3 + z.sum() + u.sum()).backward()
        grads.append(wd.grad)
    same(grads[1], grads[0])


@pytest.mark.parametrize("call", [
    lambda x, i: vt.index_select(x, 0, i),
    lambda x, i: vt.embedding(x, i),
    lambda x, i: x[i],
    lambda x, i: x.index_put_((i,), vt.ones([1, 3], device="cuda"), True),
    lambda x, i: x.index_add_(0, i, vt.ones([2, 3], device="cuda")),
    lambda x, i: vt.gather(x, 0, i.reshape(2, 1)),
    lambda x, i: x.scatter_(0, i.reshape(2, 1), 1.0),
    lambda x, i: x.scatter_add_(0, i.reshape(2, 1).expand(2, 3), vt.ones([2, 3], device="cuda")),
])
def test_bad_index_raises_at_the_next_sync_and_runtime_survives(call):
    x = vt.zeros([5, 3], device="cuda")
    i = vt.tensor([1, 7]).cuda()
    call(x, i)  # no host sync here: the kernel records the bad index instead of faulting
    with pytest.raises(IndexError, match=r"index 7 is out of bounds for dimension 0 with size 5 \(.* on cuda:0\)"):
        vt.cuda.synchronize()
    vt.cuda.synchronize()  # cleared: nothing more to report
    assert (x.cuda() + 1).sum().item() >= 15  # the runtime keeps working
    call(x, i)
    with pytest.raises(IndexError, match="index 7 is out of bounds"):
        x.cpu()  # a device-to-host copy is a synchronization point too
    y = vt.index_select(vt.arange(5.0).cuda(), 0, vt.tensor([4, -1]).cuda())
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        y.tolist()
    assert vt.index_select(vt.arange(5.0).cuda(), 0, vt.tensor([4, 0]).cuda()).tolist() == [4.0, 0.0]


def test_host_side_checks_raise_at_once():
    x = vt.zeros([5, 3], device="cuda")
    with pytest.raises(TypeError, match="int32 or int64"):
        vt.index_select(x, 0, vt.tensor([0.0]).cuda())
    with pytest.raises(IndexError, match="Index is supposed to be a vector"):
        vt.index_select(x, 0, vt.zeros([2, 2], dtype=vt.int64).cuda())
    with pytest.raises(ValueError, match="Index tensor must have the same number of dimensions"):
        vt.gather(x, 0, vt.zeros([2], dtype=vt.int64).cuda())
    with pytest.raises(IndexError, match="shape mismatch"):
        x[vt.tensor([0, 1]).cuda(), vt.tensor([0, 1, 2]).cuda()]
    with pytest.raises(TypeError, match="Index put requires the source and destination dtypes match"):
        x.index_put_((vt.tensor([0]).cuda(),), vt.ones([3], dtype=vt.float64, device="cuda"))


def test_sync_checks_env_points_at_the_op():
    code = ("import vibetensor as vt\nx = vt.zeros([5], device='cuda')\n"
            "try:\n    vt.index_select(x, 0, vt.tensor([9]).cuda())\nexcept IndexError as e:\n    print('raised', e)\n")
    env = dict(os.environ, VIBETENSOR_CUDA_SYNC_CHECKS="1")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert "raised index 9 is out of bounds for dimension 0 with size 5 (index_select on cuda:0)" in r.stdout, r.stderr
