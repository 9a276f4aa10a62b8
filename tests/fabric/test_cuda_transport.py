"""The GPU transport (fabric/collectives/cuda_peer.py): virtual GPUs of one process running every rank's
program on its own stream, and CudaGroup with one process per rank sharing the GPU through CUDA IPC
(time-sliced there, so these check correctness, not speed). Small buffers force the multi-piece paths."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import vibetensor as vt
from vibetensor import fabric
from vibetensor.fabric.collectives import cuda_peer
from vibetensor.fabric.collectives.api import RankFailure
from vibetensor.fabric.collectives.cuda_group import CudaGroup
from vibetensor.fabric.collectives.shm_launch import PerRank, RankPool
from helpers import rng
from test_local_collectives import REDUCE, check, inputs

pytestmark = pytest.mark.cuda
FLOATS = [vt.float32, vt.bfloat16, vt.float16]


def vgroup(n, capacity=4096, **kw):
    return fabric.LocalGroup(fabric.virtual_devices("cuda", n), capacity=capacity, **kw)


def _tol_check(t, expected, dtype, n):
    if dtype == vt.float16:
        np.testing.assert_allclose(t.cpu().to(vt.float64).numpy(), expected, rtol=2e-3, atol=4e-3 * n)
    else:
        check(t, expected, dtype, n)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_all_reduce_many_calls_mixing_algorithms_and_pieces(n, monkeypatch):
    gen = rng()
    monkeypatch.setattr(cuda_peer, "LL_WORDS", 1024)  # one-shot launches of 1024 words: pieces
    g = vgroup(n)
    for i in range(12):  # counters and epochs must stay in step across calls and algorithms
        dtype = FLOATS[i % 3]
        algo = ["oneshot", "ring", "twoshot"][(i // 3) % 3]
        op = ["sum", "avg", "max", "min"][(i // 2) % 4]
        size = [1, 7, 1000, 5000][i % 4]  # 5000 floats > the 4 KiB buffer and 1024: several pieces
        ts, arrs = inputs(n, (size,), dtype, gen, device="cuda")
        g.all_reduce(ts, op=op, algorithm=algo)
        for t in ts:
            _tol_check(t, REDUCE[op](np.stack(arrs)), dtype, n)
    g.synchronize()
    assert {"ring", "twoshot"} <= {e.algorithm for e in fabric.observe.events() if e.kind == "all_reduce"}


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.int64], ids=str)
def test_scatter_gather_broadcast_all_to_all(dtype):
    gen, n = rng(), 3
    g = vgroup(n, capacity=4 * n * 128)  # the least a group takes (two halves of one line per slot): many pieces
    if dtype.is_floating_point:
        ins, arrs = inputs(n, (3 * 700, 2), dtype, gen, device="cuda")
        outs = [vt.empty(700, 2, dtype=dtype, device="cuda") for _ in range(n)]
        g.reduce_scatter(outs, ins)
        total = np.sum(np.stack(arrs), 0)
        for r, o in enumerate(outs):
            check(o, total[700 * r:700 * (r + 1)], dtype, n)
    parts, arrs = inputs(n, (500, 3), dtype, gen, device="cuda")
    full = [vt.empty(n * 500, 3, dtype=dtype, device="cuda") for _ in range(n)]
    g.all_gather(full, parts)
    for f in full:
        check(f, np.concatenate(arrs), dtype)
    ts, arrs = inputs(n, (999,), dtype, gen, device="cuda")
    g.broadcast(ts, src=2)
    for t in ts:
        check(t, arrs[2], dtype)
    ins, arrs = inputs(n, (n * 400,), dtype, gen, device="cuda")
    outs = [vt.empty(n * 400, dtype=dtype, device="cuda") for _ in range(n)]
    g.all_to_all(outs, ins)
    for j, o in enumerate(outs):
        check(o, np.concatenate([a[400 * j:400 * (j + 1)] for a in arrs]), dtype)


def prepared_launches(monkeypatch):
    """(key, grid) of every launch the collectives prepare from here on: each launch they issue is prepared
    (cuda_peer.issue), and a repeated call on like tensors may replay kept ones without preparing again."""
    launched, prepare = [], cuda_peer._C._cuda.prepare_launch
    monkeypatch.setattr(cuda_peer._C._cuda, "prepare_launch",
                        lambda key, grid, args: (launched.append((key, grid)), prepare(key, grid, args))[1])
    return launched


@pytest.mark.parametrize("algo", ["twoshot", "oneshot", "auto"])
@pytest.mark.parametrize("n", [2, 4])
def test_reduce_scatter_and_all_gather_by_algorithm(n, algo, monkeypatch):
    """The push programs and the one-shot ("auto" at these sizes), each chunk in several launches or pieces where
    it outgrows an LL slot (1024 words here) or the two-shot's halves."""
    gen = rng()
    monkeypatch.setattr(cuda_peer, "LL_WORDS", 1024)
    g = vgroup(n, capacity=1 << 14)  # 16 KB: large chunks go in pieces
    launched = prepared_launches(monkeypatch)
    sizes = ((1, vt.float32), (37, vt.bfloat16), (3000, vt.float32), (2049, vt.bfloat16))  # 3000, 2049: launches
    for k, dtype in sizes:
        seq = fabric.observe.last_seq()
        ins, arrs = inputs(n, (n * k,), dtype, gen, device="cuda")
        outs = [vt.empty(k, dtype=dtype, device="cuda") for _ in range(n)]
        g.reduce_scatter(outs, ins, algorithm=algo)
        total = np.sum(np.stack(arrs), 0)
        for r, o in enumerate(outs):
            _tol_check(o, total[r * k:(r + 1) * k], dtype, n)
        gathered = [vt.empty(n * k, dtype=dtype, device="cuda") for _ in range(n)]
        g.all_gather(gathered, outs, algorithm=algo)
        expected = np.concatenate([o.cpu().to(vt.float64).numpy() for o in outs])
        for o in gathered:
            assert np.array_equal(o.cpu().to(vt.float64).numpy(), expected)
        ran = [e.algorithm for e in fabric.observe.events(since=seq) if e.kind in ("reduce_scatter", "all_gather")]
        assert ran == ["twoshot" if algo == "twoshot" else "oneshot"] * 2
    g.synchronize()
    kinds = [key.split("|")[1] for key, _ in launched if key.startswith("fab|")]
    if algo == "twoshot":
        assert set(kinds) == {"tp"}
    else:  # a launch per rank and slot's worth of a chunk (two 16-bit values a word)
        assert set(kinds) == {"llc"}
        assert len(kinds) == 2 * n * sum(-(-k // (1024 * (2 if dtype.itemsize == 2 else 1))) for k, dtype in sizes)


@pytest.mark.parametrize("algo", ["oneshot", "ring", "twoshot"])
def test_all_reduce_captured_in_a_cuda_graph_replays_with_new_values(algo):
    gen, n = rng(), 2
    g = vgroup(n, capacity=1 << 16)
    static = [vt.empty(3000, device="cuda") for _ in range(n)]
    g.all_reduce(static, algorithm=algo)  # warm-up: buffers, tables and kernels exist before capture
    graph = vt.cuda.CUDAGraph()
    with vt.cuda.graph(graph):
        g.all_reduce(static, algorithm=algo)
    for _ in range(3):
        arrs = [gen.standard_normal(3000).astype(np.float32) for _ in range(n)]
        for s, a in zip(static, arrs):
            s.copy_(vt.tensor(a).cuda())
        graph.replay()
        for s in static:
            check(s, np.sum(np.stack(arrs), 0), vt.float32, n)


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16], ids=str)
def test_oneshot_of_ranks_on_one_gpu_goes_as_one_launch(n, dtype, monkeypatch):
    """Virtual GPUs of one card: the one-shot all-reduce of every rank is one launch (fab|llr, a grid row per
    rank), after work on each member's stream; a member whose tensor is not contiguous gets its reduced copy
    written back."""
    gen = rng()
    g = vgroup(n, capacity=1 << 16)
    assert all(ep.one_launch for ep in g._endpoints())
    launched = prepared_launches(monkeypatch)
    for op in ("sum", "max"):
        arrs = [gen.standard_normal((30, 40)).astype(np.float32) for _ in range(n)]
        ts = []
        for d, a in zip(g.devices, arrs):
            with d:  # made on the member's own stream, which the one launch on the first one's must follow
                ts.append(vt.tensor(a).to(dtype).cuda() * 1)
        ts[-1] = vt.tensor(arrs[-1].T.copy()).to(dtype).cuda().t()  # a transposed view: a copy goes in
        assert not ts[-1].is_contiguous()
        g.all_reduce(ts, op=op, algorithm="oneshot")
        for t in ts:
            check(t, REDUCE[op](np.stack([vt.tensor(a).to(dtype).to(vt.float64).numpy() for a in arrs])), dtype, n)
    g.synchronize()
    fab = [(k, gr) for k, gr in launched if k.startswith("fab|")]  # (copies may launch kernels of their own)
    assert [k.split("|")[1] for k, _ in fab] == ["llr", "llr"] and all(gr[1] == n for _, gr in fab)


