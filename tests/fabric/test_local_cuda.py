"""The same collectives, placements and sync on 4 virtual devices sharing cuda:0 (each its own stream)."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor import fabric
from vibetensor.fabric import Mesh, Partial, Replicate, Shard, distribute, observe
from helpers import rng
from test_local_collectives import check, inputs

pytestmark = pytest.mark.cuda


def gpu_group(n=4):
    return fabric.LocalGroup(fabric.virtual_devices("cuda", n))


@pytest.mark.parametrize("algo", ["ring", "oneshot", "twoshot", "direct"])
@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.int64], ids=str)
def test_all_reduce_on_virtual_gpus(algo, dtype):
    gen = rng()
    g = gpu_group()
    assert len({d.stream for d in g.devices}) == 4
    for shape in [(1,), (1000,), (256, 1024)]:
        ts, arrs = inputs(4, shape, dtype, gen, device="cuda")
        g.all_reduce(ts, algorithm=algo)  # stream-ordered: reading on the current stream must see it
        for t in ts:
            check(t, np.sum(np.stack(arrs), 0), dtype, 4)


@pytest.mark.parametrize("algo", ["ring", "oneshot", "twoshot", "auto"])
def test_scatter_gather_broadcast_async(algo):
    gen = rng()
    g = gpu_group()
    ins, arrs = inputs(4, (8, 3), vt.float32, gen, device="cuda")
    outs = [vt.empty(2, 3, device="cuda") for _ in range(4)]
    w = g.reduce_scatter(outs, ins, algorithm=algo, async_op=True)
    assert w.wait() is outs
    total = np.sum(np.stack(arrs), 0)
    for r, o in enumerate(outs):
        check(o, total[2 * r:2 * r + 2], vt.float32, 4)
    full = [vt.empty(8, 3, device="cuda") for _ in range(4)]
    g.all_gather(full, outs, algorithm=algo)
    for f in full:
        check(f, total, vt.float32, 4)
    ts, arrs = inputs(4, (5000,), vt.float32, gen, device="cuda")
    g.broadcast(ts, src=2, algorithm=algo)
    for t in ts:
        check(t, arrs[2], vt.float32)


def test_mlp_and_peer_add_on_virtual_gpus():
    gen = rng()
    x, w1, w2 = (gen.standard_normal(s).astype(np.float32) for s in [(3, 5), (5, 8), (8, 4)])
    m = Mesh(fabric.virtual_devices("cuda", 2), ("tp",))
    h = distribute(vt.tensor(x).cuda(), m, [Replicate()]) @ distribute(vt.tensor(w1).cuda(), m, [Shard(1)])
    y = h.gelu() @ distribute(vt.tensor(w2).cuda(), m, [Shard(0)])
    assert y.placements == (Partial(),)
    ref = vt.gelu(vt.tensor(x) @ vt.tensor(w1)) @ vt.tensor(w2)
    np.testing.assert_allclose(y.full_tensor().cpu().numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)
    a, b = fabric.virtual_devices("cuda", 2)
    seq = observe.last_seq()
    with b:
        tb = vt.ones(1 << 20, device="cuda") * 3  # produced on b's stream
    out = fabric.peer_add(vt.ones(1 << 20, device="cuda"), tb, device=a, peer=b)
    assert float(out.sum().item()) == 4.0 * (1 << 20)
    assert observe.events(since=seq)[-1].algorithm == "local"
    fabric.barrier([a, b])


def real_gpus():
    n = vt.cuda.device_count()
    if n < 2:
        pytest.skip("needs two or more GPUs")
    return n


def members(physical, virtual):
    """(n, devices): one per real GPU, or `virtual` devices sharing cuda:0."""
    if physical == "real":
        n = real_gpus()
        return n, fabric.virtual_devices("cuda", n, physical=range(n))
    return virtual, fabric.virtual_devices("cuda", virtual)


@pytest.mark.parametrize("per_gpu", [1, 2], ids=["one-per-gpu", "two-per-gpu"])
@pytest.mark.parametrize("algo", ["ring", "oneshot", "twoshot"])
def test_collectives_across_real_gpus_take_the_peer_programs(algo, per_gpu):
    """One process driving every GPU: one member per card reads the others' buffers through peer access
    (the same programs as the one-process-per-GPU transport); several members per card take the
    stream-event schedules (LocalGroup._enable_peers says why). Both must give the right results."""
    n = real_gpus() * per_gpu
    gen = rng()
    g = fabric.LocalGroup(fabric.virtual_devices("cuda", n, physical=range(vt.cuda.device_count())))
    assert g._peer_path(vt.float32, reduce=True) == (per_gpu == 1)
    for dtype in (vt.float32, vt.bfloat16):
        for shape in [(3,), (70001,), (512, 1024)]:
            ts, arrs = inputs(n, shape, dtype, gen, device="cuda")
            ts = [t.to(d.device) for t, d in zip(ts, g.devices)]
            g.all_reduce(ts, algorithm=algo)
            for t in ts:
                check(t, np.sum(np.stack(arrs), 0), dtype, n)
    ins, arrs = inputs(n, (n * 300, 5), vt.float32, gen, device="cuda")
    ins = [t.to(d.device) for t, d in zip(ins, g.devices)]
    outs = [vt.empty(300, 5, device=d.device) for d in g.devices]
    g.reduce_scatter(outs, ins, algorithm=algo)
    total = np.sum(np.stack(arrs), 0)
    for r, o in enumerate(outs):
        check(o, total[300 * r:300 * (r + 1)], vt.float32, n)
    full = [vt.empty(n * 300, 5, device=d.device) for d in g.devices]
    g.all_gather(full, outs, algorithm=algo)
    for f in full:
        check(f, total, vt.float32, n)


@pytest.mark.parametrize("physical", ["real", "virtual"])
def test_direct_all_reduce_orders_every_stream(physical):
    """The direct all-reduce (one kernel over every member's tensor): inputs made on a member's own stream, a
    transposed member and avg come out right, read on the current stream or the member's; async_op returns a
    Work; "auto" takes it up to DIRECT_MAX_BYTES only."""
    from vibetensor.fabric.collectives import cuda_direct
    gen = rng()
    n, devs = members(physical, 3)
    g = fabric.LocalGroup(devs)
    algo = "auto" if physical == "real" and cuda_direct.DIRECT_MAX_BYTES >= 64 * 48 * 4 else "direct"
    for dtype, op in ((vt.float32, "sum"), (vt.bfloat16, "avg"), (vt.float32, "max")):
        arrs = [gen.standard_normal((64, 48)).astype(np.float32) for _ in range(n)]
        ts = []
        for r, (a, d) in enumerate(zip(arrs, devs)):
            with d:  # made on the member's own stream
                t = vt.tensor(a.T.copy() if r == 1 else a).to(dtype).to(d.device)
                ts.append(t.t() if r == 1 else t * 1)
        seq = observe.last_seq()
        w = g.all_reduce(ts, op=op, algorithm=algo, async_op=True)
        assert w.wait() is ts
        assert [e.algorithm for e in observe.events(since=seq) if e.kind == "all_reduce"] == ["direct"]
        ref = {"sum": np.sum, "avg": np.mean, "max": np.max}[op](
            np.stack([vt.tensor(a).to(dtype).to(vt.float64).numpy() for a in arrs]), 0)
        for t, d in zip(ts, devs):
            check(t, ref, dtype, n)
            with d:
                check(t * 1, ref, dtype, n)
    if physical == "real":
        big = [vt.ones(cuda_direct.DIRECT_MAX_BYTES // 4 + 1, device=d.device) for d in devs]
        seq = observe.last_seq()
        g.all_reduce(big)
        took = [e.algorithm for e in observe.events(since=seq) if e.kind == "all_reduce"]
        assert len(took) == 1 and took[0] != "direct"  # past DIRECT_MAX_BYTES: the per-GPU programs
        assert all(float(b.sum().item()) == n * b.numel() for b in big)


@pytest.mark.parametrize("physical", ["real", "virtual"])
def test_fast_path_repeats_kept_plans_on_new_tensors(physical):
    """A collective issued again on tensors like the last ones runs from the LaunchPlan its first call kept (one
    native call, local_plan.py): fresh inputs every call, made on the members' own streams, on the GPUs' current
    streams or on new current streams, read back on the current stream; every algorithm that has prepared launches,
    float32 and bfloat16. Tensors unlike the planned ones take the general path, which stays right (or names what is
    wrong)."""
    import contextlib
    gen = rng()
    n, devs = members(physical, 4)
    g = fabric.LocalGroup(devs)
    hits, fast = [], g._fast
    g._fast = lambda *a: hits.append(fast(*a)) or hits[-1]

    def made(arrs, dtype, where):
        """The arrays as tensors on the members' GPUs, made on their own streams or on the current ones."""
        out = []
        for a, d in zip(arrs, devs):
            with d if where == "member" else contextlib.nullcontext():
                out.append(vt.tensor(a).to(dtype).to(d.device) * 1)
        return out
    for dtype in (vt.float32, vt.bfloat16):
        for algo in ("auto", "oneshot", "twoshot", "direct"):
            for call, where in enumerate(["current", "member", "new stream", "member"]):
                with contextlib.ExitStack() as stack:
                    if where == "new stream":
                        for i in sorted({d.device.index for d in devs}):
                            stack.enter_context(vt.cuda.stream(vt.cuda.Stream(i)))
                    arrs = [gen.standard_normal((64, 33)).astype(np.float32) for _ in range(n)]
                    ts = made(arrs, dtype, where)
                    hits.clear()
                    g.all_reduce(ts, algorithm=algo)
                    ref = np.sum(np.stack([vt.tensor(a).to(dtype).to(vt.float64).numpy() for a in arrs]), 0)
                    for t in ts:
                        check(t, ref, dtype, n)
                    if algo == "direct":
                        assert hits == [call > 0]
                        continue
                    arrs = [gen.standard_normal((n * 48, 8)).astype(np.float32) for _ in range(n)]
                    ins = made(arrs, dtype, where)
                    outs = [vt.empty(48, 8, dtype=dtype, device=d.device) for d in devs]
                    g.reduce_scatter(outs, ins, algorithm=algo)
                    total = np.sum(np.stack([vt.tensor(a).to(dtype).to(vt.float64).numpy() for a in arrs]), 0)
                    for r, o in enumerate(outs):
                        check(o, total[48 * r:48 * (r + 1)], dtype, n)
                    full = [vt.empty(n * 48, 8, dtype=dtype, device=d.device) for d in devs]
                    g.all_gather(full, outs, algorithm=algo)
                    gathered = np.concatenate([o.to(vt.float64).cpu().numpy() for o in outs])
                    for f in full:
                        check(f, gathered, vt.float64)
                    assert hits == [call > 0] * 3, (algo, call, hits)
    # unlike the plans: a transposed member, an offset address, an async call: the general path, still right
    arrs = [gen.standard_normal((33, 64)).astype(np.float32) for _ in range(n)]
    ts = [vt.tensor(a).to(d.device) for a, d in zip(arrs, devs)]
    ts = [t.t() if r == 1 else t.t().contiguous() for r, t in enumerate(ts)]
    hits.clear()
    g.all_reduce(ts)
    assert hits == [False]
    for t in ts:
        check(t, np.sum(np.stack(arrs), 0).T, vt.float32, n)
    big = [vt.tensor(gen.standard_normal(64 * 33 + 1).astype(np.float32)).to(d.device) for d in devs]
    ts = [b.narrow(0, 1, 64 * 33).view(64, 33) for b in big]
    ref = np.sum(np.stack([t.cpu().numpy() for t in ts]), 0)
    g.all_reduce(ts)
    assert hits[-1] is False
    for t in ts:
        check(t, ref, vt.float32, n)
    ts = [vt.tensor(a.T.copy()).to(d.device) for a, d in zip(arrs, devs)]
    assert g.all_reduce(ts, async_op=True).wait() is ts
    for t in ts:
        check(t, np.sum(np.stack(arrs), 0).T, vt.float32, n)
    if physical == "real":  # tensors on the wrong GPUs: named by the general path
        swapped = [ts[1], ts[0], *ts[2:]]
        with pytest.raises(ValueError, match="is on cuda:1, expected cuda:0"):
            g.all_reduce(swapped)


def test_peer_add_reads_the_other_gpu():
    real_gpus()
    a, b = fabric.virtual_devices("cuda", 2, physical=[0, 1])
    gen = rng()
    x, y = (gen.standard_normal(1 << 20).astype(np.float32) for _ in range(2))
    with b:
        tb = vt.tensor(y).to(b.device) * 2  # produced on b's stream, on cuda:1
    out = fabric.peer_add(vt.tensor(x).to(a.device), tb, device=a, peer=b)
    assert out.device == a.device
    np.testing.assert_allclose(out.cpu().numpy(), x + 2 * y, rtol=1e-6)
