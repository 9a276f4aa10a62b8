"""The GPU transport's ring programs (fabric/collectives/cuda_peer.py) on CPU tensors: one thread per rank,
its step-boundary kernel played by a counter wait and its reduce-copy by numpy. The step order, which chunk
each step reads and writes, what stays in the buffer for the successor and what reaches the caller's tensors
are the GPU's; the GPU tests (test_cuda_transport.py) run the same programs with the real kernels."""
import threading
import time

import numpy as np
import pytest

import vibetensor as vt
from vibetensor.fabric.collectives import cuda_peer as peer
from vibetensor.fabric.collectives.api import ReduceOp
from helpers import rng, unprepared


class Flags:
    """Every rank's published ring counter and its base, with the boundary kernel's semantics."""

    def __init__(self, world):
        self.counter, self.base = [0] * world, [0] * world
        self.cv = threading.Condition()

    def sync(self, ep, signal, rel, waits=(), advance=0):
        with self.cv:
            base = self.base[ep.rank]
            self.counter[ep.rank] = base + rel
            self.cv.notify_all()
            assert self.cv.wait_for(lambda: all(self.counter[w] >= base + r for w, r in waits), timeout=20)
            self.base[ep.rank] = base + advance


class Endpoint:
    def __init__(self, rank, world, segs, capacity):
        self.rank, self.world, self.capacity, self._segs = rank, world, capacity, segs

    def data(self, p, dtype, numel):
        return self._segs[p].narrow(0, 0, numel * dtype.itemsize).view(dtype)

    def elements(self, dtype):
        return self.capacity // dtype.itemsize


def _reduce_copy(dst, a, b, op):
    """The step, slowed down so that a peer overwriting the chunk it reads (a missing wait) is caught."""
    fn = {ReduceOp.SUM: np.add, ReduceOp.MAX: np.maximum, ReduceOp.MIN: np.minimum}[op]
    seen = a.numpy().copy()
    time.sleep(0.002)
    assert np.array_equal(a.numpy(), seen, equal_nan=True), "a peer overwrote a chunk this step was reading"
    dst.copy_(vt.tensor(fn(seen, b.numpy())))


def run_ranks(monkeypatch, world, capacity, program):
    flags = Flags(world)
    monkeypatch.setattr(peer, "_sync", flags.sync)
    monkeypatch.setattr(peer, "plugin", lambda name=None: (_reduce_copy, None))
    segs = [vt.full([capacity], 255, dtype=vt.uint8) for _ in range(world)]  # garbage a step must not read
    eps = [Endpoint(r, world, segs, capacity) for r in range(world)]
    errors = []

    def body(r):
        try:
            program(eps[r])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    assert len(set(flags.base)) == 1  # every rank's counters moved on alike


