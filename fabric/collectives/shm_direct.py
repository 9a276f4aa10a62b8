"""ShmGroup's direct all-reduces (every rank reads its peers' buffers) as native calls (csrc/fabric/
shm_direct.cpp), for the element types reduced as they are (float32/64, int32/64): one-shot (each rank
reduces the whole message), two-shot (each reduces its chunk, then copies the peers' reduced chunks) and
pipelined two-shot (the same, piece by piece through a few cache-sized slots: ShmDirect::pipe).

`start` copies the input into our buffer half and publishes; then one-shot `finish`, or two-shot
`reduce_chunk` and `gather`; `run` does them all in one call. They run the protocol of shm_collective.py
(buffer halves, op descriptors, READY and DONE flags); whatever a native wait cannot finish by spinning and
yielding (a peer that is late or dead, a peer's buffer to map, a peer in another collective) returns here for
the bounded waits, liveness checks and errors of shm_sync.py, and the call resumes from the step that
stopped. The Python path took ~25 us per 4 KB call, six times MPICH's."""
import os
from time import perf_counter

import numpy as np

from ... import _C
from ... import config
from .. import observe
from ..observe import flying, landed
from . import schedule
from .api import ReduceOp
from .shm_collective import failed, op_code
from .shm_sync import BUFVER, CONSUMED, DONE, HEADER, OPSEQ, PIPED, READY, REDUCED, SLOT, check_same_op

DONE_, PEERS_BUSY, WAITING, REMAP, MISMATCH = 0, -1, 1, 2, 3  # ShmStatus
_OPS = {ReduceOp.SUM: 1, ReduceOp.AVG: 2, ReduceOp.MAX: 3, ReduceOp.MIN: 4}
NATIVE_DTYPES = {np.dtype(np.int32): 0x004, np.dtype(np.int64): 0x008, np.dtype(np.float32): 0x104,
                 np.dtype(np.float64): 0x108}  # ShmDtype: what the native side reduces as it is
_BY_CODE = {c: d for d, c in NATIVE_DTYPES.items()}
ALGORITHMS = ("oneshot", "twoshot", "pipelined")
# The pipelined all-reduce's slots (a piece of every rank's chunk) and how many of them our half cycles through:
# with 256 KB x 4, 16 MB on 2 ranks took 2.3-2.7 ms against 3.1 for 64 KB x 4 and 3.7 for 16 KB x 4 (measured
# with a pipelined one-shot, whose slot held one piece of the whole message; 2 x 256 KB: 3.0).
PIPE_SLOT_BYTES = 256 << 10
PIPE_SLOTS = 4
# "auto" above the one-shot crossover (2 cores, float32 sum, medians of 5, 2026-11-26): the two-shot up to
# TWOSHOT_MAX_BYTES, the pipelined two-shot above. 2 ranks: 0.08 / 0.16-0.17 ms at 1 / 2 MB for both (one-shot
# 0.14 / 0.27); at 4 / 16 / 64 MB pipelined 0.37 / 1.76 / 7.9 ms against the two-shot's 0.57 / 5.3 / 26 and a
# pipelined one-shot's 0.66 / 2.55 / 8.8 (dropped). 4 ranks: 0.24-0.25 ms at 1 MB for both; pipelined 1.23 /
# 5.5 / 18.4 ms at 4 / 16 / 64 MB against 2.2 / 12.5 / 47 (the ring: 2.5 / 10.8 / 49 in an earlier run).
TWOSHOT_MAX_BYTES = 2 << 20
# ... and below it the one-shot, to these sizes (unless VIBETENSOR_ONESHOT_MAX_BYTES says otherwise): 3 and 4
# ranks: the two-shot 46-62 us at 128 KB against the one-shot's 58-98, even at 32-64 KB (21-51 against 22-42),
# the one-shot ahead below (4 KB: 14 against 15-16 us); 2 ranks: even to 128 KB, two-shot ahead at 256 KB (37
# against 45 us).
ONESHOT_MAX_BYTES = 64 << 10
PAIR_ONESHOT_MAX_BYTES = 128 << 10


def _address(seg):
    return seg.array(np.uint8).ctypes.data


_UNPLANNED = object()  # Direct._plans has no entry for the key yet


_dense_cpu = _C._fabric.dense_cpu  # (address, numel, ShmDtype code) of a vt tensor it takes, else None


def _dense_numpy(a):
    """dense_cpu for a numpy array: (address, numel, ShmDtype code) if contiguous, writable and native, else None."""
    if isinstance(a, np.ndarray) and a.flags.c_contiguous and a.flags.writeable and a.dtype in NATIVE_DTYPES:
        return a.ctypes.data, a.size, NATIVE_DTYPES[a.dtype]
    return None


