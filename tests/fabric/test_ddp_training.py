"""vt.fabric.DataParallel on real processes (RankPool, worlds of 1-3): equal to single-process training on the
concatenated batch, buckets launched during backward, no_sync accumulation, unused parameters, a dying rank."""
import time

import numpy as np
import pytest

import vibetensor as vt
import vibetensor.fabric as fabric
from vibetensor.fabric.collectives.shm_launch import RankPool

PER_RANK = 4  # samples per rank per step
STEPS = 3


# ---- shared by the ranks and the single-process reference (module level: spawned ranks import this file) --
class MLP(vt.nn.Module):
    def __init__(self, seed, extra=False):
        super().__init__()
        vt.manual_seed(seed)
        self.fc1, self.fc2, self.fc3 = vt.nn.Linear(5, 16), vt.nn.Linear(16, 16), vt.nn.Linear(16, 3)
        if extra:  # used only when forward is told to (rank-dependent), and never
            self.sometimes, self.never = vt.nn.Linear(16, 16), vt.nn.Linear(3, 3)

    def forward(self, x, use_sometimes=False):
        h = vt.tanh(self.fc1(x))
        if use_sometimes:
            h = h + self.sometimes(h)
        return self.fc3(vt.tanh(self.fc2(h)))


def batch(step, n, micro=0):
    """The global batch of a step: n samples (float32 inputs, regression targets)."""
    g = np.random.default_rng(1000 * step + micro)
    x = g.standard_normal((n, 5)).astype(np.float32)
    y = g.standard_normal((n, 3)).astype(np.float32)
    return x, y


def shard(arr, rank, size):
    return vt.from_numpy(np.ascontiguousarray(arr[rank * PER_RANK:(rank + 1) * PER_RANK]))


def loss_of(model, x, y, **kw):
    return ((model(x, **kw) - y) ** 2).mean()


def make_opt(params, kind):
    if kind == "sgd":
        return vt.optim.SGD(params, lr=0.1, momentum=0.9)
    return vt.optim.Adam(params, lr=0.01)


