"""The shared-memory one-shot all-reduce's native path (fabric/collectives/shm_fast.py, csrc/fabric/
shm_oneshot.cpp) against numpy, and with ranks on the Python path in the same collectives: every rank must end
with the same bits, whichever path each took (same halves, descriptors, flags and reduction order)."""
import numpy as np
import pytest

import vibetensor as vt

DTYPES = ("float32", "float64", "int32", "int64")
OPS = ("sum", "avg", "max", "min")


def inputs(rank, seed, numel, dtype):
    g = np.random.default_rng(seed * 131 + rank)
    if dtype.startswith("int"):
        info = np.iinfo(dtype)
        return g.integers(info.min // 2, info.max // 2, size=numel, dtype=dtype)  # sums of 3+ ranks wrap
    a = g.standard_normal(numel).astype(dtype)
    a[g.integers(0, numel, size=max(1, numel // 50))] = np.nan  # max/min must propagate NaN like numpy
    return a


def cases():
    for i in range(24):
        dtype, op = DTYPES[i % 4], OPS[(i // 4) % 4]
        if op == "avg" and dtype.startswith("int"):
            continue
        yield i, dtype, op, [1, 333, 4096, 20000][i % 4]


def r_mixed(g, python_ranks):
    """Ranks in python_ranks take the Python path, the others the native one; returns each call's result and
    how many calls went native here."""
    native = 0
    if g.rank in python_ranks:
        g._fast.all_reduce = lambda *a: False
    else:
        run = g._fast.all_reduce

        def counted(*a):
            nonlocal native
            done = run(*a)
            native += done
            return done
        g._fast.all_reduce = counted
    out = []
    for i, dtype, op, numel in cases():
        x = vt.from_numpy(inputs(g.rank, i, numel, dtype))
        g.all_reduce(x, op)
        out.append(x.numpy().copy())
    g._fast.all_reduce = type(g._fast).all_reduce.__get__(g._fast)
    return out, native


def reference(n, i, dtype, op, numel):
    xs = [inputs(r, i, numel, dtype) for r in range(n)]
    if dtype.startswith("int"):  # numpy's integer reductions wrap, as the transport's do
        fn = {"sum": np.add, "max": np.maximum, "min": np.minimum}[op]
        acc = xs[0]
        for x in xs[1:]:
            acc = fn(acc, x)
        return acc
    stack = np.stack(xs).astype(np.float64)
    return {"sum": stack.sum(0), "avg": stack.mean(0), "max": stack.max(0), "min": stack.min(0)}[op]


@pytest.mark.parametrize("n,python_ranks", [(1, ()), (2, ()), (3, (1,)), (4, (0, 3))])
def test_native_and_python_paths_agree_with_numpy(pools, n, python_ranks):
    got = pools(n).run(r_mixed, python_ranks)
    for r, (_, native) in enumerate(got):
        calls = len(list(cases()))
        # a rank's first call of a size grows its buffer on the Python path; the rest go native
        assert native == 0 if r in python_ranks else native >= calls // 2, (r, native)
    for k, (i, dtype, op, numel) in enumerate(cases()):
        ref = reference(n, i, dtype, op, numel)
        for r in range(n):
            res = got[r][0][k]
            np.testing.assert_array_equal(res, got[0][0][k])  # every rank, whichever path: the same bits
            if dtype.startswith("int"):
                np.testing.assert_array_equal(res, ref)
            else:
                tol = 1e-5 if dtype == "float32" else 1e-12
                np.testing.assert_allclose(res, ref, rtol=tol, atol=tol * n, equal_nan=True)