class _Plan:
    """What one (size, dtype, op, algorithm) all-reduce passes the native side and records. piece: elements of
    a pipelined one's pieces (0: not pipelined); buffer: the bytes our buffer half must hold."""
    __slots__ = ("algorithm", "twoshot", "steps", "code", "dtype", "op", "nbytes", "record", "piece", "buffer")

    def __init__(self, algorithm, code, dtype, op, nbytes, links, group, rank, itemsize, size):
        self.algorithm, self.twoshot, self.code, self.dtype, self.op = algorithm, algorithm == "twoshot", code, dtype, op
        self.steps = 2 if self.twoshot else 1  # the group's step counter moves by the steps of the protocol
        self.nbytes = nbytes
        self.record = observe.recorder("all_reduce", group=group, rank=rank, algorithm=algorithm, nbytes=nbytes,
                                       links=links)  # record(seconds)
        # a pipelined slot holds one piece of every rank's chunk, PIPE_SLOT_BYTES in all
        self.piece = PIPE_SLOT_BYTES // (size * itemsize) if algorithm == "pipelined" else 0
        self.buffer = PIPE_SLOTS * size * self.piece * itemsize if self.piece else nbytes


class Direct:
    """One ShmGroup's native direct all-reduces."""

    def __init__(self, g):
        self.g = g
        self.native = _C._fabric.ShmDirect(g._ctl.w.ctypes.data, g.rank, g.size, HEADER, SLOT, READY, DONE,
                                           BUFVER, OPSEQ, PIPED, CONSUMED, REDUCED)
        self._pbase = 0  # pieces every rank's pipelined all-reduces published so far (the same on every rank)
        # The native waits poll as the Python ones do (shm_sync.Control.wait_words): spin, then yield the CPU
        # for a while; a wait that outlasts both returns here. With more ranks than CPUs a spinning rank holds
        # the core its peer needs: yield from the start. So does the default (VIBETENSOR_FABRIC_SPIN_US=0): two
        # ranks held on one of this machine's two vCPUs took 270 us per 1 MB all-reduce and 2.3 ms per 4 MB with
        # 50 us of spinning, 160 us and 0.65 ms yielding at once; free to take both vCPUs, 4 us at 4 KB, 75 us
        # and 0.33 ms either way.
        crowded = g.size > (os.cpu_count() or 1)
        self.native.set_patience(0 if crowded else int(config.get("VIBETENSOR_FABRIC_SPIN_US") * 1e3),
                                 int(config.get("VIBETENSOR_FABRIC_YIELD_MS") * 1e6))
        self._plans = {}  # (numel, ShmDtype code or dtype, op name, algorithm or requested) -> _Plan, or None
        self._bufver, self._half = -1, 0  # the version and half size of our buffer that the native side holds

    def algorithm(self, nbytes, dtype, requested):
        """What an all-reduce of nbytes of numpy `dtype` runs: "oneshot", "twoshot" or "pipelined" (native, for
        the native types) or "ring" / "oneshot" (the Python path, where the type is not native or the ring is
        asked for). The hot path asks once per size, through _plan's cache."""
        g = self.g
        algo = schedule.choose_algorithm(nbytes, g.size, g._crossover, requested)  # also checks the name
        if dtype not in NATIVE_DTYPES or requested == "ring":
            return algo
        if requested != "auto":
            return requested if requested in ALGORITHMS else algo  # ("direct": the ring, as choose_algorithm says)
        top = g._crossover_set
        if top is None:
            top = PAIR_ONESHOT_MAX_BYTES if g.size == 2 else ONESHOT_MAX_BYTES
        if nbytes <= top:
            return "oneshot"
        return "twoshot" if nbytes <= TWOSHOT_MAX_BYTES else "pipelined"

    def _plan(self, numel, dtype, op, requested):
        """The _Plan of an all-reduce of numel elements of numpy `dtype` by `op`, for `requested` ("auto" or an
        algorithm), made once: a 4 KB all-reduce takes a few microseconds, and each lookup or hash of an enum
        here was a tenth of one. None where the native side does not run it (the algorithm or the type)."""
        key = (numel, NATIVE_DTYPES.get(dtype, dtype), op._value_, requested)  # (enum .value: a descriptor call)
        try:
            return self._plans[key]
        except KeyError:
            pass
        if len(self._plans) > 4096:  # a job all-reduces a few sizes; keep these from growing without end
            self._plans.clear()
        nbytes = numel * dtype.itemsize
        algo = self.algorithm(nbytes, dtype, requested)
        plan = None
        if algo in ALGORITHMS and op in _OPS and (op is not ReduceOp.AVG or dtype.kind == "f"):
            g = self.g
            gr = g.global_ranks
            links = schedule.links_of("all_reduce", algo, g.size, g.rank, nbytes)
            plan = _Plan(algo, op_code("all_reduce", algo, op, dtype), NATIVE_DTYPES[dtype], _OPS[op], nbytes,
                         {(gr[p], gr[g.rank]): b for p, b in links.items()}, g.gid, gr[g.rank], dtype.itemsize,
                         g.size)
        self._plans[key] = plan
        return plan

    def try_all_reduce(self, tensor, op, requested):
        """The hot path of a sync call: a contiguous tensor of a native type runs here (returns True);
        anything else returns False and takes ShmGroup's general path."""
        x = _dense_cpu(tensor)  # a vt tensor, the common case: one call
        if x is None:
            x = _dense_numpy(tensor)
            if x is None:
                return False
        plan = self._plans.get((x[1], x[2], op._value_, requested), _UNPLANNED)  # _plan's key: a call less
        if plan is _UNPLANNED:
            plan = self._plan(x[1], _BY_CODE[x[2]], op, requested)
        if plan is None:
            return False
        self._run(x[0], x[1], plan)
        return True

    def all_reduce(self, ptr, numel, dtype, op, algo):
        """numel elements of numpy `dtype` at address ptr <- their all-reduce by `algo` (one of ALGORITHMS)."""
        self._run(ptr, numel, self._plan(numel, dtype, op, algo))

    def _run(self, ptr, numel, plan):
        g, n = self.g, self.native
        if g._closed or g._broken:
            g._usable("all_reduce")  # raises, naming why
        g._seq = seq = g._seq + 1
        base, t0 = g._step, perf_counter()
        flying()  # observe.in_flight's count, without a `with` (200 ns of a ~3 us call)
        try:
            if self._bufver != g._bufver or self._half < plan.buffer:
                self._own_buffer(seq, plan)
            if plan.piece:
                self._pipe(seq, base, ptr, numel, plan)
            else:
                stopped = n.run(seq, base, plan.code, plan.nbytes, ptr, numel, plan.dtype, plan.op, plan.twoshot)
                if stopped:  # a wait outlasted the native patience, or a peer's buffer is new: step by step
                    self._steps(stopped, seq, base, ptr, numel, plan)
        except BaseException as e:
            failed(g, "all_reduce", e)
            raise
        finally:
            landed()
        g._step = base + plan.steps
        plan.record(perf_counter() - t0)

    def _own_buffer(self, seq, plan):
        """Grows our buffer for `plan` where a half is too small, and tells the native side of a new one."""
        g = self.g
        if g._buf is None or g._buf.size // 2 < plan.buffer:
            g._buffer(plan.buffer, seq, "all_reduce")
        if self.native.version(g.rank) != g._bufver:
            self.native.set_buffer(g.rank, _address(g._buf), g._buf.size, g._bufver)
        self._bufver, self._half = g._bufver, g._buf.size // 2

    def _pipe(self, seq, base, ptr, numel, plan):
        """The pipelined all-reduce: native until done, the bounded Python waits where it stopped."""
        n, pbase, slots = self.native, self._pbase, PIPE_SLOTS
        st, k, phase = n.pipe(seq, base, pbase, plan.code, plan.nbytes, ptr, numel, plan.dtype, plan.op, plan.piece,
                              slots, 0, 0)
        while st != DONE_:
            # WAITING: for the peers to free slot k % slots (phase 0), publish piece k (1) or reduce it (2)
            self._settle(st, seq, plan, ((CONSUMED, pbase + k - slots + 1), (PIPED, pbase + k + 1),
                                         (REDUCED, pbase + k + 1))[phase])
            st, k, phase = n.pipe(seq, base, pbase, plan.code, plan.nbytes, ptr, numel, plan.dtype, plan.op,
                                  plan.piece, slots, k, phase)
        self._pbase = pbase + k  # k: the pieces of this call

    def _settle(self, st, seq, plan, waiting):
        """Acts on a native call's status other than done, the bounded way: waits for the peers to be done with
        collective seq - 2 (PEERS_BUSY) or for their (field, target) `waiting` (WAITING), maps their new buffers
        (REMAP), or raises for a peer in another collective."""
        g = self.g
        if st == PEERS_BUSY:
            g._ctl.wait_slots(g._peers, DONE, seq - 2, "all_reduce")
        elif st == WAITING:
            g._ctl.wait_slots(g._peers, *waiting, "all_reduce")
        elif st == REMAP:
            for p in g._peers:
                g._peer_buffer(p)
                ver, seg = g._mapped[p]
                self.native.set_buffer(p, _address(seg), seg.size, ver)
        else:
            check_same_op(g._ctl, g._peers, seq, plan.code, plan.nbytes, 0, "all_reduce")

    def _steps(self, stopped, seq, base, ptr, numel, plan):
        """Finishes a call whose native run stopped (`stopped`: the step, and the status it stopped with)."""
        n, code, nbytes, dcode, ocode = self.native, plan.code, plan.nbytes, plan.dtype, plan.op
        steps = [lambda: n.start(seq, base, code, nbytes, ptr, numel, dcode)]
        if not plan.twoshot:
            steps.append(lambda: n.finish(seq, base, code, nbytes, ptr, numel, dcode, ocode))
        else:
            steps += [lambda: n.reduce_chunk(seq, base, code, nbytes, ptr, numel, dcode, ocode),
                      lambda: n.gather(seq, base, ptr, numel, dcode)]
        status = (stopped & 0xff) - (256 if stopped & 0x80 else 0)
        for i in range((stopped >> 8) - 1, len(steps)):
            # step i (0 start, then the reduce, then the gather) until done, from its last status (None: not
            # tried yet); its waits are for READY = base + i
            st = steps[i]() if status is None else status
            while st != DONE_:
                self._settle(st, seq, plan, (READY, base + i))
                st = steps[i]()
            status = None
