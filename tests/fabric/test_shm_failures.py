"""The shared-memory transport when things go wrong: killed and late ranks, mismatched calls, stale segments,
bad arguments, and a world of 8."""
import glob
import os
import signal
import time

import numpy as np
import pytest

import vibetensor as vt
from vibetensor.fabric.collectives.api import CollectiveError, RankFailure
from vibetensor.fabric.collectives.shm import ShmGroup
from vibetensor.fabric.collectives.shm_launch import RankPool
from vibetensor.fabric.collectives.shm_segment import SHM_DIR, job_prefix

FAST = {"VIBETENSOR_FABRIC_TIMEOUT": "5"}


def leftovers(job):
    return glob.glob(os.path.join(SHM_DIR, glob.escape(job_prefix(job)) + "*"))


# ---- what the ranks run -------------------------------------------------------------------------------
def r_sum(g, numel, algo):
    x = vt.from_numpy(np.random.default_rng(g.rank).standard_normal(numel).astype(np.float32))
    g.all_reduce(x, algorithm=algo)
    return x.numpy().copy()


def r_die(g, victim, algo, how):
    """The victim dies inside (or right before) an all_reduce; the others report what they saw."""
    from vibetensor.fabric.collectives import shm_collective
    if g.rank == victim:
        if how == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        # dies mid-ring (its input published, after its first ring step), or one-shot before publishing (once
        # its input is published the others have all they need from it and rightly complete)
        hook = "set_ready" if algo == "ring" else "publish"
        setattr(shm_collective.Collective, hook, lambda *a: os._exit(3))
    x = vt.randn(4096)
    t0 = time.monotonic()
    try:
        g.all_reduce(x, algorithm=algo)
        return "completed"
    except RankFailure as e:
        err, elapsed = e, time.monotonic() - t0
    try:
        g.barrier()
        after = "usable"
    except CollectiveError as e2:
        after = str(e2)
    return err, elapsed, after, float(np.ones(3).sum())  # the process itself is fine


def r_late(g, late, sleep):
    g.timeout = 0.5
    if g.rank == late:
        time.sleep(sleep)
        return "slept"
    try:
        g.all_reduce(vt.randn(10), algorithm="oneshot")
    except RankFailure as e:
        return e
    return "completed"


def r_mismatch(g):
    """Each kind of mismatch on its own subgroup (a failed group is unusable; the world stays fine)."""
    out = []
    for kind in ("collective", "size"):
        sub = g.split(range(g.size))
        try:
            if sub.rank == 0 or kind == "size":
                sub.all_reduce(vt.randn(10 + (sub.rank if kind == "size" else 0)))
            else:
                sub.all_gather(vt.randn(10 * sub.size), vt.randn(10))
            out.append("completed")
        except CollectiveError as e:
            out.append(str(e))
        sub.close()
    g.barrier()
    return out


def r_world8(g):
    out = []
    for algo, numel in (("ring", 37), ("oneshot", 37), ("ring", 5)):
        x = vt.from_numpy(np.arange(numel, dtype=np.float64) * (g.rank + 1))
        g.all_reduce(x, algorithm=algo)
        out.append(x.numpy().copy())
    gathered = vt.zeros(g.size * 2, dtype=vt.int64)
    g.all_gather(gathered, vt.tensor([g.rank, -g.rank]))
    return out, gathered.numpy().copy()


def exit_without_close(rank, job):
    g = ShmGroup(rank, 2, job=job, timeout=20)
    g.all_reduce(np.arange(10.0) * rank)  # numpy arrays work too; then leave without close()


# ---- tests --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("algo,how", [("ring", "exit"), ("oneshot", "sigkill"), ("pipelined", "sigkill")])
def test_killed_rank_raises_within_timeout_and_leaks_nothing(algo, how):
    n, victim = 3, 1
    pool = RankPool(n, env=FAST)
    try:
        pool.run(r_sum, 64, algo)  # everyone joined and has buffers
        res = pool.run(r_die, victim, algo, how, timeout=30, allow_failures=True)
    finally:
        pool.close()
    assert res[victim] is None  # died
    for r in (0, 2):
        err, elapsed, after, alive = res[r]
        assert isinstance(err, RankFailure) and err.ranks == (victim,) and err.collective == "all_reduce", err
        assert "died" in str(err) or "reported by" in str(err)
        assert elapsed < 5.0
        assert "unusable after an earlier failure" in after and alive == 3.0
    assert leftovers(pool.job) == []


