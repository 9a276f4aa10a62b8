"""ShmGroup's one-shot all-reduce in two native calls (csrc/fabric/shm_oneshot.cpp): `start` copies the input
into our buffer half and publishes, `finish` waits for the peers, checks their descriptors and reduces. It is
the protocol of shm_collective.py (same halves, descriptors, READY and DONE flags), so ranks on the native path
and ranks on the Python path meet in one collective; whatever the native calls cannot finish by spinning (a
peer that is late or dead, a buffer to grow or to map, a peer in another collective) goes back to the Python
side's bounded waits and errors. The Python path took ~25 us per 4 KB call, four times MPICH's."""
import os
import time

import numpy as np

from ... import _C
from ... import config
from .. import observe
from . import schedule
from .api import ReduceOp
from .shm_collective import failed, op_code
from .shm_sync import BUFVER, DONE, HEADER, OPSEQ, READY, SLOT, check_same_op

DONE_, PEERS_BUSY, WAITING, REMAP, MISMATCH = 0, -1, 1, 2, 3  # ShmStatus
_OPS = {ReduceOp.SUM: 1, ReduceOp.AVG: 2, ReduceOp.MAX: 3, ReduceOp.MIN: 4}
_DTYPES = {np.dtype(np.int32): 0x004, np.dtype(np.int64): 0x008, np.dtype(np.float32): 0x104,
           np.dtype(np.float64): 0x108}  # ShmDtype: what the native side reduces as it is
_BY_NAME = {d.name: d for d in _DTYPES}


def _address(seg):
    return seg.array(np.uint8).ctypes.data


def _operand(t):
    """(address, numel, numpy dtype) of a tensor the native path takes, else None: contiguous CPU memory of a
    type in _DTYPES (the half types reduce in float32 on the Python path)."""
    if isinstance(t, np.ndarray):
        ok = t.flags.c_contiguous and t.flags.writeable
        return (t.ctypes.data, t.size, t.dtype) if ok and t.dtype in _DTYPES else None
    device = getattr(t, "device", None)
    if device is None or device.type != "cpu" or not t.is_contiguous():
        return None
    dtype = _BY_NAME.get(t.dtype.name)
    return (t.data_ptr(), t.numel(), dtype) if dtype is not None else None


class FastOneshot:
    def __init__(self, g):
        self.g = g
        self.native = _C._fabric.ShmOneshot(g._ctl.w.ctypes.data, g.rank, g.size, HEADER, SLOT, READY, DONE,
                                            BUFVER, OPSEQ)
        # The native waits poll as the Python ones do (shm_sync.Control.wait_words): spin, then yield the CPU
        # for a while; a wait that outlasts both (a late or dead peer) returns here for the liveness checks.
        # With more ranks than CPUs a spinning rank holds the core its peer needs: yield from the start.
        crowded = g.size > (os.cpu_count() or 1)
        self.native.set_patience(0 if crowded else int(config.get("VIBETENSOR_FABRIC_SPIN_US") * 1e3),
                                 int(config.get("VIBETENSOR_FABRIC_YIELD_MS") * 1e6))
        self._codes = {}  # (op, dtype) -> (descriptor code, ShmDtype, ShmOp), or None: not native

    def _codes_of(self, op, dtype):
        key = (op, dtype)
        if key not in self._codes:
            ok = op in _OPS and (op is not ReduceOp.AVG or dtype.kind == "f")
            self._codes[key] = (op_code("all_reduce", "oneshot", op, dtype), _DTYPES[dtype], _OPS[op]) if ok else None
        return self._codes[key]

    def all_reduce(self, tensor, op, algorithm):
        """Runs the all-reduce and returns True, or returns False (nothing done) where the Python path must."""
        g = self.g
        x = _operand(tensor)
        codes = x and self._codes_of(op, x[2])
        if not codes:
            return False
        ptr, numel, dtype = x
        nbytes = numel * dtype.itemsize
        if g._buf is None or g._buf.size // 2 < nbytes:
            return False  # the Python path grows our buffer
        if schedule.choose_algorithm(nbytes, g.size, g._crossover, algorithm) != "oneshot":
            return False
        g._usable("all_reduce")
        n, (code, dcode, ocode) = self.native, codes
        if n.version(g.rank) != g._bufver:
            n.set_buffer(g.rank, _address(g._buf), g._buf.size, g._bufver)
        g._seq += 1
        seq, base, t0 = g._seq, g._step, time.perf_counter()
        try:
            with observe.in_flight():
                while n.start(seq, base, code, nbytes, ptr, numel, dcode) == PEERS_BUSY:
                    g._ctl.wait_slots(g._peers, DONE, seq - 2, "all_reduce")
                while (st := n.finish(seq, base, code, nbytes, ptr, numel, dcode, ocode)) != DONE_:
                    if st == WAITING:
                        g._ctl.wait_slots(g._peers, READY, base + 1, "all_reduce")
                    elif st == REMAP:
                        for p in g._peers:
                            g._peer_buffer(p)
                            ver, seg = g._mapped[p]
                            n.set_buffer(p, _address(seg), seg.size, ver)
                    else:
                        check_same_op(g._ctl, g._peers, seq, code, nbytes, 0, "all_reduce")
        except BaseException as e:
            failed(g, "all_reduce", e)
            raise
        g._step = base + 1
        gr = g.global_ranks
        observe.record("all_reduce", group=g.gid, rank=gr[g.rank], algorithm="oneshot", nbytes=nbytes,
                       seconds=time.perf_counter() - t0, links={(gr[p], gr[g.rank]): nbytes for p in g._peers})
        return True
