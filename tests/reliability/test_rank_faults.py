"""Ranks SIGKILLed at random points of long all-reduce loops and of a data-parallel training job on CPU ranks:
the survivors raise RankFailure naming the dead rank within the timeout, the launcher reports the rank and its
signal, no process or shared-memory segment is left behind, and a restart (--max-restarts) resumes from the last
checkpoint to the very loss and parameters of an uninterrupted run."""
import glob
import json
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import vibetensor as vt
from vibetensor.fabric.collectives.api import RankFailure
from vibetensor.fabric.collectives.shm_launch import RankPool
from vibetensor.fabric.collectives.shm_segment import SHM_DIR, job_prefix

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "launch"))
from launch_harness import clean_env, json_lines, launch, pids_in, wait_gone  # noqa: E402

TIMEOUT = 5.0  # VIBETENSOR_FABRIC_TIMEOUT of the ranks: a dead peer must be reported well within it
SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "resume_training.py")


def _leftovers(job):
    return glob.glob(os.path.join(SHM_DIR, glob.escape(job_prefix(job)) + "*"))


def r_barrier(g):
    g.barrier()


def r_allreduce_until_failure(g, numel):
    """All-reduce forever (well, 10^6 times); returns (RankFailure, calls made) once a peer is gone."""
    x = vt.ones(numel)
    for i in range(10 ** 6):
        algo = "ring" if i % 2 else "oneshot"  # both schedules, so the kill lands in either
        try:
            g.all_reduce(x, algorithm=algo)
        except RankFailure as e:
            return e, i
        x.fill_(1.0)
    return None, 10 ** 6


@pytest.mark.parametrize("round_", range(3))
def test_rank_killed_at_a_random_point_of_an_allreduce_loop(round_):
    gen = np.random.default_rng(round_)
    victim, delay = int(gen.integers(0, 3)), float(gen.uniform(0.2, 1.0))
    numel = int(gen.choice([64, 4096, 100_000]))
    pool = RankPool(3, env={"VIBETENSOR_FABRIC_TIMEOUT": str(TIMEOUT)})
    try:
        timer = None
        pool.run(r_barrier)  # everyone is up before the clock starts
        killed = {}
        timer = threading.Timer(delay, lambda: (killed.setdefault("at", time.monotonic()),
                                                os.kill(pool.procs[victim].pid, signal.SIGKILL)))
        timer.start()
        res = pool.run(r_allreduce_until_failure, numel, timeout=60, allow_failures=True)
        noticed = time.monotonic() - killed["at"]
    finally:
        if timer is not None:
            timer.cancel()
        pool.close()
    assert res[victim] is None  # it died
    for r in set(range(3)) - {victim}:
        err, calls = res[r]
        assert isinstance(err, RankFailure) and err.ranks == (victim,), (r, err)
        assert calls > 0
    assert noticed < TIMEOUT + 2, f"survivors took {noticed:.1f} s to report the dead rank"
    assert not any(p.is_alive() for p in pool.procs)
    assert _leftovers(pool.job) == []


def _launch_training(tmp_path, steps, kill_at, restarts, job):
    out = tmp_path / f"run_{kill_at}_{restarts}"
    out.mkdir()
    res, seconds = launch("--nproc-per-node", 2, "--device", "cpu", "--max-restarts", restarts, "--job-id", job,
                          SCRIPT, out, steps, kill_at,
                          env=clean_env(VIBETENSOR_FABRIC_TIMEOUT=str(TIMEOUT)), timeout=120)
    return res, seconds, out


def test_launcher_reports_a_rank_killed_mid_training_and_leaves_nothing(tmp_path):
    job = f"relkill{os.getpid()}"
    kill_at = int(np.random.default_rng(7).integers(1, 8))
    res, seconds, out = _launch_training(tmp_path, 10, kill_at, restarts=0, job=job)
    assert res.returncode == 128 + signal.SIGKILL, res.stderr
    assert "rank 1 (pid" in res.stderr and "SIGKILL" in res.stderr, res.stderr
    assert "stopped the other running rank(s): 0" in res.stderr or "rank 0" in res.stderr
    assert wait_gone(pids_in(out)) == []
    assert _leftovers(job) == []


def test_restart_resumes_from_the_checkpoint_with_the_same_loss(tmp_path):
    steps = 10
    kill_at = int(np.random.default_rng(11).integers(1, steps))
    clean, _, _ = _launch_training(tmp_path, steps, -1, restarts=0, job=f"relclean{os.getpid()}")
    assert clean.returncode == 0, clean.stderr
    job = f"relresume{os.getpid()}"
    resumed, _, out = _launch_training(tmp_path, steps, kill_at, restarts=1, job=job)
    assert resumed.returncode == 0, resumed.stderr
    assert "SIGKILL" in resumed.stderr and "restarting all ranks (restart 1 of 1)" in resumed.stderr
    want, got = json_lines(clean.stdout)[0], json_lines(resumed.stdout)[0]
    assert want["start"] == 0 and 0 < got["start"] <= kill_at  # it resumed, from a checkpoint the kill spared
    assert got["loss"] == want["loss"]  # bit for bit
    for a, b in zip(got["params"], want["params"]):
        np.testing.assert_array_equal(a, b)
    assert wait_gone(pids_in(out)) == []
    assert _leftovers(job) == []
    print(f"\nkilled rank 1 at step {kill_at}; resumed from step {got['start']}; loss {got['loss']} as uninterrupted")