def test_a_rank_that_never_arrives_raises_within_the_timeout():
    g = vgroup(2, timeout=0.5)
    x = vt.ones(100, device="cuda")
    g.all_reduce([x, x.clone()])  # a working group first
    ep0 = g._endpoints()[0]
    t0 = time.monotonic()
    with g.devices[0]:
        cuda_peer.oneshot_all_reduce(ep0, x, fabric.ReduceOp.SUM)  # rank 1 never issues its part
    ep0.status.note("all_reduce")
    with pytest.raises(RankFailure, match=r"all_reduce: rank 1 did not arrive within 0.5 s"):
        g.synchronize()
    assert time.monotonic() - t0 < 10
    with pytest.raises(RankFailure):  # the group stays failed; the process and the GPU keep working
        g.all_reduce([x, x.clone()])
    assert float((vt.ones(4, device="cuda") * 2).sum().item()) == 8.0


# ---- one process per rank ------------------------------------------------------------------------------
def _own_gpus():
    if vt.cuda.device_count() < 2:
        pytest.skip("needs two or more GPUs")


def _collectives(boot, seed, device=0):
    gen = np.random.default_rng(seed)
    g = CudaGroup(bootstrap=boot, capacity=8192, device=device)  # device None: rank r on GPU r
    r, n, out = g.rank, g.size, {}
    fabric.observe.device_timing(True)
    for algo in ("oneshot", "ring", "twoshot"):
        x = gen.standard_normal(3000).astype(np.float32)  # 12 KB: two pieces of the ring
        t = vt.tensor(x).cuda()
        g.all_reduce(t, op="avg", algorithm=algo)
        out[algo], out[algo + "_in"] = t.cpu().numpy(), x
    y = gen.standard_normal(5000).astype(np.float32)
    t = vt.tensor(y).cuda()
    t.mul_(2.0)  # on the caller's stream, before: the group's own stream must wait for it
    work = g.all_reduce(t, async_op=True)
    work.wait()
    t.add_(1.0)  # after wait(): must see the sum
    out["async"], out["async_in"] = t.cpu().numpy(), y
    t = vt.tensor(np.arange(10) + 100 * r).cuda()  # int64: staged through the host
    g.all_reduce(t)
    out["int"] = t.cpu().numpy()
    src = vt.tensor(gen.standard_normal((n * 5, 4)).astype(np.float32)).cuda()
    for algo in ("auto", "oneshot", "twoshot", "ring"):
        rs = vt.empty(5, 4, device="cuda")
        g.reduce_scatter(rs, src, algorithm=algo)
        ag = vt.empty(n * 5, 4, device="cuda")
        g.all_gather(ag, rs, algorithm=algo)
        out[f"rs_{algo}"], out[f"ag_{algo}"] = rs.cpu().numpy(), ag.cpu().numpy()
    b = vt.full([7], float(r), device="cuda")
    g.broadcast(b, src=1)
    a2a = vt.empty(n * 3, device="cuda")
    g.all_to_all(a2a, vt.tensor(np.arange(n * 3, dtype=np.float32) + 10 * r).cuda())
    g.barrier()
    out.update(b=b.cpu().numpy(), a2a=a2a.cpu().numpy(), src=src.cpu().numpy(),
               seconds={k: v for k, v in fabric.counters().items() if k.endswith(".seconds")})
    g.close()
    return out


