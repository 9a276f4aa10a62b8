"""The GPU collectives' flag and one-shot kernels (kernels/triton/fabric*.py), run by Triton's interpreter.

The interpreter runs one launch at a time, so each test plays one rank against peers whose side of the
protocol is already written into memory (their buffers, the flags they would have set) and checks what the
rank computed and which flags it set; a peer that never wrote its flag must make the rank record it in the
status word (bounded by a spin count here, by %globaltimer on a GPU) instead of hanging.
"""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels.interpret import interpreted, wrap
from vibetensor.kernels.triton import fabric as F
from helpers import rng

triton = pytest.importorskip("triton")


class World:
    """CPU segments laid out like the GPU ones, one per rank, and the device tables of their addresses."""

    def __init__(self, world, numel, dtype=vt.float32):
        self.world, self.dtype = world, dtype
        self.segs = [vt.zeros(F.HEADER_BYTES + numel * dtype.itemsize, dtype=vt.uint8) for _ in range(world)]
        self.flags = vt.tensor([s.data_ptr() for s in self.segs], dtype=vt.int64)
        self.bufs = vt.tensor([s.data_ptr() + F.HEADER_BYTES for s in self.segs], dtype=vt.int64)
        self.status = vt.zeros(4, dtype=vt.int32)

    def header(self, r):
        return self.segs[r].narrow(0, 0, F.HEADER_BYTES).view(vt.int32)

    def data(self, r):
        return self.segs[r].narrow(0, F.HEADER_BYTES, self.segs[r].numel() - F.HEADER_BYTES).view(self.dtype)

    def arrive(self, rank, peer, phase, pid, epoch):
        """Peer `peer` reached `epoch` of barrier (phase, pid): the word it writes in rank's header."""
        self.header(rank)[F.BAR_OFF + (phase * F.MAX_PROGRAMS + pid) * F.MAX_WORLD + peer] = epoch

    def run(self, key, grid, *args, spins=F.MAX_SPINS):
        fn, _, cx = F.load(key, timed=False)
        if "SPINS" in cx:
            cx["SPINS"] = spins
        interpreted(fn)[grid](*[wrap(a) for a in args], **cx)


def _reference(arrays, op):
    fn = {"sum": np.add, "max": np.maximum, "min": np.minimum}[op]
    acc = arrays[0].astype(np.float64)
    for a in arrays[1:]:
        acc = fn(acc, a.astype(np.float64))
    return acc


@pytest.mark.parametrize("op", ["sum", "max", "min"])
@pytest.mark.parametrize("dtype", [vt.float32, vt.float16], ids=str)
def test_oneshot_reduces_every_rank_in_order(op, dtype):
    gen, world, rank, n, programs, block = rng(), 3, 1, 300, 2, 64  # 300 > 2 * 64: the grid-stride loop runs
    w = World(world, n, dtype)
    for call in (1, 2):  # two calls: epochs advance from device memory, not from arguments
        xs = [vt.tensor(gen.standard_normal(n).astype(np.float32)).to(dtype) for _ in range(world)]
        for p in range(world):
            if p != rank:
                w.data(p).narrow(0, 0, n).copy_(xs[p])
                for phase in (F.PHASE_IN, F.PHASE_OUT):
                    for pid in range(programs):
                        w.arrive(rank, p, phase, pid, call)
        out = vt.empty(n, dtype=dtype)
        w.run(f"fab|oneshot|{dtype.name}|{op}|{world}|{block}", (programs,), xs[rank], out, w.bufs,
              w.flags, w.status, n, rank, 10**9, programs)
        assert w.status.tolist() == [0, 0, 0, 0]
        ref = _reference([x.to(vt.float32).numpy() for x in xs], op)
        tol = 1e-6 if dtype == vt.float32 else 2e-3
        np.testing.assert_allclose(out.to(vt.float32).numpy(), ref, rtol=tol, atol=tol)
        assert np.array_equal(w.data(rank).narrow(0, 0, n).numpy(), xs[rank].numpy())  # its input, published
        for p in range(world):  # it told every rank (itself included) that it reached this call's epoch
            for phase in (F.PHASE_IN, F.PHASE_OUT):
                for pid in range(programs):
                    slot = F.BAR_OFF + (phase * F.MAX_PROGRAMS + pid) * F.MAX_WORLD + rank
                    assert w.header(p)[slot].item() == call
        assert w.header(rank)[F.EPOCH_OFF:F.EPOCH_OFF + programs].tolist() == [call] * programs