@pytest.mark.parametrize("world", [2, 3, 4])
@pytest.mark.parametrize("numel", [1, 5, 37, 1000])
@pytest.mark.parametrize("op", [ReduceOp.SUM, ReduceOp.MAX])
def test_ring_all_reduce_in_place_and_in_pieces(monkeypatch, world, numel, op):
    gen = rng()
    xs = [gen.standard_normal(numel).astype(np.float32) for _ in range(world)]
    ts = [vt.tensor(x) for x in xs]
    for _ in range(2):  # twice: the second call starts from the first's counters and leftover buffers
        for t, x in zip(ts, xs):
            t.copy_(vt.tensor(x))
        run_ranks(monkeypatch, world, 256, lambda ep: peer.ring_all_reduce(ep, ts[ep.rank], op))  # 64 floats
        ref = (np.sum if op is ReduceOp.SUM else np.max)(np.stack(xs).astype(np.float64), 0)
        for t in ts:
            np.testing.assert_allclose(t.numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("world", [2, 3, 4])
@pytest.mark.parametrize("k", [1, 9, 40])
def test_ring_reduce_scatter_and_all_gather(monkeypatch, world, k):
    gen = rng()
    ins = [gen.standard_normal(world * k).astype(np.float32) for _ in range(world)]
    outs = [vt.empty(k) for _ in range(world)]
    run_ranks(monkeypatch, world, 4 * 16 * world,  # 16 floats per rank's chunk: k = 40 goes in pieces
              lambda ep: peer.ring_reduce_scatter(ep, vt.tensor(ins[ep.rank]), outs[ep.rank], ReduceOp.SUM))
    total = np.sum(np.stack(ins).astype(np.float64), 0)
    for r in range(world):
        np.testing.assert_allclose(outs[r].numpy(), total[r * k:(r + 1) * k], rtol=1e-5, atol=1e-5)
    gathered = [vt.empty(world * k) for _ in range(world)]
    run_ranks(monkeypatch, world, 4 * 16 * world,
              lambda ep: peer.ring_all_gather(ep, outs[ep.rank], gathered[ep.rank]))
    for r in range(world):
        np.testing.assert_allclose(gathered[r].numpy(), total, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("world", [2, 3, 4, 8])
@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.int64], ids=str)
def test_twoshot_pieces_fit_the_buffer_and_cover_every_element(monkeypatch, world, dtype):
    """The two-shot drivers' one launch per collective: two halves of IN and OUT regions (world slots of a
    piece rounded up to a cache line) fit the buffer, even the smallest one a group accepts, and the pieces of
    the chunks, as push_collective walks them, cover every element of the message once."""
    from types import SimpleNamespace
    line = 128 // dtype.itemsize
    least = 4 * world * 128  # two halves of IN and OUT regions of world slots of a line
    launches = []
    watch = unprepared(lambda key, grid, args: launches.append((key, grid, args)))
    monkeypatch.setattr(peer._C._cuda, "prepare_launch", watch)
    for capacity in (least - 1, least, 1024, 3000, 1 << 14):
        if capacity < least:
            with pytest.raises(ValueError, match="needs at least"):
                peer.segment_bytes(capacity, world)
            continue
        peer.segment_bytes(capacity, world)
        ptr = SimpleNamespace(data_ptr=lambda: 0, ptr=0)
        ep = SimpleNamespace(world=world, rank=0, bufs_ptr=0, flags_ptr=0, status=ptr, timeout_ns=1, ts_block=0,
                             ts_programs=peer.TS_PROGRAMS, elements=lambda dt: capacity // dt.itemsize)
        for kind, k in (("all_reduce", 5000), ("reduce_scatter", 700), ("all_gather", 700), ("all_reduce", 3),
                        ("all_reduce", 0), ("reduce_scatter", 0)):
            launches.clear()
            if kind == "all_reduce":
                peer.twoshot_all_reduce(ep, vt.empty(k, dtype=dtype), ReduceOp.SUM)
            elif kind == "reduce_scatter":
                peer.twoshot_reduce_scatter(ep, vt.empty(world * k, dtype=dtype), vt.empty(k, dtype=dtype),
                                            ReduceOp.SUM)
            else:
                peer.twoshot_all_gather(ep, vt.empty(k, dtype=dtype), vt.empty(world * k, dtype=dtype))
            (key, grid, args), = launches
            assert key.endswith(f"|{peer.PUSH_MODES[kind]}") and 1 <= grid[0] <= peer.TS_PROGRAMS
            n, per, length, stride = (v for name, v in args[5:9])
            assert n == (k if kind == "all_reduce" else world * k) and per * world >= n and length >= 1
            assert stride % line == 0 and stride >= length and 2 * 2 * world * stride * dtype.itemsize <= capacity
            seen = np.zeros(n, dtype=np.int64)
            for lo in range(0, per, length):  # push_collective's pieces
                m = min(length, per - lo)
                for c in range(world):
                    start = c * per + lo
                    seen[start:start + max(0, min(m, n - start))] += 1
            assert (seen == 1).all(), kind


def test_prepare_loads_the_plugin_in_effect_before_any_flag_wait(monkeypatch):
    """A rank program's kernels are loaded by prepare(), before flag waits are in flight; switching the
    reduce-copy plugin between calls (VIBETENSOR_FABRIC_REDUCE_COPY, as benchmarks/cuda_allreduce.py does) must
    load the new plugin's kernels too. It once did not (the ready set ignored the plugin), so the second
    plugin's first launch loaded its kernel lazily under a peer's flag wait, and the ring hung on a GPU."""
    from types import SimpleNamespace

    from vibetensor.fabric.collectives import reduce_copy
    loads = []
    monkeypatch.setattr(peer._C._cuda, "load_kernel", lambda key, device: loads.append(key))
    monkeypatch.setattr(peer, "_loaded", set())
    monkeypatch.setattr(reduce_copy, "_loaded", True)
    monkeypatch.setattr(reduce_copy, "PLUGINS", {
        "cute": (None, lambda dtype, op: [f"cute-step|{dtype.name}"]),
        "triton": (None, lambda dtype, op: [f"triton-step|{dtype.name}"])})
    ep = SimpleNamespace(world=2, device=SimpleNamespace(index=0), ready=set(), ts_block=0,
                         ts_programs=peer.TS_PROGRAMS)
    for name in ("cute", "triton", "cute"):
        monkeypatch.setenv("VIBETENSOR_FABRIC_REDUCE_COPY", name)
        peer.prepare(ep, vt.bfloat16, ReduceOp.SUM, "all_reduce", "ring")
    assert [k for k in loads if "step" in k] == ["cute-step|bfloat16", "triton-step|bfloat16"]
    peer.prepare(ep, vt.bfloat16, ReduceOp.SUM, "all_reduce", "twoshot")  # no plugin: a name need not resolve
    monkeypatch.setenv("VIBETENSOR_FABRIC_REDUCE_COPY", "nonesuch")
    peer.prepare(ep, vt.bfloat16, ReduceOp.SUM, "all_gather", "ring")
    with pytest.raises(ValueError, match="no reduce-copy plugin 'nonesuch'"):
        peer.prepare(ep, vt.bfloat16, ReduceOp.SUM, "all_reduce", "ring")
