"""The shared-memory transport against numpy: real processes (a spawned pool per world size), random inputs."""
import numpy as np
import pytest

import vibetensor as vt

SIZES = (1, 7, 1000)  # 7 < 8 ranks: some ring chunks are empty
TOL = {"float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12), "float16": (2e-3, 2e-3), "bfloat16": (1e-2, 2e-2),
       "int64": (0, 0)}


# ---- what the ranks run (module level: the spawned ranks import this file) ---------------------------------
def values(rank, seed, shape, dtype):
    """Rank `rank`'s input as numpy (bfloat16: the float32 values after rounding to bfloat16)."""
    g = np.random.default_rng(seed * 1009 + rank)
    if dtype == "int64":
        a = g.integers(-1000, 1000, size=shape)
    else:
        a = g.standard_normal(shape).astype(np.float64 if dtype == "float64" else np.float32)
    return to_numpy(make(a, dtype, False))


def make(a, dtype, noncontig):
    """A vibetensor tensor holding `a` (non-contiguous: a transposed view of the transposed copy)."""
    t = vt.from_numpy(np.ascontiguousarray(a.T if noncontig and a.ndim == 2 else a))
    t = t.to(getattr(vt, dtype)) if dtype in ("bfloat16", "float16") else t
    return t.t() if noncontig and a.ndim == 2 else t


def zeros(shape, dtype, noncontig=False):
    return make(np.zeros(shape, {"int64": np.int64, "float64": np.float64}.get(dtype, np.float32)), dtype, noncontig)


def to_numpy(t):
    return t.float().numpy().copy() if t.dtype == vt.bfloat16 else t.numpy().copy()


def r_all_reduce(g, seed, shape, dtype, op, algo, noncontig):
    x = make(values(g.rank, seed, shape, dtype), dtype, noncontig)
    assert x.is_contiguous() != (noncontig and len(shape) == 2 and shape[0] > 1)
    g.all_reduce(x, op, algorithm=algo)
    return to_numpy(x)


def r_reduce_scatter(g, seed, m, dtype, op, noncontig):
    inp = make(values(g.rank, seed, (g.size * m, 3), dtype), dtype, noncontig)
    out = zeros((m, 3), dtype, noncontig)
    g.reduce_scatter(out, inp, op)
    return to_numpy(out)


def r_all_gather(g, seed, m, dtype, noncontig):
    inp = make(values(g.rank, seed, (m, 2), dtype), dtype, noncontig)
    out = zeros((g.size * m, 2), dtype, noncontig)
    g.all_gather(out, inp)
    return to_numpy(out)


def r_broadcast(g, seed, shape, dtype, src):
    x = make(values(g.rank, seed, shape, dtype), dtype, False)
    g.broadcast(x, src)
    return to_numpy(x)


def r_all_to_all(g, seed, m, dtype):
    inp = make(values(g.rank, seed, (g.size * m,), dtype), dtype, False)
    out = zeros((g.size * m,), dtype)
    g.all_to_all(out, inp)
    return to_numpy(out)


def r_async(g, seed, numel):
    """Several async collectives in flight, a sync one between them, then wait in reverse order."""
    xs = [make(values(g.rank, seed + i, (numel,), "float32"), "float32", False) for i in range(3)]
    works = [g.all_reduce(xs[0], async_op=True), g.all_reduce(xs[1], "max", async_op=True)]
    g.all_reduce(xs[2], "min")
    for w in reversed(works):
        assert w.wait() is not None and w.is_completed()
    return [to_numpy(x) for x in xs]