def test_late_rank_times_out_naming_it():
    pool = RankPool(3, env=FAST)
    try:
        pool.run(r_sum, 8, "oneshot")
        res = pool.run(r_late, 2, 0.9, timeout=30, allow_failures=True)
    finally:
        pool.close()
    for r in (0, 1):
        assert isinstance(res[r], RankFailure) and res[r].ranks == (2,), res[r]
        assert "rank 2 did not arrive within 0.5 s" in str(res[r])
    assert leftovers(pool.job) == []


def test_mismatched_calls_fail_loudly():
    with RankPool(2, env=FAST) as pool:
        res = pool.run(r_mismatch, timeout=30)
    for per_rank in res:
        assert len(per_rank) == 2 and all("different collective" in r for r in per_rank), res


def test_stale_segments_of_a_killed_job_are_cleaned_by_the_next_rendezvous():
    pool = RankPool(2, env=FAST)
    pool.run(r_sum, 1000, "oneshot")
    for p in pool.procs:
        p.kill()
    pool.close()
    assert leftovers(pool.job)  # everything a SIGKILLed job had
    with RankPool(2, env=FAST, job=pool.job) as again:
        got = again.run(r_sum, 1000, "ring")
    np.testing.assert_array_equal(got[0], got[1])
    assert leftovers(pool.job) == []


def test_world_of_eight():
    with RankPool(8, env={"VIBETENSOR_FABRIC_TIMEOUT": "20"}) as pool:
        res = pool.run(r_world8, timeout=60)
    for out, gathered in res:
        for o, numel in zip(out, (37, 37, 5)):
            np.testing.assert_array_equal(o, np.arange(numel) * 36.0)
        np.testing.assert_array_equal(gathered, np.array([[r, -r] for r in range(8)]).ravel())


def test_rendezvous_timeout_and_bad_arguments():
    job = f"solo-test-{os.getpid()}"
    with pytest.raises(RankFailure, match=r"rendezvous: rank 1 did not join within 0.3 s"):
        ShmGroup(0, 2, job=job, timeout=0.3)
    assert leftovers(job) == []
    g = ShmGroup(0, 1, job=job, timeout=2)
    x = vt.randn(4)
    with pytest.raises(CollectiveError, match="must be 1 times the other along dim 0"):
        g.reduce_scatter(vt.zeros(3), x)
    with pytest.raises(CollectiveError, match="output and input dtypes differ"):
        g.all_gather(vt.zeros(4, dtype=vt.float64), x)
    with pytest.raises(CollectiveError, match="AVG needs a floating-point tensor"):
        g.all_reduce(vt.tensor([1, 2]), "avg")
    with pytest.raises(ValueError, match="unknown reduce op"):
        g.all_reduce(x, "median")
    with pytest.raises(ValueError, match="algorithm must be"):
        g.all_reduce(x, algorithm="tree")
    with pytest.raises(ValueError, match="src 1 is out of range"):
        g.broadcast(x, src=1)
    with pytest.raises(ValueError, match="must be another rank"):
        g.send(x, 0)
    with pytest.raises(TypeError, match="expected a vibetensor tensor"):
        g.all_reduce([1.0, 2.0])
    with pytest.raises(CollectiveError, match="divisible by the group size"):
        g.all_to_all(vt.zeros(3), vt.zeros(4))
    with pytest.raises(ValueError, match="distinct ranks"):
        g.split([0, 0])
    g.close()
    with pytest.raises(CollectiveError, match="the group is closed"):
        g.all_reduce(x)
    assert leftovers(job) == []


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_ranks_exiting_without_close_leave_nothing(method):
    import multiprocessing as mp
    job = f"noclose-{method}-{os.getpid()}"
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=exit_without_close, args=(r, job)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert leftovers(job) == []
