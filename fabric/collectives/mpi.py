"""MpiGroup: the collectives over MPI (mpi4py), for ranks on several hosts.

Every operation is MPI's own non-blocking collective (Iallreduce, Ireduce_scatter_block, Iallgather, Ibcast,
Ialltoall, Ibarrier) on a communicator duplicated for the group, polled with the group's timeout (mpi_wait), so
a dead peer raises RankFailure instead of hanging. MPI chooses its own algorithm; `algorithm=` is checked for
the same values as ShmGroup's and otherwise ignored. Data is host-staged (mpi_data): CPU tensors in place, CUDA
tensors copied through host memory. An async call starts the MPI operation at once; wait() finishes it.

    from vibetensor.fabric.collectives.mpi import MpiGroup      # under mpiexec -n 4 python script.py
    g = MpiGroup()                                              # every rank of MPI.COMM_WORLD
    g.all_reduce(x, "avg")
"""
import atexit
import os
import sys
import time

import numpy as np

from .. import observe
from . import schedule
from .api import CollectiveError, Group, RankFailure, ReduceOp, Work, default_timeout
from .checks import check_all_to_all, check_peer, check_split, check_src, check_usable
from .mpi_data import Staged, check_bytes, cuda_support, mpi_op
from .mpi_wait import poll, translate, wait_request
from .shm_data import check_shapes, reduce_ufunc

_P2P_TAG = 7117  # send/recv traffic; collectives never match tagged messages
_peer_failed = []  # set once any group saw a peer fail: this process must not try to finalize MPI