def r_split(g, seed):
    """Evens and odds each all_reduce in their own subgroup; then ranks [size-1, 0] (reordered)."""
    evens, odds = list(range(0, g.size, 2)), list(range(1, g.size, 2))
    a = g.split(evens)
    b = g.split(odds)
    sub = a if g.rank % 2 == 0 else b
    assert (a is None) == (g.rank % 2 == 1) and (b is None) == (g.rank % 2 == 0)
    x = make(values(g.rank, seed, (5,), "float64"), "float64", False)
    sub.all_reduce(x)
    pair = g.split([g.size - 1, 0])
    y = None
    if pair is not None:
        y = make(values(g.rank, seed + 1, (4,), "float64"), "float64", False)
        pair.broadcast(y, src=0)  # src 0 of the pair is world rank size-1
        pair.close()
    sub.close()
    return sub.rank, sub.size, to_numpy(x), (None if y is None else to_numpy(y))


def r_send_recv(g, seed, numel):
    """Everyone sends to the next rank and receives from the previous one (sends are buffered)."""
    x = make(values(g.rank, seed, (numel,), "float32"), "float32", False)
    out = vt.zeros(numel)
    g.send(x, (g.rank + 1) % g.size)
    g.recv(out, (g.rank - 1) % g.size)
    return to_numpy(out)


def r_observed(g, numel, algo):
    from vibetensor.fabric import observe
    observe.reset()
    seq = observe.last_seq()
    x = vt.randn(numel)
    g.all_reduce(x, algorithm=algo)
    g.barrier()
    return observe.counters(), [e._asdict() for e in observe.events(since=seq)]


# ---- references -------------------------------------------------------------------------------------------
def reduce_ref(arrays, op, dtype):
    stack = np.stack([a.astype(np.float64) if dtype != "int64" else a for a in arrays])
    if op == "sum":
        return stack.sum(0)
    if op == "avg":
        return stack.mean(0)
    return stack.max(0) if op == "max" else stack.min(0)


def check(got, ref, dtype):
    rtol, atol = TOL[dtype]
    if dtype == "int64":
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol * max(1.0, np.abs(ref).max(initial=0)))


# ---- tests ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64"])
@pytest.mark.parametrize("algo", ["oneshot", "ring"])
def test_all_reduce(pools, n, dtype, algo):
    pool = pools(n)
    ops = ["sum", "max", "min"] + ([] if dtype == "int64" else ["avg"])
    for i, numel in enumerate(SIZES):
        for op in ops:
            shape, noncontig = ((numel,), False) if i % 2 == 0 else ((numel, 3), True)
            seed = hash((n, dtype, algo, numel, op)) % 10000
            got = pool.run(r_all_reduce, seed, shape, dtype, op, algo, noncontig)
            check(got[0], reduce_ref([values(r, seed, shape, dtype) for r in range(n)], op, dtype), dtype)
            for g in got[1:]:  # every rank ends with the same bits, whatever the algorithm
                np.testing.assert_array_equal(g, got[0])


@pytest.mark.parametrize("n,algo", [(2, "oneshot"), (3, "ring"), (4, "ring"), (4, "auto")])
def test_all_reduce_megabytes(pools, n, algo):
    shape = (3 << 18,) if n == 3 else (1 << 20,)  # 3 MB / 4 MB of float32
    got = pools(n).run(r_all_reduce, 5, shape, "float32", "sum", algo, False)
    check(got[-1], reduce_ref([values(r, 5, shape, "float32") for r in range(n)], "sum", "float32"), "float32")


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int64"])
def test_reduce_scatter(pools, n, dtype):
    for m, op, noncontig in ((1, "sum", False), (40, "max", True)) + (((6, "avg", False),) if dtype != "int64" else ()):
        got = pools(n).run(r_reduce_scatter, 7, m, dtype, op, noncontig)
        full = reduce_ref([values(r, 7, (n * m, 3), dtype) for r in range(n)], op, dtype)
        for r in range(n):
            check(got[r], full[r * m:(r + 1) * m], dtype)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", ["float64", "bfloat16", "int64"])
