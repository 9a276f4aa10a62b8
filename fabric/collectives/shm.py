"""ShmGroup: the CPU transport — one process per rank on one host, data through shared memory.

Each rank owns a persistent buffer segment (grown on demand, two halves used by alternate collectives) that its
peers map. A collective copies the input into the owner's buffer half, raises the owner's READY flag (a step
sequence number), and peers read the buffer directly: one-shot (every rank reduces every peer's buffer, in rank
order so all ranks get the same bits) or the ring of schedule.py (reduce-scatter then all-gather, each step
reading the previous rank's chunk once its flag says the chunk is ready). A rank rewrites a buffer half only
after every peer has set DONE for the collective that used it last. Waits are bounded (see shm_sync); a failure
leaves the group unusable, not the process.
"""
import atexit
import concurrent.futures
import multiprocessing.util
import os
import weakref

import numpy as np

from . import schedule
from ... import config
from .checks import check_all_to_all, check_split, check_src, check_usable
from .api import CollectiveError, Group, RankFailure, ReduceOp, Work, default_timeout
from .shm_data import Operand, check_shapes, reduce_ufunc
from .shm_segment import Segment
from .shm_store import job_id, join, leave, names
from .shm_collective import Collective, reduce_slices
from .shm_direct import ALGORITHMS as DIRECT, NATIVE_DTYPES as NATIVE, Direct
from .shm_sync import BUFCAP, BUFVER, DONE
from .shm_p2p import PointToPoint

_MIN_BUFFER = 1 << 16
_open_groups = weakref.WeakSet()


class ShmWork(Work):
    """An async collective running on the group's worker thread."""

    def __init__(self, future):
        super().__init__(future.result)
        self._future = future

    def is_completed(self):
        return self._done or self._future.done()


