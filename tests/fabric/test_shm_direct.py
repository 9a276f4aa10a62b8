"""The shared-memory transport's native direct all-reduces (fabric/collectives/shm_direct.py, csrc/fabric/
shm_direct.cpp): one-shot and two-shot against numpy, on real processes, with the ranks of one collective
calling it differently (sync on a contiguous tensor: the hot path; async; a non-contiguous view): every rank
must end with the same bits."""
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


SIZES = {"oneshot": [2, 334, 4096, 30002], "twoshot": [2, 334, 4096, 30002],
         # 4 slots of 256 KB (a piece of every rank's chunk): 300008 elements reuse them
         "pipelined": [2, 70002, 4096, 300008]}


def cases():
    k = 0
    for algo in SIZES:
        for i in range(16):
            dtype, op = DTYPES[i % 4], OPS[(i // 4) % 4]
            if op == "avg" and dtype.startswith("int"):
                continue
            yield k, algo, dtype, op, SIZES[algo][i % 4]
            k += 1


def r_direct(g):
    from vibetensor.fabric import observe
    out, algos = [], []
    for k, algo, dtype, op, numel in cases():
        a = inputs(g.rank, k, numel, dtype)
        style = (g.rank + k) % 3
        if style == 2 and numel > 2:  # a transposed view: not contiguous
            t = vt.from_numpy(np.ascontiguousarray(a.reshape(numel // 2, 2).T)).t()
            assert not t.is_contiguous()
        else:
            t = vt.from_numpy(a)
        seq = observe.last_seq()
        work = g.all_reduce(t, op, async_op=style == 1, algorithm=algo)
        if style == 1:
            work.wait()
        out.append(t.numpy().reshape(-1).copy())
        algos.append([e.algorithm for e in observe.events(since=seq) if e.kind == "all_reduce"])
    return out, algos


def reference(n, k, dtype, op, numel):
    xs = [inputs(r, k, numel, dtype) for r in range(n)]
    if dtype.startswith("int"):  # numpy's integer reductions wrap, as the transport's do
        fn = {"sum": np.add, "max": np.maximum, "min": np.minimum}[op]
        acc = xs[0]
        for x in xs[1:]:
            acc = fn(acc, x)
        return acc
    stack = np.stack(xs).astype(np.float64)
    return {"sum": stack.sum(0), "avg": stack.mean(0), "max": stack.max(0), "min": stack.min(0)}[op]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_native_programs_agree_with_numpy_however_called(pools, n):
    got = pools(n).run(r_direct)
    for k, algo, dtype, op, numel in cases():
        ref = reference(n, k, dtype, op, numel)
        for r in range(n):
            assert got[r][1][k] == [algo], (r, k)
            res = got[r][0][k]
            np.testing.assert_array_equal(res, got[0][0][k])  # every rank, however it called: the same bits
            if dtype.startswith("int"):
                np.testing.assert_array_equal(res, ref)
            else:
                tol = 1e-5 if dtype == "float32" else 1e-12
                np.testing.assert_allclose(res, ref, rtol=tol, atol=tol * n, equal_nan=True)


def r_auto(g, numel):
    from vibetensor.fabric import observe
    seq = observe.last_seq()
    g.all_reduce(vt.ones(numel))
    g.all_reduce(vt.ones(numel, dtype=vt.bfloat16))  # no native type: the Python path's choice
    return [e.algorithm for e in observe.events(since=seq) if e.kind == "all_reduce"]


@pytest.mark.parametrize("n", [2, 3])
def test_auto_takes_the_native_programs_by_size(n):
    from vibetensor.fabric.collectives import schedule, shm_direct
    from vibetensor.fabric.collectives.shm_launch import RankPool
    big = max(shm_direct.ONESHOT_MAX_BYTES, shm_direct.PAIR_ONESHOT_MAX_BYTES, schedule.CPU_ONESHOT_MAX_BYTES) // 4 + 1
    top = shm_direct.TWOSHOT_MAX_BYTES // 4
    with RankPool(n, env={"VIBETENSOR_FABRIC_TIMEOUT": "20"}) as pool:
        assert pool.run(r_auto, 16)[0] == ["oneshot", "oneshot"]
        assert pool.run(r_auto, big)[0] == ["twoshot", "oneshot" if n == 2 else "ring"]  # (pairs: one-shot)
        assert pool.run(r_auto, top)[0][0] == "twoshot" and pool.run(r_auto, top + 1)[0][0] == "pipelined"
        one = (shm_direct.PAIR_ONESHOT_MAX_BYTES if n == 2 else shm_direct.ONESHOT_MAX_BYTES) // 4
        assert pool.run(r_auto, one)[0][0] == "oneshot" and pool.run(r_auto, one + 1)[0][0] == "twoshot"
    with RankPool(n, env={"VIBETENSOR_FABRIC_TIMEOUT": "20", "VIBETENSOR_ONESHOT_MAX_BYTES": "4096"}) as pool:
        assert pool.run(r_auto, 1024)[0][0] == "oneshot" and pool.run(r_auto, 1025)[0][0] == "twoshot"


LATE = {"oneshot": 5000, "twoshot": 5000, "pipelined": 200003}  # algorithm: numel


def r_late(g):
    """Rank 0 arrives 60 ms late at every call: the others' native waits give up (spin, then 20 ms of
    yielding) and finish through the Python waits, in each step of every algorithm."""
    import time
    out = []
    for k, algo in enumerate(list(LATE) * 2):
        x = vt.from_numpy(inputs(g.rank, 100 + k, LATE[algo], "float64"))
        if g.rank == 0:
            time.sleep(0.06)
        g.all_reduce(x, "sum", algorithm=algo)
        out.append(x.numpy().copy())
    return out


def test_late_rank_finishes_through_the_python_waits(pools):
    n = 3
    got = pools(n).run(r_late)
    for k, algo in enumerate(list(LATE) * 2):
        ref = reference(n, 100 + k, "float64", "sum", LATE[algo])
        for r in range(n):
            np.testing.assert_allclose(got[r][k], ref, rtol=1e-12, atol=1e-12 * n, equal_nan=True)
            np.testing.assert_array_equal(got[r][k], got[0][k])