def test_all_gather_broadcast_all_to_all(pools, n, dtype):
    pool = pools(n)
    for m, noncontig in ((1, False), (300, True)):
        got = pool.run(r_all_gather, 11, m, dtype, noncontig)
        ref = np.concatenate([values(r, 11, (m, 2), dtype) for r in range(n)])
        for g in got:
            np.testing.assert_array_equal(g, ref)
    src = n - 1
    got = pool.run(r_broadcast, 12, (33, 5), dtype, src)
    for g in got:
        np.testing.assert_array_equal(g, values(src, 12, (33, 5), dtype))
    m = 17
    got = pool.run(r_all_to_all, 13, m, dtype)
    ins = [values(r, 13, (n * m,), dtype) for r in range(n)]
    for j in range(n):
        np.testing.assert_array_equal(got[j], np.concatenate([ins[i][j * m:(j + 1) * m] for i in range(n)]))


@pytest.mark.parametrize("n", [2, 3])
def test_async_and_send_recv(pools, n):
    pool = pools(n)
    got = pool.run(r_async, 21, 5000)
    ins = [[values(r, 21 + i, (5000,), "float32") for r in range(n)] for i in range(3)]
    for g in got:
        check(g[0], reduce_ref(ins[0], "sum", "float32"), "float32")
        check(g[1], reduce_ref(ins[1], "max", "float32"), "float32")
        check(g[2], reduce_ref(ins[2], "min", "float32"), "float32")
    for numel in (1, 70000):
        got = pool.run(r_send_recv, 22, numel)
        for r in range(n):
            np.testing.assert_array_equal(got[r], values((r - 1) % n, 22, (numel,), "float32"))


@pytest.mark.parametrize("n", [3, 4])
def test_split(pools, n):
    got = pools(n).run(r_split, 31)
    for r, (sub_rank, sub_size, x, y) in enumerate(got):
        members = list(range(r % 2, n, 2))
        assert (sub_rank, sub_size) == (members.index(r), len(members))
        check(x, reduce_ref([values(m, 31, (5,), "float64") for m in members], "sum", "float64"), "float64")
        if r in (0, n - 1):
            np.testing.assert_array_equal(y, values(n - 1, 32, (4,), "float64"))
        else:
            assert y is None


@pytest.mark.parametrize("algo", ["oneshot", "ring"])
def test_observability(pools, algo):
    n, numel = 3, 999
    counters, events = pools(n).run(r_observed, numel, algo)[1]
    assert counters[f"all_reduce.{algo}.count"] == 1 and counters["barrier.count"] == 1
    assert counters["all_reduce.bytes"] == numel * 4 and counters["in_flight"] == 0
    kinds = [(e["kind"], e["algorithm"], e["rank"]) for e in events]
    assert kinds == [("all_reduce", algo, 1), ("barrier", "direct", 1)]
    link_in = {k: v for k, v in counters.items() if k.startswith("link.")}
    if algo == "ring":  # rank 1 reads only from rank 0: 2 (n-1)/n of the message
        assert link_in == {"link.0->1.bytes": 2 * 4 * (numel - 333)}
    else:
        assert link_in == {"link.0->1.bytes": numel * 4, "link.2->1.bytes": numel * 4}


def test_bfloat16_rounding_matches_torch():
    torch = pytest.importorskip("torch")
    from vibetensor.fabric.collectives.shm_data import float32_to_bfloat16_bits
    g = np.random.default_rng(0)
    x = np.concatenate([(g.standard_normal(5000) * 10.0 ** g.integers(-30, 30, 5000)).astype(np.float32),
                        np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 3.3895e38, 1e-40], np.float32)])
    got = np.empty(x.size, np.uint16)
    float32_to_bfloat16_bits(x, got)
    ref = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    finite = ~np.isnan(x)
    np.testing.assert_array_equal(got[finite], ref[finite])
    assert np.all((got[~finite] & 0x7F80) == 0x7F80) and np.all(got[~finite] & 0x7F)  # NaN stays NaN