class ShmGroup(Group):
    """A group of processes on one host. rank/size default to RANK/WORLD_SIZE, the job key to VIBETENSOR_FABRIC_JOB
    or MASTER_ADDR:MASTER_PORT, the timeout to VIBETENSOR_FABRIC_TIMEOUT."""

    def __init__(self, rank=None, size=None, job=None, timeout=None, *, _gid="w", _global_ranks=None):
        rank = int(os.environ.get("RANK", 0)) if rank is None else int(rank)
        size = int(os.environ.get("WORLD_SIZE", 1)) if size is None else int(size)
        key = job_id(job)
        if key is None:
            if size > 1:
                raise CollectiveError("ShmGroup: no job id to rendezvous on: pass job=, or set "
                                      "VIBETENSOR_FABRIC_JOB or MASTER_ADDR/MASTER_PORT (torchrun and "
                                      "vibetensor-launch set them)")
            key = f"solo{os.getpid()}"
        self.rank, self.size, self.job, self.gid = rank, size, key, _gid
        self.devices = ["cpu"]
        self.timeout = default_timeout() if timeout is None else float(timeout)
        self.global_ranks = list(_global_ranks) if _global_ranks is not None else list(range(size))
        self._prefix = names(key, _gid)[2]
        self._seg, self._ctl = join(key, _gid, rank, size, self.timeout)
        self._peers = [r for r in range(size) if r != rank]
        self._seq = self._step = self._splits = 0
        self._buf, self._bufver, self._mapped = None, 0, {}
        self._p2p = PointToPoint(self)
        # read once (a lookup per call would cost the native path a tenth of its time), and used by both paths
        self._crossover_set = config.get("VIBETENSOR_ONESHOT_MAX_BYTES")  # None: each path's own default
        self._crossover = schedule.CPU_ONESHOT_MAX_BYTES if self._crossover_set is None else self._crossover_set
        self._direct = Direct(self)  # the native one-shot and two-shot all-reduces
        self._executor, self._pending = None, []
        self._broken = None
        self._closed = False
        self._children = weakref.WeakSet()  # subgroups split from this one: closed before it
        self._owner_pid = os.getpid()
        _close_at_exit()
        _open_groups.add(self)

    @property
    def timeout(self):
        return self._timeout

    @timeout.setter
    def timeout(self, seconds):
        """Seconds every wait of this group may last (settable: a rendezvous may need longer than a step)."""
        self._timeout = float(seconds)
        if getattr(self, "_ctl", None) is not None:
            self._ctl.timeout = self._timeout

    def __repr__(self):
        return f"ShmGroup(rank={self.rank}, size={self.size}, job={self.job!r}, group={self.gid!r})"

    # ---- collectives ---------------------------------------------------------------------------------
    def all_reduce(self, tensor, op=ReduceOp.SUM, async_op=False, algorithm="auto"):
        if op.__class__ is not ReduceOp:
            op = ReduceOp.of(op)
        if not async_op and not self._pending and not self._closed and \
                self._direct.try_all_reduce(tensor, op, algorithm):  # the hot path: no Operand, no thread
            return tensor
        x = Operand(tensor, "all_reduce")
        ufunc = reduce_ufunc(op, x.wire_dtype, "all_reduce")
        nbytes = x.numel * x.wire_dtype.itemsize
        algo = self._direct.algorithm(nbytes, x.flat.dtype, algorithm)
        if algo in DIRECT and x.flat.dtype in NATIVE:  # not contiguous, or async: the same native programs
            def go_direct():
                self._direct.all_reduce(x.flat.ctypes.data, x.numel, x.flat.dtype, op, algo)
                x.commit()
                return tensor
            return self._submit(go_direct, async_op)
        run = self._ring_all_reduce if algo == "ring" else self._oneshot_all_reduce

        def go():
            with self._collective("all_reduce", algo, nbytes, op, x.wire_dtype) as c:
                run(c, x, ufunc, op is ReduceOp.AVG)
            x.commit()
            return tensor
        return self._submit(go, async_op)

    def reduce_scatter(self, output, input, op=ReduceOp.SUM, async_op=False):
        out, inp = Operand(output, "reduce_scatter", load=False), Operand(input, "reduce_scatter")
        op = ReduceOp.of(op)
        check_shapes("reduce_scatter", out, inp, self.size, gather=False)
        ufunc = reduce_ufunc(op, inp.wire_dtype, "reduce_scatter")

        def go():
            with self._collective("reduce_scatter", "direct", inp.numel * inp.wire_dtype.itemsize, op,
                                  inp.wire_dtype) as c:
                mine = c.publish(inp.numel, inp.wire_dtype, lambda dst: inp.to_wire(inp.flat, dst))
                bufs = c.gather_peers(self._peers, inp.numel, inp.wire_dtype, mine)
                lo, hi = self.rank * out.numel, (self.rank + 1) * out.numel
                reduce_slices(bufs, lo, hi, ufunc, self.size if op is ReduceOp.AVG else 0, inp, out.flat)
                c.links = {p: out.numel * inp.wire_dtype.itemsize for p in self._peers}
            out.commit()
            return output
        return self._submit(go, async_op)

    def all_gather(self, output, input, async_op=False):
        out, inp = Operand(output, "all_gather", load=False), Operand(input, "all_gather")
        check_shapes("all_gather", out, inp, self.size, gather=True)

        def go():
            with self._collective("all_gather", "direct", inp.nbytes, None, inp.flat.dtype) as c:
                mine = c.publish(inp.numel, inp.flat.dtype, lambda dst: np.copyto(dst, inp.flat))
                bufs = c.gather_peers(self._peers, inp.numel, inp.flat.dtype, mine)
                m = inp.numel
                for r, b in enumerate(bufs):
                    np.copyto(out.flat[r * m:(r + 1) * m], inp.flat if r == self.rank else b)
                c.links = {p: inp.nbytes for p in self._peers}
            out.commit()
            return output
        return self._submit(go, async_op)

    def broadcast(self, tensor, src=0, async_op=False):
        check_src("broadcast", src, self.size)
        x = Operand(tensor, "broadcast", load=self.rank == src)

        def go():
            with self._collective("broadcast", "direct", x.nbytes, None, x.flat.dtype, arg=src) as c:
                if self.rank == src:
                    c.publish(x.numel, x.flat.dtype, lambda dst: np.copyto(dst, x.flat))
                else:
                    c.publish(0, x.flat.dtype, None)
                    np.copyto(x.flat, c.gather_peers([src], x.numel, x.flat.dtype, None)[src])
                    c.links = {src: x.nbytes}
            x.commit()
            return tensor
        return self._submit(go, async_op)

    def all_to_all(self, output, input, async_op=False):
        out, inp = Operand(output, "all_to_all", load=False), Operand(input, "all_to_all")
        check_all_to_all(out, inp, self.size)

        def go():
            with self._collective("all_to_all", "direct", inp.nbytes, None, inp.flat.dtype) as c:
                mine = c.publish(inp.numel, inp.flat.dtype, lambda dst: np.copyto(dst, inp.flat))
                bufs = c.gather_peers(self._peers, inp.numel, inp.flat.dtype, mine)
                m, r = inp.numel // self.size, self.rank
                for p, b in enumerate(bufs):
                    np.copyto(out.flat[p * m:(p + 1) * m], (inp.flat if p == r else b)[r * m:(r + 1) * m])
                c.links = {p: m * inp.flat.itemsize for p in self._peers}
            out.commit()
            return output
        return self._submit(go, async_op)

    def barrier(self, timeout=None):
        def go():
            with self._collective("barrier", "direct", 0, None, np.dtype(np.uint8), timeout=timeout) as c:
                c.publish(0, np.uint8, None)
                c.gather_peers(self._peers, 0, np.uint8, None)
        return self._submit(go, False)

    def send(self, tensor, dst):
        self._drain("send")
        self._guard("send", lambda: self._p2p.send(Operand(tensor, "send"), dst))

    def recv(self, tensor, src):
        self._drain("recv")
        x = Operand(tensor, "recv", load=False)
        self._guard("recv", lambda: self._p2p.recv(x, src))
        x.commit()
        return tensor

    def split(self, ranks):
        ranks = check_split(ranks, self.size)
        self._splits += 1
        if self.rank not in ranks:
            return None
        sub = ShmGroup(ranks.index(self.rank), len(ranks), self.job, self.timeout,
                       _gid=f"{self.gid}.s{self._splits}", _global_ranks=[self.global_ranks[r] for r in ranks])
        self._children.add(sub)
        return sub

    # ---- the algorithms of all_reduce ----------------------------------------------------------------
    def _oneshot_all_reduce(self, c, x, ufunc, avg):
        mine = c.publish(x.numel, x.wire_dtype, lambda dst: x.to_wire(x.flat, dst))
        bufs = c.gather_peers(self._peers, x.numel, x.wire_dtype, mine)
        reduce_slices(bufs, 0, x.numel, ufunc, self.size if avg else 0, x, x.flat)
        c.links = {p: x.numel * x.wire_dtype.itemsize for p in self._peers}

    def _ring_all_reduce(self, c, x, ufunc, avg):
        n, r, wire = self.size, self.rank, x.wire_dtype
        bounds = schedule.chunk_bounds(x.numel, n)
        nxt, prev = schedule.ring_neighbours(r, n)
        # Only the chunk we send first is copied in; every other chunk enters our buffer as (our input + what
        # the previous rank sent), one pass instead of a copy and an add.
        s0, s1 = bounds[schedule.ring_reduce_scatter(r, n)[0][0] if n > 1 else r]
        mine = c.publish(x.numel, wire, lambda dst: x.to_wire(x.flat[s0:s1], dst[s0:s1]))
        theirs = c.gather_peers([prev], x.numel, wire, mine)[prev] if n > 1 else None
        step = c.base + 1  # READY == step: the first `step - base - 1` ring steps are done
        for j, (_, recv) in enumerate(schedule.ring_reduce_scatter(r, n)):
            c.wait_ready([prev], step)
            lo, hi = bounds[recv]
            if x.half:
                x.to_wire(x.flat[lo:hi], mine[lo:hi])
                ufunc(mine[lo:hi], theirs[lo:hi], out=mine[lo:hi])
            else:
                ufunc(x.flat[lo:hi], theirs[lo:hi], out=mine[lo:hi])
            if avg and j == n - 2:  # our chunk is complete: average it before the others copy it
                np.divide(mine[bounds[r][0]:bounds[r][1]], n, out=mine[bounds[r][0]:bounds[r][1]])
            step += 1
            c.set_ready(step)
        if avg and n == 1:
            np.divide(mine, n, out=mine)
        received = 0
        for k, (_, recv) in enumerate(schedule.ring_all_gather(r, n)):
            c.wait_ready([prev], step)
            lo, hi = bounds[recv]
            if k < n - 2:  # the next rank copies this chunk from us at the next step
                np.copyto(mine[lo:hi], theirs[lo:hi])
            x.from_wire(theirs[lo:hi], x.flat[lo:hi])
            received += hi - lo
            step += 1
            c.set_ready(step)
        lo, hi = bounds[r]
        x.from_wire(mine[lo:hi], x.flat[lo:hi])
        c.steps = step - c.base
        if n > 1:
            c.links = {prev: (x.numel - (hi - lo) + received) * wire.itemsize}

    # ---- plumbing ------------------------------------------------------------------------------------
    def _collective(self, kind, algo, nbytes, op, dtype, arg=0, timeout=None):
        return Collective(self, kind, algo, nbytes, op, dtype, arg, timeout)

    def _buffer(self, nbytes, seq, kind):
        """Our buffer segment (two halves: collective s uses half s % 2), grown when a half is too small for
        collective `seq`: a new segment replaces the old, once every peer finished with both halves (the
        previous collective)."""
        if self._buf is None or self._buf.size // 2 < nbytes:
            self._ctl.wait_slots(self._peers, DONE, seq - 1, kind)
            size = 2 * max(_MIN_BUFFER, 1 << (max(nbytes, 1) - 1).bit_length())
            old = self._buf
            self._bufver += 1
            self._buf = Segment(f"{self._prefix}-r{self.rank}-v{self._bufver}", size, create=True)
            self._ctl.set(BUFCAP, size)
            self._ctl.set(BUFVER, self._bufver)
            if old is not None:
                old.unlink()
                old.close()
        return self._buf

    def _peer_buffer(self, p):
        ver = self._ctl.get(p, BUFVER)
        have = self._mapped.get(p)
        if have is None or have[0] != ver:
            if have is not None:
                have[1].close()
            self._mapped[p] = have = (ver, Segment(f"{self._prefix}-r{p}-v{ver}", 0, create=False))
        return have[1]

    def _submit(self, fn, async_op):
        if async_op:
            self._usable("async collective")
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"vtfab-{self.gid}")
            fut = self._executor.submit(fn)
            self._pending.append(fut)
            return ShmWork(fut)
        self._drain("collective")
        return fn()

    def _drain(self, what):
        """Sync calls run after the async ones issued before them (every rank sees the same order)."""
        if self._pending:
            pending, self._pending = self._pending, []
            concurrent.futures.wait(pending)

    def _guard(self, kind, fn):
        self._usable(kind)
        try:
            return fn()
        except (RankFailure, CollectiveError) as e:
            self._broken = f"{kind} failed: {e}"
            if isinstance(e, RankFailure):
                self._ctl.abort(e)
            raise

    def _usable(self, kind):
        check_usable(kind, self._closed, self._broken)

    def close(self):
        """Leaves the group: waits (bounded) until the peers have read our buffer, then removes our segments;
        the last member out removes everything the group left, including segments of killed members."""
        if self._closed:
            return
        for sub in list(self._children):
            sub.close()
        try:
            self._drain("close")
        finally:
            self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if not self._broken:
            try:
                self._ctl.wait_slots(self._peers, DONE, self._seq, "close")
                self._p2p.flush()
            except (RankFailure, CollectiveError):
                pass  # leaving anyway: our segments go, peers that still needed them will fail their wait
        for seg in [self._buf] + [s for _, s in self._mapped.values()] + self._p2p.segments():
            if seg is not None:
                if seg is self._buf or seg in self._p2p.owned():
                    seg.unlink()
                seg.close()
        self._buf, self._mapped = None, {}
        leave(self.job, self.gid, self._ctl, self._seg, whole_job=self.gid == "w")
        _open_groups.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _close_all():
    for g in list(_open_groups):
        if g._owner_pid != os.getpid():
            continue  # inherited through fork: the group belongs to the parent, leave it alone
        try:
            g.close()
        except Exception:  # noqa: BLE001 - exiting: a group we cannot close cleanly is cleaned by the last rank
            pass


_finalizer_pid = None


def _close_at_exit():
    """Closes this process's groups at interpreter exit, and at the exit of multiprocessing children:
    fork-started ones leave through os._exit, which skips atexit but runs multiprocessing's finalizers (a
    child starts with none of its parent's, so each process registers its own)."""
    global _finalizer_pid
    if _finalizer_pid != os.getpid():
        _finalizer_pid = os.getpid()
        multiprocessing.util.Finalize(None, _close_all, exitpriority=100)


atexit.register(_close_all)
