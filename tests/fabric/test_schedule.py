"""The ring schedules as data: simulated with numpy for world sizes 1-8, every rank ends with the full sum."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor.fabric import observe
from vibetensor.fabric.collectives import schedule as s
from vibetensor.fabric.collectives.api import ReduceOp, RankFailure, Work


def run_ring(data, n):
    b = s.chunk_bounds(len(data[0]), n)
    buf = [d.copy() for d in data]
    for steps, combine in ((s.ring_reduce_scatter, np.add), (s.ring_all_gather, lambda a, x: x)):
        for step in range(n - 1):
            sends = [(r, steps(r, n)[step][0]) for r in range(n)]
            payloads = [buf[r][b[c][0]:b[c][1]].copy() for r, c in sends]
            for (r, c), p in zip(sends, payloads):
                nxt = s.ring_neighbours(r, n)[0]
                recv = steps(nxt, n)[step][1]
                assert recv == c  # what the next rank expects is what this one sends
                lo, hi = b[recv]
                buf[nxt][lo:hi] = combine(buf[nxt][lo:hi], p)
        if steps is s.ring_reduce_scatter:
            for r in range(n):
                lo, hi = b[r]
                np.testing.assert_allclose(buf[r][lo:hi], sum(data)[lo:hi])
    return buf


@pytest.mark.parametrize("n", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("numel", [1, 5, 37])
def test_ring_all_reduce_schedule(n, numel):
    gen = np.random.default_rng(n * 100 + numel)
    data = [gen.standard_normal(numel) for _ in range(n)]
    for out in run_ring(data, n):
        np.testing.assert_allclose(out, sum(data))


def test_chunks_and_algorithm_choice():
    assert s.chunk_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert s.chunk_bounds(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]
    assert s.chunk_bounds(1000, 3, align=4) == [(0, 336), (336, 672), (672, 1000)]
    assert s.chunk_bounds(7, 3, align=4) == [(0, 4), (4, 7), (7, 7)]
    for numel in range(0, 70):  # aligned chunks tile [0, numel) in order
        b = s.chunk_bounds(numel, 4, align=8)
        assert b[0][0] == 0 and b[-1][1] == numel and all(x[1] == y[0] for x, y in zip(b, b[1:]))
        assert all(lo % 8 == 0 or lo == numel for lo, _ in b)
    assert s.choose_algorithm(1024, 4) == "oneshot" and s.choose_algorithm(1 << 24, 4) == "ring"
    assert s.choose_algorithm(1 << 24, 4, requested="oneshot") == "oneshot"
    with pytest.raises(ValueError, match="algorithm"):
        s.choose_algorithm(1, 2, requested="tree")


def test_api_pieces_and_observability():
    assert ReduceOp.of("SUM") is ReduceOp.SUM
    with pytest.raises(ValueError, match="unknown reduce op"):
        ReduceOp.of("median")
    e = RankFailure("all_reduce", [2], "did not arrive within 5.0 s")
    assert str(e) == "all_reduce: rank 2 did not arrive within 5.0 s"
    w = Work(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        w.wait()
    with pytest.raises(ZeroDivisionError):
        w.wait()
    seq = observe.last_seq()
    observe.record("all_reduce", algorithm="ring", nbytes=64, links={(0, 1): 32})
    ev = observe.events(since=seq)
    assert len(ev) == 1 and ev[0].kind == "all_reduce" and ev[0].seq == seq + 1
    c = observe.counters()
    assert c["all_reduce.ring.count"] >= 1 and c["link.0->1.bytes"] >= 32


def test_gpu_transport_crossover():
    from vibetensor.fabric.collectives import cuda_peer
    words = cuda_peer.ONESHOT_MAX_BYTES // 4
    assert cuda_peer.choose_algorithm(words, 4) == "oneshot" and cuda_peer.choose_algorithm(words + 1, 4) == "twoshot"
    assert cuda_peer.choose_algorithm(2 * words, 2) == "oneshot"  # an LL word carries two 16-bit values
    assert cuda_peer.choose_algorithm(2 * words + 1, 2) == "twoshot"
    assert cuda_peer.choose_algorithm(1 << 28, 4) == "twoshot"  # the two-shot beat the ring up to 1 GB
    small, large = cuda_peer.LL_BLOCKS[0], cuda_peer.LL_BLOCKS[-1]  # one-shot: one step a program while it can
    assert cuda_peer._ll_block(1) == small and cuda_peer._ll_block(cuda_peer.LL_MAX_PROGRAMS * small) == small
    assert cuda_peer._ll_block(cuda_peer.LL_MAX_PROGRAMS * small + 1) == large == cuda_peer._ll_block(words)
    assert cuda_peer.choose_algorithm(64 << 20, 4, "oneshot") == "oneshot"  # the caller's choice wins
    assert cuda_peer.choose_algorithm(8, 4, "ring") == "ring"
    assert cuda_peer.choose_algorithm(100, 4, crossover_bytes=50) == "twoshot"
    assert s.choose_algorithm(8, 4, requested="twoshot") == "ring"  # CPU transports have no two-shot program
    with pytest.raises(ValueError, match="algorithm must be"):
        cuda_peer.choose_algorithm(8, 4, "tree")
    with pytest.raises(ValueError, match="'direct' needs one process driving every GPU"):
        cuda_peer.choose_algorithm(8, 4, "direct")  # a process per GPU cannot run one kernel over all of them
    assert s.choose_algorithm(8, 4, requested="direct") == "ring"  # nor the CPU transports
    assert s.links_of("all_reduce", "direct", 4, 0, 100) == {1: 100, 2: 100, 3: 100}  # rank 0's kernel reads all
    assert s.links_of("all_reduce", "direct", 4, 2, 100) == {0: 100}  # ... and writes each its result
    assert s.links_of("reduce_scatter", "oneshot", 4, 1, 400) == {0: 100, 2: 100, 3: 100}  # one chunk a peer
    assert s.links_of("all_gather", "oneshot", 4, 1, 400) == s.links_of("all_gather", "twoshot", 4, 1, 400)
    assert s.links_of("all_reduce", "oneshot", 4, 1, 400) == {0: 400, 2: 400, 3: 400}  # the whole message


def test_gpu_scatter_gather_crossover():
    """reduce_scatter and all_gather: "auto" takes the one-shot while their whole message's LL payloads (the
    input's, the output's) fit the all-reduce's crossover, the two-shot above; a dtype LL words cannot carry
    takes the two-shot for "oneshot" too."""
    from vibetensor.fabric.collectives import cuda_peer
    sg, words = cuda_peer.scatter_gather_algorithm, cuda_peer.ONESHOT_MAX_BYTES // 4
    for kind in ("reduce_scatter", "all_gather"):
        assert sg(kind, words, vt.float32) == "oneshot" and sg(kind, words + 1, vt.float32) == "twoshot"
        assert sg(kind, 2 * words, vt.bfloat16) == "oneshot"  # an LL word carries two 16-bit values
        assert sg(kind, 2 * words + 1, vt.float16) == "twoshot"
        assert sg(kind, 100, vt.float32, crossover_bytes=50) == "twoshot"  # the group's crossover
        assert sg(kind, 1 << 28, vt.float32, "oneshot") == "oneshot"  # the caller's choice wins
        assert sg(kind, 8, vt.float32, "twoshot") == "twoshot" and sg(kind, 8, vt.float32, "ring") == "ring"
        assert sg(kind, 8, vt.int64) == sg(kind, 8, vt.int32, "oneshot") == "twoshot"
        assert sg(kind, 8, vt.int64, "ring") == "ring"
    with pytest.raises(ValueError, match="all_gather: unknown algorithm 'push'"):
        sg("all_gather", 8, vt.float32, "push")
    with pytest.raises(ValueError, match="reduce_scatter: unknown algorithm 'direct'"):
        sg("reduce_scatter", 8, vt.float32, "direct")  # the direct kernel is an all-reduce's only


def test_oneshot_crossover_variable_reaches_the_cpu_schedules(monkeypatch):
    assert s.choose_algorithm(100_000, 4) == "oneshot"
    monkeypatch.setenv("VIBETENSOR_ONESHOT_MAX_BYTES", "4096")
    assert s.choose_algorithm(4096, 4) == "oneshot" and s.choose_algorithm(4097, 4) == "ring"
    assert s.choose_algorithm(4097, 4, crossover_bytes=1 << 20) == "oneshot"  # an explicit argument wins