def test_oneshot_records_a_missing_rank_and_later_kernels_skip():
    gen, world, rank, n = rng(), 3, 0, 50
    w = World(world, n)
    x = vt.tensor(gen.standard_normal(n).astype(np.float32))
    for pid in range(1):
        w.arrive(rank, 1, F.PHASE_IN, pid, 1)  # rank 1 arrived, rank 2 never does
    out = vt.full([n], 7.0)
    w.run(f"fab|oneshot|float32|sum|{world}|64", (1,), x, out, w.bufs, w.flags, w.status, n, rank, 10**9, 1,
          spins=20)
    assert w.status[0].item() == 2 + 1  # 1 + the missing rank
    assert np.all(out.numpy() == 7.0)  # no reduction over a buffer that never arrived
    before = w.header(1).clone()
    w.run(f"fab|barrier|{world}", (1,), w.flags, w.status, rank, 10**9, spins=20)
    assert np.array_equal(w.header(1).numpy(), before.numpy())  # a failed group's kernels do nothing


def test_barrier_meets_every_rank():
    world, rank = 4, 2
    w = World(world, 1)
    for call in (1, 2, 3):
        for p in range(world):
            if p != rank:
                w.arrive(rank, p, F.PHASE_BARRIER, 0, call)
        w.run(f"fab|barrier|{world}", (1,), w.flags, w.status, rank, 10**9)
        assert w.status[0].item() == 0
        slot = F.BAR_OFF + F.PHASE_BARRIER * F.MAX_PROGRAMS * F.MAX_WORLD + rank
        assert [w.header(p)[slot].item() for p in range(world)] == [call] * world
    w.run(f"fab|barrier|{world}", (1,), w.flags, w.status, rank, 10**9, spins=20)  # nobody came to call 4
    assert w.status[0].item() == 1  # rank 0, the first it waited for


def test_ring_sync_publishes_relative_to_its_base_and_waits():
    world, rank = 4, 1
    w = World(world, 1)
    me = w.header(rank)
    me[F.RING_BASE] = 100  # counters continue from earlier collectives
    me[F.RING_OFF + 0] = 103  # the predecessor finished step 2
    args = lambda sig_rel, wait_rel, advance: (w.flags, w.status, rank, 0, 2, sig_rel, 0, wait_rel, -1, 0,  # noqa: E731
                                               advance, 10**9)
    w.run("fab|sync|4", (1,), *args(2, 3, 0))
    assert w.status[0].item() == 0
    assert w.header(0)[F.RING_OFF + rank].item() == 102 and w.header(2)[F.RING_OFF + rank].item() == 102
    assert w.header(3)[F.RING_OFF + rank].item() == 0  # not a neighbour: untouched
    w.run("fab|sync|4", (1,), *args(4, 3, 7))  # the last boundary: moves the base on
    assert me[F.RING_BASE].item() == 107
    w.run("fab|sync|4", (1,), *args(1, 1, 0), spins=20)  # the predecessor is at 103 < 107 + 1
    assert w.status[0].item() == 0 + 1
    assert w.header(0)[F.RING_OFF + rank].item() == 108  # it published (107 + 1) before it waited


def test_keys_are_validated():
    with pytest.raises(ValueError, match="1 to 16 ranks"):
        F.load("fab|barrier|17")
    with pytest.raises(ValueError, match="not a fabric kernel key"):
        F.load("fab|nope")


@pytest.mark.parametrize("op", ["sum", "max", "min"])
@pytest.mark.parametrize("dtype", [vt.float32, vt.float16], ids=str)
def test_triton_reduce_copy_step(op, dtype):
    gen, n, block = rng(), 1000, 256
    a, b = (vt.tensor(gen.standard_normal(n).astype(np.float32)).to(dtype) for _ in range(2))
    ref = _reference([a.to(vt.float32).numpy(), b.to(vt.float32).numpy()], op)
    World(1, 1).run(f"fab|rc|{dtype.name}|{op}|{block}", (-(-n // block),), b, a, b, n)  # dst aliases b
    tol = 1e-6 if dtype == vt.float32 else 1e-3
    np.testing.assert_allclose(b.to(vt.float32).numpy(), ref, rtol=tol, atol=tol)
