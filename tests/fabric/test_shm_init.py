"""vt.fabric.init / get_group / destroy from a torchrun-style environment (real processes)."""
import os

import numpy as np
import pytest

import vibetensor as vt
import vibetensor.fabric as fabric
from vibetensor.fabric.collectives.shm_launch import RankPool


def r_init(_pool_group, port):
    """Each rank sets what torchrun would, then joins the world through fabric.init() (a second world of the
    same processes, beside the pool's own group)."""
    os.environ.update(RANK=str(_pool_group.rank), WORLD_SIZE=str(_pool_group.size), LOCAL_RANK=str(_pool_group.rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    os.environ.pop("VIBETENSOR_FABRIC_JOB", None)
    world = fabric.init()
    try:
        assert fabric.get_group() is world and fabric.is_initialized()
        x = vt.full((6,), float(world.rank + 1))
        world.all_reduce(x, "avg")
        return world.rank, world.size, world.local_rank, world.backend, world.job, x.numpy().copy()
    finally:
        fabric.destroy()


def test_init_from_environment():
    with RankPool(2, env={"VIBETENSOR_FABRIC_TIMEOUT": "20"}) as pool:
        res = pool.run(r_init, 29511)
    for r, (rank, size, local, backend, job, x) in enumerate(res):
        assert (rank, size, local, backend, job) == (r, 2, r, "shm", "127.0.0.1:29511")
        np.testing.assert_array_equal(x, np.full(6, 1.5, np.float32))


def test_single_process_world_and_errors(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "VIBETENSOR_FABRIC_JOB"):
        monkeypatch.delenv(var, raising=False)
    assert not fabric.is_initialized()
    with pytest.raises(RuntimeError, match="has not been called"):
        fabric.get_group()
    with pytest.raises(ValueError, match="unknown backend 'nccl'"):
        fabric.init(backend="nccl")
    world = fabric.init()
    try:
        assert (world.rank, world.size, world.backend) == (0, 1, "shm")
        with pytest.raises(RuntimeError, match="already called"):
            fabric.init()
        x = vt.randn(3, 4)
        ref = x.numpy().copy()
        world.all_reduce(x)
        np.testing.assert_array_equal(x.numpy(), ref)
    finally:
        fabric.destroy()
    assert not fabric.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(fabric.CollectiveError, match="no job id"):
        fabric.init()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(fabric.CollectiveError, match="RANK='x' is not an integer"):
        fabric.init()
