"""vt.fabric.save_checkpoint / load_checkpoint with DataParallel on 2 CPU ranks: rank 0 writes one file, every rank
resumes from it, and resumed training equals uninterrupted training bit for bit."""
import os

import numpy as np
import pytest

import vibetensor as vt
import vibetensor.fabric as fabric
from vibetensor.fabric.collectives.shm_launch import RankPool
from test_ddp_training import MLP, PER_RANK, batch, loss_of, params_of, shard

STEPS = 4


@pytest.fixture(scope="module")
def pool():
    with RankPool(2, env={"VIBETENSOR_FABRIC_TIMEOUT": "20"}) as p:
        yield p


def train(g, dp, opt, steps):
    for s in steps:
        x, y = batch(s, PER_RANK * g.size)
        loss_of(dp, shard(x, g.rank, g.size), shard(y, g.rank, g.size)).backward()
        opt.step()
        opt.zero_grad()


def setup(g, seed):
    model = MLP(seed)
    dp = fabric.DataParallel(model, group=g)
    return model, dp, vt.optim.AdamW(dp.parameters(), lr=0.01)


def r_uninterrupted(g):
    model, dp, opt = setup(g, 0)
    train(g, dp, opt, range(STEPS))
    return params_of(model)


def r_resumed(g, path):
    model, dp, opt = setup(g, 0)
    train(g, dp, opt, range(STEPS // 2))
    fabric.save_checkpoint(path, dp, opt, step=STEPS // 2, extra={"lr": 0.01}, group=g)
    listing = sorted(os.listdir(os.path.dirname(path)))  # every rank returns after the file is in place
    del model, dp, opt  # "the job stopped": a new process would start from different weights
    model, dp, opt = setup(g, 100 + g.rank)
    step, extra = fabric.load_checkpoint(path, dp, opt)
    train(g, dp, opt, range(step, STEPS))
    return params_of(model), step, extra, listing


def r_failed_save(g, path):
    model, dp, opt = setup(g, 0)
    try:
        fabric.save_checkpoint(path, dp, opt, step=1, group=g)
    except Exception as e:  # noqa: BLE001 - what each rank saw is the result
        return type(e).__name__, str(e)
    return "saved", ""


def test_resume_equals_uninterrupted(pool, tmp_path):
    path = str(tmp_path / "ckpt.safetensors")
    want = pool.run(r_uninterrupted)
    got = pool.run(r_resumed, path)
    for rank in range(2):
        params, step, extra, listing = got[rank]
        assert (step, extra, listing) == (STEPS // 2, {"lr": 0.01}, ["ckpt.safetensors"])  # no temporary left
        for a, b in zip(params, want[rank]):
            np.testing.assert_array_equal(a, b)
    # the file is an ordinary vibetensor checkpoint of the unwrapped model
    model = MLP(5)
    assert vt.checkpoint.load(path, model=model)["step"] == STEPS // 2
    assert {f"model.{k}" for k in model.state_dict()} == {k for k in vt.load_file(path) if k.startswith("model.")}


def test_failed_save_raises_on_every_rank(pool, tmp_path):
    path = str(tmp_path / "missing-dir" / "ckpt.safetensors")
    (k0, m0), (k1, m1) = pool.run(r_failed_save, path)
    assert k0 == "FileNotFoundError"
    assert k1 == "RuntimeError" and "rank 0 failed to write" in m1