def _one_side_missing(boot):
    g = CudaGroup(bootstrap=boot, capacity=4096, device=0, timeout=2.0)
    if g.rank == 1:
        return "skipped"  # never calls the collective
    t0 = time.monotonic()
    g.all_reduce(vt.ones(10, device="cuda"), algorithm="oneshot")
    try:
        g.synchronize()
    except RankFailure as e:
        return str(e), time.monotonic() - t0
    return "no error"


@pytest.mark.parametrize("gpus", ["shared", "own"])
def test_processes_through_ipc(pools, gpus):
    """Two processes sharing GPU 0 (time-sliced), or one process on each GPU (peer memory over NVLink/PCIe)."""
    n = 2
    if gpus == "own":
        _own_gpus()
        n = vt.cuda.device_count()
    res = pools(n).run(_collectives, PerRank(list(range(1, n + 1))), 0 if gpus == "shared" else None, timeout=240)
    total = sum(res[p]["src"].astype(np.float64) for p in range(n))
    for r in range(n):
        for algo in ("oneshot", "ring", "twoshot"):
            expected = sum(res[p][algo + "_in"].astype(np.float64) for p in range(n)) / n
            np.testing.assert_allclose(res[r][algo], expected, rtol=1e-5, atol=1e-6, err_msg=f"rank {r} {algo}")
        expected = sum(2.0 * res[p]["async_in"].astype(np.float64) for p in range(n)) + 1
        np.testing.assert_allclose(res[r]["async"], expected, rtol=1e-5, atol=1e-5, err_msg=f"rank {r} async")
        np.testing.assert_array_equal(res[r]["int"], n * np.arange(10) + 100 * n * (n - 1) // 2)
        for algo in ("auto", "oneshot", "twoshot", "ring"):
            np.testing.assert_allclose(res[r][f"rs_{algo}"], total[5 * r:5 * (r + 1)], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(res[r][f"ag_{algo}"], total, rtol=1e-5, atol=1e-5)
        assert np.all(res[r]["b"] == 1.0)
        np.testing.assert_array_equal(res[r]["a2a"], [3 * r + j + 10 * i for i in range(n) for j in range(3)])
        for kind in ("all_reduce", "reduce_scatter", "all_gather", "broadcast", "all_to_all"):  # device time
            assert 0 < res[r]["seconds"][f"{kind}.seconds"] < 60, (kind, res[r]["seconds"])


def _fresh_tensors(boot, rounds, device):
    """Collectives on tensors made anew for every call (new addresses, the same shapes: after the first round the
    fast path repeats what the general path prepared), and one at an address 4 bytes past alignment (the general
    path again, under the same key). Each round's results and the kinds of the plans kept."""
    g = CudaGroup(bootstrap=boot, capacity=1 << 16, device=device)
    n, res, k = g.size, [], 500
    for i in range(rounds):
        x = np.random.default_rng((g.rank, i)).standard_normal(8 * k).astype(np.float32)
        got = {}
        for algo, op in (("auto", "sum"), ("twoshot", "avg"), ("oneshot", "max")):
            t = vt.tensor(x).cuda()
            g.all_reduce(t, op=op, algorithm=algo)
            got[algo] = t
        rs = vt.empty(k, device="cuda")
        g.reduce_scatter(rs, vt.tensor(x[:n * k]).cuda())
        ag = vt.empty(n * k, device="cuda")
        g.all_gather(ag, rs, algorithm="twoshot")
        off = vt.empty(8 * k + 1, device="cuda").narrow(0, 1, 8 * k)
        off.copy_(vt.tensor(x).cuda())
        g.all_reduce(off)
        got.update(rs=rs, ag=ag, off=off)
        res.append({name: t.cpu().numpy() for name, t in got.items()})
    kept = sorted({key[0] for key in g._plans})
    g.close()
    return res, kept


@pytest.mark.parametrize("gpus", ["shared", "own"])
def test_fast_path_on_new_tensors_every_call(pools, gpus):
    n, rounds, k = 2, 4, 500
    if gpus == "own":
        _own_gpus()
        n = vt.cuda.device_count()
    res = pools(n).run(_fresh_tensors, rounds, 0 if gpus == "shared" else None, timeout=240)
    for i in range(rounds):
        xs = np.stack([np.random.default_rng((r, i)).standard_normal(8 * k).astype(np.float32) for r in range(n)])
        total = xs.astype(np.float64).sum(0)
        for r in range(n):
            got = res[r][0][i]
            for name, want in (("auto", total), ("off", total), ("twoshot", total / n), ("oneshot", xs.max(0))):
                np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-5, err_msg=f"round {i} rank {r} {name}")
            np.testing.assert_allclose(got["rs"], total[r * k:(r + 1) * k], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got["ag"], np.concatenate([total[p * k:(p + 1) * k] for p in range(n)]),
                                       rtol=1e-5, atol=1e-5)
    assert all(kept == ["all_gather", "all_reduce", "reduce_scatter"] for _, kept in res)


def _oneshot_loop(boot, calls):
    """`calls` one-shot reduce_scatters, all_gathers and all_reduces, each synchronized: the first of them
    (float32, a 64-element chunk) gave up every few calls on 4 x H200 while warps of a waiting program disagreed
    about a word landing between their reads (fabric_kernels._ll_ready)."""
    g = CudaGroup(bootstrap=boot, device=None, timeout=10.0)
    gen, n, k = np.random.default_rng(g.rank), g.size, 64
    src = vt.tensor(gen.standard_normal(n * k).astype(np.float32)).cuda()
    out, gathered = vt.empty(k, device="cuda"), vt.empty(n * k, device="cuda")
    for _ in range(calls):
        g.reduce_scatter(out, src, algorithm="oneshot")
        g.all_gather(gathered, out, algorithm="oneshot")
        g.all_reduce(gathered, algorithm="oneshot")
        g.synchronize()
    res = (src.cpu().numpy(), out.cpu().numpy(), gathered.cpu().numpy())
    g.close()
    return res


def test_oneshot_loops_between_processes(pools):
    _own_gpus()
    n = vt.cuda.device_count()
    res = pools(n).run(_oneshot_loop, 300, timeout=240)
    total = sum(res[p][0].astype(np.float64) for p in range(n))
    k = total.size // n
    for r in range(n):
        np.testing.assert_allclose(res[r][1], total[r * k:(r + 1) * k], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(res[r][2], n * total, rtol=1e-5, atol=1e-4)


def test_process_rank_that_never_arrives(pools):
    res = pools(2).run(_one_side_missing, timeout=120)
    assert res[1] == "skipped"
    msg, seconds = res[0]
    assert "all_reduce: rank 1 did not arrive within 2 s" in msg and seconds < 30


_GROUP = {}  # the worker process's CudaGroup, kept between RankPool.run calls


def _connect_own_gpu(boot, numel):
    g = _GROUP["g"] = CudaGroup(bootstrap=boot, device=None, timeout=3.0)
    x = _GROUP["x"] = vt.ones(numel, device=g.device)
    for algo in ("oneshot", "ring", "twoshot"):  # kernels compiled and loaded before the clock starts
        g.all_reduce(x, algorithm=algo)
    g.synchronize()
    return float(x[0].item())


def _all_reduce_until_failure(boot):
    """All-reduce (both schedules, synchronising each call) until a peer is gone."""
    g, x = _GROUP["g"], _GROUP["x"]
    for i in range(10 ** 6):
        try:
            g.all_reduce(x, algorithm=("oneshot", "ring", "twoshot")[i % 3])
            g.synchronize()
        except RankFailure as e:
            return str(e), e.ranks, i, time.monotonic()
        x.fill_(1.0)
    return None


@pytest.mark.parametrize("numel", [64, 1 << 20])
def test_rank_killed_mid_all_reduce_on_its_own_gpu(numel):
    """A rank SIGKILLed while the others' kernels wait on its flags: they raise RankFailure naming it within
    the timeout (the kernels' waits are bounded by the GPU clock), and their GPUs keep working."""
    _own_gpus()
    n = vt.cuda.device_count()
    pool = RankPool(n, env={"VIBETENSOR_FABRIC_TIMEOUT": "20"})
    victim, killed = n - 1, {}
    try:
        assert pool.run(_connect_own_gpu, numel, timeout=120) == [float(n ** 3)] * n  # three in-place sums
        timer = threading.Timer(1.0, lambda: (killed.setdefault("at", time.monotonic()),
                                              os.kill(pool.procs[victim].pid, signal.SIGKILL)))
        timer.start()
        res = pool.run(_all_reduce_until_failure, timeout=120, allow_failures=True)
        timer.cancel()
    finally:
        pool.close()
    assert res[victim] is None
    for r in range(n - 1):
        msg, ranks, calls, when = res[r]
        assert ranks == (victim,) and f"rank {victim}" in msg, msg
        assert calls > 0 and when - killed["at"] < 3.0 + 5, (calls, when - killed["at"])