def params_of(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


def reference(kind, size, steps=STEPS):
    """Single process, the concatenated batch, mean loss."""
    model = MLP(0)
    opt = make_opt(model.parameters(), kind)
    for s in range(steps):
        x, y = batch(s, PER_RANK * size)
        loss_of(model, vt.from_numpy(x), vt.from_numpy(y)).backward()
        opt.step()
        opt.zero_grad()
    return params_of(model)


# ---- what the ranks run ------------------------------------------------------------------------------------
def r_train(g, kind):
    model = MLP(seed=g.rank)  # different on each rank: construction broadcasts rank 0's
    dp = fabric.DataParallel(model, group=g, bucket_cap_mb=0.001)  # ~1 KB: several buckets
    opt = make_opt(dp.parameters(), kind)
    logs = []
    for s in range(STEPS):
        x, y = batch(s, PER_RANK * g.size)
        loss_of(dp, shard(x, g.rank, g.size), shard(y, g.rank, g.size)).backward()
        logs.append(list(dp.reducer.launch_log) if dp.reducer else [])
        opt.step()
        opt.zero_grad()
    nbuckets = len(dp.reducer.buckets) if dp.reducer else 0
    return params_of(model), logs, nbuckets


def r_no_sync(g, micro):
    model = MLP(0)
    dp = fabric.DataParallel(model, group=g)
    for m in range(micro):
        x, y = batch(0, PER_RANK * g.size, micro=m)
        args = shard(x, g.rank, g.size), shard(y, g.rank, g.size)
        if m < micro - 1:
            with dp.no_sync():
                loss_of(dp, *args).backward()
            local = [p.grad.numpy().copy() for p in model.parameters()]
        else:
            loss_of(dp, *args).backward()
    return local, [p.grad.numpy().copy() for p in model.parameters()]


def r_unused(g):
    model = MLP(0, extra=True)
    dp = fabric.DataParallel(model, group=g, bucket_cap_mb=0.001)
    out = []
    for step in range(2):  # the second iteration checks no state is left over from the first
        x, y = batch(step, PER_RANK * g.size)
        loss_of(dp, shard(x, g.rank, g.size), shard(y, g.rank, g.size), use_sometimes=g.rank == 0).backward()
        out.append({n: None if p.grad is None else p.grad.numpy().copy() for n, p in model.named_parameters()})
        model.zero_grad()
    return out


def r_unused_strict(g):
    """find_unused_parameters=False: a parameter without a gradient stalls its bucket; backward says so as it
    ends (the engine's end-of-backward callback), and the next iteration starts clean."""
    model = MLP(0, extra=True)
    dp = fabric.DataParallel(model, group=g, find_unused_parameters=False)
    x, y = batch(0, PER_RANK * g.size)
    args = shard(x, g.rank, g.size), shard(y, g.rank, g.size)
    try:
        loss_of(dp, *args).backward()
    except RuntimeError as e:
        dp(args[0])  # no half-finished iteration left behind
        return str(e)
    return "no error"


def r_from_init(g, port):
    """DataParallel's default group is the world of vt.fabric.init()."""
    import os
    os.environ.update(RANK=str(g.rank), WORLD_SIZE=str(g.size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    fabric.init()
    try:
        model = MLP(g.rank)
        dp = fabric.DataParallel(model)
        x, y = batch(0, PER_RANK * g.size)
        loss_of(dp, shard(x, g.rank, g.size), shard(y, g.rank, g.size)).backward()
        return dp.world_size, [p.grad.numpy().copy() for p in model.parameters()]
    finally:
        fabric.destroy()


def r_die_in_backward(g, victim):
    import os
    model = MLP(0)
    dp = fabric.DataParallel(model, group=g, bucket_cap_mb=0.001)
    x, y = batch(0, PER_RANK * g.size)
    loss = loss_of(dp, shard(x, g.rank, g.size), shard(y, g.rank, g.size))
    if g.rank == victim:  # dies once backward reaches fc2 (after fc3's bucket may have been launched)
        model.fc2.weight.register_hook(lambda grad: os._exit(7))
    g.timeout = 2.0
    t0 = time.monotonic()
    try:
        loss.backward()
    except fabric.RankFailure as e:
        return "RankFailure", str(e), time.monotonic() - t0
    except Exception as e:  # noqa: BLE001 - reported to the test, which names what it expected
        return type(e).__name__, str(e), time.monotonic() - t0
    return "completed", "", time.monotonic() - t0


# ---- tests -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_equals_single_process_on_concatenated_batch(pools, size, kind):
    res = pools(size).run(r_train, kind)
    want = reference(kind, size)
    for rank, (got, _, _) in enumerate(res):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"rank {rank}")


def test_buckets_launch_during_backward(pools):
    """The first bucket's all_reduce starts while backward still has gradients to produce."""
    (_, logs, nbuckets), *_ = pools(2).run(r_train, "sgd")
    nparams = len(list(MLP(0).parameters()))
    assert nbuckets >= 3
    for log in logs:
        assert [b for b, _ in log] == list(range(nbuckets))  # every bucket, in order
        assert log[0][1] < nparams  # launched before the last gradient
        assert log[-1][1] == nparams


def test_no_sync_accumulates_then_averages(pools):
    size, micro = 2, 3
    res = pools(size).run(r_no_sync, micro)
    model = MLP(0)
    for m in range(micro):  # reference: the sum over micro-steps of the concatenated micro-batch's gradient
        x, y = batch(0, PER_RANK * size, micro=m)
        loss_of(model, vt.from_numpy(x), vt.from_numpy(y)).backward()
    want = [p.grad.numpy() for p in model.parameters()]
    locals_ = [local for local, _ in res]
    assert any(not np.allclose(a, b) for a, b in zip(locals_[0], locals_[1]))  # no_sync really did not sync
    for _, got in res:
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_unused_parameters(pools):
    size = 2
    res = pools(size).run(r_unused)
    for step in range(2):
        x, y = batch(step, PER_RANK * size)
        ref0, ref1 = MLP(0, extra=True), MLP(0, extra=True)  # rank 0's and rank 1's local gradients
        loss_of(ref0, shard(x, 0, size), shard(y, 0, size), use_sometimes=True).backward()
        loss_of(ref1, shard(x, 1, size), shard(y, 1, size)).backward()
        for rank in range(size):
            got = res[rank][step]
            assert got["never.weight"] is None and got["never.bias"] is None
            for name, p0 in ref0.named_parameters():
                if name.startswith("never"):
                    continue
                p1 = ref1.get_parameter(name)
                g1 = np.zeros_like(p0.grad.numpy()) if p1.grad is None else p1.grad.numpy()
                np.testing.assert_allclose(got[name], (p0.grad.numpy() + g1) / 2, rtol=1e-5, atol=1e-6,
                                           err_msg=f"{name} rank {rank} step {step}")


def test_unused_parameter_without_find_unused_is_reported(pools):
    for msg in pools(2).run(r_unused_strict):
        assert "got no gradient" in msg and "never.weight" in msg and "sometimes.weight" in msg


def test_default_group_from_init(pools):
    (n0, g0), (n1, g1) = pools(2).run(r_from_init, 29617)
    assert n0 == n1 == 2
    for a, b in zip(g0, g1):
        np.testing.assert_array_equal(a, b)


def test_rank_dying_in_backward_raises_rank_failure():
    with RankPool(3, env={"VIBETENSOR_FABRIC_TIMEOUT": "5"}) as pool:
        res = pool.run(r_die_in_backward, 1, timeout=30, allow_failures=True)
    assert res[1] is None  # the victim's process died
    for rank in (0, 2):
        kind, msg, elapsed = res[rank]
        assert kind == "RankFailure", (rank, kind, msg)
        assert "1" in msg and elapsed < 10, (msg, elapsed)


def test_world_of_one_and_wrapper_surface():
    model = MLP(0)
    dp = fabric.DataParallel(model)  # no init(): a world of one, a plain wrapper
    assert dp.module is model and dp.reducer is None and dp.world_size == 1
    assert list(dp.state_dict()) == list(model.state_dict())  # no "module." prefix
    dp.load_state_dict(MLP(1).state_dict())
    np.testing.assert_array_equal(model.fc1.weight.detach().numpy(), MLP(1).fc1.weight.detach().numpy())
    x = vt.randn(2, 5)
    np.testing.assert_array_equal(dp(x).detach().numpy(), model(x).detach().numpy())
    with dp.no_sync():
        dp(x).sum().backward()
    assert model.fc1.weight.grad is not None
    with pytest.raises(TypeError, match="vt.nn.Module"):
        fabric.DataParallel(lambda x: x)
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        fabric.DataParallel(model, bucket_cap_mb=0)