def load_mpi():
    """mpi4py's MPI module (initialises MPI on first import), or a CollectiveError saying what to install."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise CollectiveError("the MPI transport needs mpi4py and an MPI library: pip install mpi4py mpich "
                              f"(or use the system's Open MPI) ({e})") from None
    return MPI


class MpiWork(Work):
    """An async collective: the MPI request is in flight; wait() polls it (bounded) and writes results back."""

    def __init__(self, run, req):
        super().__init__(run)
        self._req = req

    def is_completed(self):
        return self._done or bool(self._req.Test())


class MpiGroup(Group):
    """The ranks of an MPI communicator (default COMM_WORLD). rank and size are MPI's; the timeout defaults to
    VIBETENSOR_FABRIC_TIMEOUT. cuda_aware=None asks the MPI library (MPIX_Query_cuda_support) and records the answer."""

    def __init__(self, comm=None, timeout=None, *, cuda_aware=None, _dup=True, _global_ranks=None, _gid="mpi"):
        MPI = self._MPI = load_mpi()
        self.timeout = default_timeout() if timeout is None else float(timeout)
        self._closed, self._broken, self._pending, self._sends, self._stuck = False, None, [], [], []
        base = MPI.COMM_WORLD if comm is None else comm
        if _dup:  # our own communicator: messages of the user's (or another group's) never match ours
            self.comm, req = base.Idup()
            wait_request(req, self.timeout, "rendezvous")
        else:
            self.comm = base
        self.comm.Set_errhandler(MPI.ERRORS_RETURN)
        self.rank, self.size, self.gid = self.comm.Get_rank(), self.comm.Get_size(), _gid
        self.devices = ["cpu"]
        self.global_ranks = (list(_global_ranks) if _global_ranks is not None else
                             list(self.comm.Get_group().Translate_ranks(None, MPI.COMM_WORLD.Get_group())))
        self.cuda_aware = cuda_support() if cuda_aware is None else bool(cuda_aware)
        self._splits = 0

    def __repr__(self):
        return f"MpiGroup(rank={self.rank}, size={self.size}, group={self.gid!r})"

    # ---- collectives ---------------------------------------------------------------------------------
    def all_reduce(self, tensor, op=ReduceOp.SUM, async_op=False, algorithm="auto"):
        x, op = Staged(tensor, "all_reduce"), ReduceOp.of(op)
        reduce_ufunc(op, x.wire_dtype, "all_reduce")
        nbytes = x.numel * x.wire_dtype.itemsize
        schedule.choose_algorithm(nbytes, self.size, requested=algorithm)  # same accepted values as ShmGroup

        def start():
            wire = x.reduction_input()
            return self.comm.Iallreduce(self._MPI.IN_PLACE, wire, mpi_op(self._MPI, op, wire.dtype)), wire

        def finish(wire):
            x.finish_reduction(wire, self.size if op is ReduceOp.AVG else 0)
            x.commit()
            return tensor
        return self._run("all_reduce", nbytes, start, finish, async_op)

    def reduce_scatter(self, output, input, op=ReduceOp.SUM, async_op=False):
        out, inp = Staged(output, "reduce_scatter", load=False), Staged(input, "reduce_scatter")
        op = ReduceOp.of(op)
        check_shapes("reduce_scatter", out, inp, self.size, gather=False)
        reduce_ufunc(op, inp.wire_dtype, "reduce_scatter")

        def start():
            wire = inp.reduction_input()
            recv = out.flat if not out.half else np.empty(out.numel, np.float32)
            return self.comm.Ireduce_scatter_block(wire, recv, mpi_op(self._MPI, op, wire.dtype)), (wire, recv)

        def finish(bufs):
            out.finish_reduction(bufs[1], self.size if op is ReduceOp.AVG else 0)
            out.commit()
            return output
        return self._run("reduce_scatter", inp.numel * inp.wire_dtype.itemsize, start, finish, async_op)

    def all_gather(self, output, input, async_op=False):
        out, inp = Staged(output, "all_gather", load=False), Staged(input, "all_gather")
        check_shapes("all_gather", out, inp, self.size, gather=True)
        return self._move("all_gather", inp.nbytes, lambda: self.comm.Iallgather(inp.bytes(), out.bytes()),
                          out, output, async_op)

    def broadcast(self, tensor, src=0, async_op=False):
        check_src("broadcast", src, self.size)
        x = Staged(tensor, "broadcast", load=self.rank == src)
        return self._move("broadcast", x.nbytes, lambda: self.comm.Ibcast(x.bytes(), root=src), x, tensor,
                          async_op)

    def all_to_all(self, output, input, async_op=False):
        out, inp = Staged(output, "all_to_all", load=False), Staged(input, "all_to_all")
        check_all_to_all(out, inp, self.size)
        return self._move("all_to_all", inp.nbytes, lambda: self.comm.Ialltoall(inp.bytes(), out.bytes()),
                          out, output, async_op)

    def barrier(self, timeout=None):
        self._drain()
        self._run("barrier", 0, lambda: (self.comm.Ibarrier(), None), lambda _: None, False, timeout)

    def send(self, tensor, dst):
        """Buffered, like ShmGroup's: the data is copied and the call returns before the receiver takes it."""
        self._usable("send")
        check_peer("send", dst, self.rank, self.size)
        self._drain()
        data = Staged(tensor, "send").bytes().copy()
        self._sends.append((self.comm.Isend(data, dst, tag=_P2P_TAG), data, dst))
        self._sends = [s for s in self._sends if not s[0].Test()]  # progresses earlier sends, drops finished ones

    def recv(self, tensor, src):
        self._usable("recv")
        check_peer("recv", src, self.rank, self.size)
        self._drain()
        x = Staged(tensor, "recv", load=False)

        def go():
            status = self._MPI.Status()
            msg = poll(lambda: self.comm.Improbe(src, _P2P_TAG, status), self.timeout, "recv", (src,))
            got = status.Get_count(self._MPI.BYTE)
            buf = x.bytes() if got == x.nbytes else np.empty(got, np.uint8)  # take it anyway: no stray message
            wait_request(msg.Irecv(buf), self.timeout, "recv", (src,))
            check_bytes("recv", got, x.nbytes, src)
            x.commit()
            observe.record("recv", group=self.gid, rank=self.global_ranks[self.rank], algorithm="mpi", nbytes=got)
            return tensor
        return self._guard("recv", go)

    def split(self, ranks):
        ranks = check_split(ranks, self.size)
        self._usable("split")
        self._drain()
        self._splits += 1
        # Comm.Split blocks without limit: a bounded barrier first makes a dead peer an error, not a hang
        self._run("split", 0, lambda: (self.comm.Ibarrier(), None), lambda _: None, False)
        member = self.rank in ranks
        color = 0 if member else self._MPI.UNDEFINED
        sub = self.comm.Split(color, ranks.index(self.rank) if member else 0)
        if not member:
            return None
        return MpiGroup(sub, self.timeout, cuda_aware=self.cuda_aware, _dup=False,
                        _global_ranks=[self.global_ranks[r] for r in ranks], _gid=f"{self.gid}.s{self._splits}")

    # ---- plumbing ------------------------------------------------------------------------------------
    def _move(self, kind, nbytes, start, out, result, async_op):
        """A collective that moves bytes unchanged into `out` (a Staged)."""
        def finish(_):
            out.commit()
            return result
        return self._run(kind, nbytes, lambda: (start(), None), finish, async_op)

    def _run(self, kind, nbytes, start, finish, async_op, timeout=None):
        """start() -> (request, state) begins the MPI operation; finish(state) -> result once it completed."""
        self._usable(kind)
        if not async_op:
            self._drain()
        t0 = time.perf_counter()
        flight = observe.in_flight()
        flight.__enter__()
        req, state = self._guard(kind, start)

        def complete():
            try:
                self._guard(kind, lambda: wait_request(req, self.timeout if timeout is None else timeout, kind))
            except BaseException as e:
                self._stuck.append((req, state))  # MPI may still write into these: keep them alive
                flight.__exit__(type(e), e, None)
                raise
            flight.__exit__(None, None, None)
            result = finish(state)
            observe.record(kind, group=self.gid, rank=self.global_ranks[self.rank], algorithm="mpi", nbytes=nbytes,
                           seconds=time.perf_counter() - t0)
            return result
        if async_op:
            work = MpiWork(complete, req)
            self._pending.append(work)
            return work
        return complete()

    def _drain(self):
        """Sync calls finish the async ones issued before them first (their errors stay with their Work)."""
        pending, self._pending = self._pending, []
        for w in pending:
            try:
                w.wait()
            except Exception:  # noqa: BLE001 - raised again by the caller's own wait()
                pass

    def _guard(self, kind, fn):
        try:
            return fn()
        except self._MPI.Exception as e:
            err = translate(e, kind, ())
            self._broken = self._broken or f"{kind} failed: {err}"
            if isinstance(err, RankFailure):
                note_peer_failure(err)
            raise err from e
        except (RankFailure, CollectiveError) as e:
            self._broken = self._broken or f"{kind} failed: {e}"
            if isinstance(e, RankFailure):
                note_peer_failure(e)
            raise

    def _usable(self, kind):
        check_usable(kind, self._closed, self._broken)

    def close(self):
        """Finishes pending work and buffered sends (bounded), then frees the communicator. After a failure the
        communicator is left as it is: MPI cannot cancel a collective a dead peer never joined."""
        if self._closed:
            return
        try:
            self._drain()
            if not self._broken:
                for req, _, dst in self._sends:
                    wait_request(req, self.timeout, "close", (dst,))
        except (RankFailure, CollectiveError) as e:
            self._broken = self._broken or f"close failed: {e}"
        finally:
            self._closed = True
        self._sends = []
        if not self._broken and not self._MPI.Is_finalized():
            self.comm.Free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def note_peer_failure(error):
    """Marks this process as having seen a peer fail (any transport of an MPI job): it ends the job at exit."""
    _peer_failed.append(error)


def _exit_if_a_peer_failed():
    """MPI_Finalize (mpi4py calls it at exit, after this) waits for every rank, so after a peer died it would
    hang: leave without it, with status 1, as a failed rank (mpirun then stops the rest of the job), once this
    process's shared-memory groups are closed."""
    if _peer_failed:
        MPI = load_mpi()
        if MPI.Is_initialized() and not MPI.Is_finalized():
            shm = sys.modules.get(f"{__package__}.shm")
            if shm is not None:  # its exit handler may be due after this one, which os._exit would skip
                shm._close_all()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)


atexit.register(_exit_if_a_peer_failed)
