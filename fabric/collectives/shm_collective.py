"""One collective call on one rank of a ShmGroup: sequence numbers, buffer halves, the op descriptor peers
check, timing and recording; and the rank-ordered blockwise reduction the direct algorithms share."""
import time

import numpy as np

from .. import observe
from .api import CollectiveError, RankFailure, ReduceOp
from .shm_sync import DONE, OPARG, OPCODE, OPNBYTES, OPSEQ, READY, check_same_op

_KINDS = {"all_reduce": 1, "reduce_scatter": 2, "all_gather": 3, "broadcast": 4, "all_to_all": 5, "barrier": 6}
_OPS = {None: 0, ReduceOp.SUM: 1, ReduceOp.AVG: 2, ReduceOp.MAX: 3, ReduceOp.MIN: 4}
_ALGOS = {"ring": 1, "twoshot": 2, "pipelined": 3}  # the others (oneshot, direct): 0
_BLOCK = 1 << 15  # elements reduced per pass: the accumulator block stays in L2 across the peers' adds


def op_code(kind, algo, op, dtype):
    """The descriptor word peers compare: the collective, its algorithm, the reduction and the element type."""
    return _KINDS[kind] | _ALGOS.get(algo, 0) << 4 | _OPS[op] << 8 | np.dtype(dtype).num << 12


def failed(g, kind, e):
    """A collective of group g raised e: RankFailure and CollectiveError leave the group unusable (and tell the
    peers, for a failure of a rank, so that they stop waiting for it)."""
    if isinstance(e, (RankFailure, CollectiveError)):
        g._broken = f"{kind} failed: {e}"
        if isinstance(e, RankFailure):
            g._ctl.abort(e)


class Collective:
    """One collective call on one rank: sequence numbers, the op descriptor peers check, timing, recording."""

    def __init__(self, g, kind, algo, nbytes, op, dtype, arg, timeout):
        self.g, self.kind, self.algo, self.nbytes, self.arg = g, kind, algo, nbytes, arg
        self.code = op_code(kind, algo, op, dtype)
        self.timeout, self.links, self.steps = timeout, {}, 1

    def __enter__(self):
        g = self.g
        g._usable(self.kind)
        g._seq += 1
        self.seq, self.base = g._seq, g._step
        self.t0 = time.perf_counter()
        self.flight = observe.in_flight()
        self.flight.__enter__()
        g._ctl.timeout = float(g.timeout if self.timeout is None else self.timeout)  # barrier(timeout=)
        # our buffer half of collective seq - 2 is rewritten now: its readers must be done with it (nearly
        # always true already: finishing seq - 1 took every peer's start of seq - 1, or a broadcast)
        try:
            self.wait_done(self.seq - 2)
        except BaseException as e:
            self.__exit__(type(e), e, None)  # `with` calls __exit__ only once __enter__ returned
            raise
        return self

    def wait_done(self, seq):
        self.g._ctl.wait_slots(self.g._peers, DONE, seq, self.kind)

    def half(self, seg, dtype, count):
        """The elements of this collective's half of a buffer segment."""
        return seg.array(dtype, count, offset=(self.seq % 2) * (seg.size // 2))

    def publish(self, count, dtype, fill):
        """Fills our buffer (fill(dst) writes `count` elements), then tells the peers (descriptor + READY)."""
        g, dst = self.g, None
        if fill is not None:
            dst = self.half(g._buffer(count * np.dtype(dtype).itemsize, self.seq, self.kind), dtype, count)
            fill(dst)
        ctl, at = g._ctl, 4 * (self.seq % 2)
        ctl.set(OPSEQ + at, self.seq)
        ctl.set(OPCODE + at, self.code)
        ctl.set(OPNBYTES + at, self.nbytes)
        ctl.set(OPARG + at, self.arg)
        ctl.set(READY, self.base + 1)
        return dst

    def gather_peers(self, peers, count, dtype, mine):
        """Waits for `peers` to publish, checks they run the same collective, and maps their buffers:
        returns a list indexed by rank (ours is `mine`, ranks not asked for are None)."""
        g = self.g
        self.wait_ready(peers, self.base + 1)
        check_same_op(g._ctl, peers, self.seq, self.code, self.nbytes, self.arg, self.kind)
        out = [None] * g.size
        out[g.rank] = mine
        for p in peers:
            out[p] = self.half(g._peer_buffer(p), dtype, count) if count else np.empty(0, dtype)
        return out

    def wait_ready(self, peers, step):
        self.g._ctl.wait_slots(peers, READY, step, self.kind)

    def set_ready(self, step):
        self.g._ctl.set(READY, step)

    def __exit__(self, et, e, tb):
        g = self.g
        g._ctl.timeout = g.timeout
        self.flight.__exit__(et, e, tb)
        if e is None:
            g._step = self.base + self.steps
            g._ctl.set(DONE, self.seq)
            gr = g.global_ranks
            observe.record(self.kind, group=g.gid, rank=gr[g.rank], algorithm=self.algo, nbytes=self.nbytes,
                           seconds=time.perf_counter() - self.t0,
                           links={(gr[p], gr[g.rank]): b for p, b in self.links.items()})
        else:
            failed(g, self.kind, e)
        return False


def reduce_slices(bufs, lo, hi, ufunc, avg_n, operand, dst):
    """dst[:] = reduce(bufs[0][lo:hi], bufs[1][lo:hi], ...) in rank order, block by block; divided by avg_n
    when averaging; converted back from float32 for the half types."""
    wire = bufs[0].dtype
    direct = dst.dtype == wire
    scratch = None if direct else np.empty(min(_BLOCK, hi - lo), wire)
    for b0 in range(lo, hi, _BLOCK):
        b1 = min(b0 + _BLOCK, hi)
        acc = dst[b0 - lo:b1 - lo] if direct else scratch[:b1 - b0]
        if len(bufs) > 1:  # the first two in one pass: one read and one write fewer than copy, then add
            ufunc(bufs[0][b0:b1], bufs[1][b0:b1], out=acc)
        else:
            np.copyto(acc, bufs[0][b0:b1])
        for b in bufs[2:]:
            ufunc(acc, b[b0:b1], out=acc)
        if avg_n:
            np.divide(acc, avg_n, out=acc)
        if not direct:
            operand.from_wire(acc, dst[b0 - lo:b1 - lo])
