"""LocalGroup collectives on virtual CPU devices against numpy: world sizes 1-8, every dtype, both algorithms."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor import fabric
from vibetensor.fabric import observe
from vibetensor.fabric.collectives.local import LocalGroup
from helpers import make, random_array, rng, to_numpy64

DTYPES = [vt.float32, vt.float64, vt.bfloat16, vt.int64]


def inputs(n, shape, dtype, gen, device="cpu", layout="contiguous"):
    """n fresh random tensors (different per device) and their float64/int references."""
    arrs = [random_array(shape, dtype, gen) for _ in range(n)]
    return [make(a, dtype, layout).to(device) for a in arrs], arrs


def tol(dtype, n):
    """(rtol, atol) for a reduction of n values accumulated in dtype (the ring adds in the wire dtype)."""
    return {vt.float64: (1e-12, 1e-12), vt.float32: (1e-5, 1e-5 * n),
            vt.bfloat16: (2e-2, 4e-2 * n), vt.int64: (0, 0)}[dtype]


def check(t, expected, dtype, n=1):
    a = to_numpy64(t.cpu())
    rtol, atol = tol(dtype, n)
    if dtype.is_floating_point:
        np.testing.assert_allclose(a, expected, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(a, expected)

SIZES = [1, 2, 3, 4, 8]
REDUCE = {"sum": lambda a: np.sum(a, 0), "avg": lambda a: np.mean(a, 0),
          "max": lambda a: np.max(a, 0), "min": lambda a: np.min(a, 0)}


def group(n, **kw):
    return LocalGroup(fabric.virtual_devices("cpu", n), **kw)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("algo", ["ring", "oneshot"])
@pytest.mark.parametrize("shape", [(1,), (5, 7), (4099,)], ids=str)
def test_all_reduce(n, dtype, algo, shape):
    gen = rng()
    for op in ["sum", "avg", "max", "min"]:
        if op == "avg" and not dtype.is_floating_point:
            continue
        ts, arrs = inputs(n, shape, dtype, gen)
        group(n).all_reduce(ts, op=op, algorithm=algo)
        want = REDUCE[op](np.stack(arrs))
        for t in ts:
            check(t, want, dtype, n)
        # every device ends with the same bits (each chunk is reduced once, or in rank order everywhere)
        assert all(np.array_equal(ts[0].float().numpy(), t.float().numpy()) for t in ts)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("algo", ["ring", "oneshot"])
def test_reduce_scatter_and_all_gather(n, dtype, algo):
    gen = rng()
    for rows in [1, 3]:
        ins, arrs = inputs(n, (n * rows, 5), dtype, gen)
        outs = [vt.empty(rows, 5, dtype=dtype) for _ in range(n)]
        before = [i.clone() for i in ins]
        group(n).reduce_scatter(outs, ins, op="sum", algorithm=algo)
        total = np.sum(np.stack(arrs), 0)
        for r, o in enumerate(outs):
            check(o, total[r * rows:(r + 1) * rows], dtype, n)
        assert all(np.array_equal(a.float().numpy(), b.float().numpy()) for a, b in zip(ins, before))  # inputs untouched

        ins, arrs = inputs(n, (rows, 3), dtype, gen)
        outs = [vt.zeros(n * rows, 3, dtype=dtype) for _ in range(n)]
        group(n).all_gather(outs, ins, algorithm=algo)
        for o in outs:
            check(o, np.concatenate(arrs), dtype)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_broadcast_and_all_to_all(n, dtype):
    gen = rng()
    for algo in ["ring", "oneshot"]:
        for src in {0, n - 1}:
            ts, arrs = inputs(n, (37, 3), dtype, gen)
            group(n).broadcast(ts, src=src, algorithm=algo)
            for t in ts:
                check(t, arrs[src], dtype)
    ins, arrs = inputs(n, (2 * n, 3), dtype, gen)
    outs = [vt.zeros(2 * n, 3, dtype=dtype) for _ in range(n)]
    group(n).all_to_all(outs, ins)
    for j, o in enumerate(outs):
        check(o, np.concatenate([a[2 * j:2 * j + 2] for a in arrs]), dtype)


@pytest.mark.parametrize("n", [3, 8])
@pytest.mark.parametrize("algo", ["ring", "oneshot"])
def test_one_megabyte_and_non_contiguous(n, algo):
    gen = rng()
    ts, arrs = inputs(n, (512, 512), vt.float32, gen)  # 1 MiB per device
    group(n).all_reduce(ts, algorithm=algo)
    for t in ts:
        check(t, np.sum(np.stack(arrs), 0), vt.float32, n)
    ts, arrs = inputs(n, (6, 9), vt.float64, gen, layout="transposed")
    group(n).all_reduce(ts, algorithm=algo)
    for t in ts:
        check(t, np.sum(np.stack(arrs), 0), vt.float64, n)
        assert not t.is_contiguous()


def test_async_work_and_observability():
    g = group(4)
    seq = observe.last_seq()
    gen = rng()
    ts, arrs = inputs(4, (300,), vt.float32, gen)
    w = g.all_reduce(ts, async_op=True, algorithm="ring")
    assert w.wait() is ts and w.is_completed()
    check(ts[2], np.sum(np.stack(arrs), 0), vt.float32, 4)
    outs = [vt.empty(4 * 300, dtype=vt.float32) for _ in range(4)]
    assert g.all_gather(outs, ts, async_op=True).wait() is outs
    g.barrier()
    ev = observe.events(since=seq)
    assert [e.kind for e in ev] == ["all_reduce", "all_gather", "barrier"]
    assert ev[0].algorithm == "ring" and ev[0].nbytes == 1200 and ev[0].group == g.name
    c = observe.counters()
    # the ring's reduce-scatter + all-gather move 2 * (n-1)/n of the message over each hop
    assert c["link.cpu/v0->cpu/v1.bytes"] >= 2 * 3 * 300
    assert c["all_reduce.ring.count"] >= 1


def test_split_and_bad_arguments():
    g = group(4)
    sub = g.split([1, 3])
    assert sub.size == 2 and [d.index for d in sub.devices] == [1, 3]
    xs = [vt.tensor([1.0]), vt.tensor([2.0])]
    sub.all_reduce(xs)
    assert xs[0].item() == 3.0
    with pytest.raises(ValueError, match="expected a list of 4 tensors"):
        g.all_reduce([vt.zeros(2)])
    with pytest.raises(ValueError, match="one shape"):
        g.all_reduce([vt.zeros(2)] * 3 + [vt.zeros(3)])
    with pytest.raises(TypeError, match="one dtype"):
        g.all_reduce([vt.zeros(2)] * 3 + [vt.zeros(2, dtype=vt.float64)])
    with pytest.raises(TypeError, match="avg needs a floating dtype"):
        g.all_reduce([vt.zeros(2, dtype=vt.int64) for _ in range(4)], op="avg")
    with pytest.raises(ValueError, match="unknown reduce op"):
        g.all_reduce([vt.zeros(2) for _ in range(4)], op="median")
    with pytest.raises(ValueError, match="input must be 4 outputs along dim 0"):
        g.reduce_scatter([vt.zeros(2) for _ in range(4)], [vt.zeros(6) for _ in range(4)])
    with pytest.raises(ValueError, match="algorithm"):
        g.all_reduce([vt.zeros(2) for _ in range(4)], algorithm="tree")
    with pytest.raises(ValueError, match="src 4 out of range"):
        g.broadcast([vt.zeros(2) for _ in range(4)], src=4)
    with pytest.raises(ValueError, match="distinct members"):
        g.split([0, 0])
