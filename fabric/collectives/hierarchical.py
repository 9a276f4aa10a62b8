"""HierarchicalGroup: all_reduce as shared memory within each host and MPI between one leader per host.

all_reduce reduces among the ranks of a host (ShmGroup), all-reduces the host sums among the hosts' leaders
(MpiGroup), and broadcasts the result within each host: each host sends one message over the network instead
of one per rank. bfloat16/float16 travel as float32 through all three steps and are rounded once at the end,
and AVG sums all the way and divides by the world size once, so the result matches a flat all_reduce up to
the order of additions. The other collectives run over MPI among all ranks.

Hosts come from MPI (ranks sharing memory: Split_type(COMM_TYPE_SHARED)), or, with
VIBETENSOR_FABRIC_RANKS_PER_HOST=N, from blocks of N consecutive ranks, so one machine can act as several:

    VIBETENSOR_FABRIC_RANKS_PER_HOST=2 mpiexec -n 4 python train.py     # 2 "hosts" x 2 ranks
"""
import concurrent.futures
import contextlib
import os

import numpy as np

from ... import config
from . import schedule
from .api import Group, RankFailure, ReduceOp, default_timeout
from .checks import check_usable
from .mpi import MpiGroup, load_mpi, note_peer_failure
from .mpi_data import Staged
from .mpi_wait import PeerFailure
from .shm import ShmGroup, ShmWork
from .shm_data import reduce_ufunc


def host_keys(world, ranks_per_host=None):
    """One int per rank of `world` (an MpiGroup), equal for ranks on the same host."""
    per = config.get("VIBETENSOR_FABRIC_RANKS_PER_HOST") if ranks_per_host is None else ranks_per_host
    if per:
        mine = world.rank // per
    else:
        MPI = load_mpi()
        world.barrier()  # Split_type blocks without limit: a dead peer fails this bounded barrier first
        shared = world.comm.Split_type(MPI.COMM_TYPE_SHARED)
        # the host's key: the rank (in world) of its first rank, read from the groups locally
        mine = shared.Get_group().Translate_ranks([0], world.comm.Get_group())[0]
        shared.Free()
    keys = np.zeros(world.size, np.int64)
    world.all_gather(keys, np.array([mine], np.int64))
    return keys.tolist()


def hosts_of(keys):
    """[[ranks of host 0], [ranks of host 1], ...], hosts in order of their first rank."""
    hosts = {}
    for r, k in enumerate(keys):
        hosts.setdefault(k, []).append(r)
    return list(hosts.values())


class HierarchicalGroup(Group):
    """Every rank of an MPI job (world: MpiGroup), its host's ranks (local: ShmGroup) and, on each host's first
    rank, the leaders of all hosts (leaders: MpiGroup; None elsewhere)."""

    def __init__(self, comm=None, timeout=None, ranks_per_host=None):
        self.timeout = default_timeout() if timeout is None else float(timeout)
        self.world = MpiGroup(comm, self.timeout)
        self.rank, self.size, self.devices = self.world.rank, self.world.size, ["cpu"]
        self.global_ranks = self.world.global_ranks
        self.hosts = hosts_of(host_keys(self.world, ranks_per_host))
        self.host = next(h for h, ranks in enumerate(self.hosts) if self.rank in ranks)
        ranks = self.hosts[self.host]
        token = np.array([int.from_bytes(os.urandom(6), "little") if self.rank == 0 else 0], np.int64)
        self.world.broadcast(token, 0)  # one shared-memory namespace per job and host
        self.job = f"mpi{int(token[0]):x}"
        self.leaders = self.world.split([h[0] for h in self.hosts])
        self.local = ShmGroup(ranks.index(self.rank), len(ranks), job=f"{self.job}.h{self.host}",
                              timeout=self.timeout, _global_ranks=[self.global_ranks[r] for r in ranks])
        self._executor, self._pending, self._closed = None, [], False

    def __repr__(self):
        return (f"HierarchicalGroup(rank={self.rank}, size={self.size}, hosts={len(self.hosts)}, "
                f"local_size={self.local.size})")

    def all_reduce(self, tensor, op=ReduceOp.SUM, async_op=False, algorithm="auto"):
        x, op = Staged(tensor, "all_reduce"), ReduceOp.of(op)
        reduce_ufunc(op, x.wire_dtype, "all_reduce")
        schedule.choose_algorithm(x.numel * x.wire_dtype.itemsize, self.size, requested=algorithm)
        step = ReduceOp.SUM if op is ReduceOp.AVG else op

        local_ranks, leader_ranks = self.hosts[self.host], [h[0] for h in self.hosts]

        def go():
            wire = x.reduction_input()
            with _step("within the host", local_ranks):
                self.local.all_reduce(wire, step, algorithm=algorithm)
            if self.leaders is not None:
                with _step("between hosts", leader_ranks):
                    self.leaders.all_reduce(wire, step)
            with _step("broadcasting within the host", local_ranks):
                self.local.broadcast(wire, 0)
            x.finish_reduction(wire, self.size if op is ReduceOp.AVG else 0)
            x.commit()
            return tensor
        return self._submit(go, async_op)

    # Everything else moves each rank's data once in any case: MPI among all ranks.
    def reduce_scatter(self, output, input, op=ReduceOp.SUM, async_op=False):
        return self._submit(lambda: self.world.reduce_scatter(output, input, op), async_op)

    def all_gather(self, output, input, async_op=False):
        return self._submit(lambda: self.world.all_gather(output, input), async_op)

    def broadcast(self, tensor, src=0, async_op=False):
        return self._submit(lambda: self.world.broadcast(tensor, src), async_op)

    def all_to_all(self, output, input, async_op=False):
        return self._submit(lambda: self.world.all_to_all(output, input), async_op)

    def send(self, tensor, dst):
        return self._submit(lambda: self.world.send(tensor, dst), False)

    def recv(self, tensor, src):
        return self._submit(lambda: self.world.recv(tensor, src), False)

    def barrier(self, timeout=None):
        return self._submit(lambda: self.world.barrier(timeout), False)

    def split(self, ranks):
        """A flat MpiGroup of `ranks` (a subgroup rarely spans hosts evenly enough to pay for two levels)."""
        return self._submit(lambda: self.world.split(ranks), False)

    def _submit(self, fn, async_op):
        """Async calls run in issue order on one worker thread (every rank runs them in the same order)."""
        self._usable("async collective" if async_op else "collective")
        fn = _noting_failures(fn)
        if async_op:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vtfab-hier")
            fut = self._executor.submit(fn)
            self._pending.append(fut)
            return ShmWork(fut)
        if self._pending:
            pending, self._pending = self._pending, []
            concurrent.futures.wait(pending)
        return fn()

    def _usable(self, kind):
        check_usable(kind, self._closed, None)

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self._pending:
            concurrent.futures.wait(self._pending)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        for g in (self.local, self.leaders, self.world):
            if g is not None:
                g.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@contextlib.contextmanager
def _step(where, ranks):
    """A subgroup's RankFailure as the all_reduce's, naming ranks of the whole group (subgroups number their own)."""
    try:
        yield
    except RankFailure as e:
        raise PeerFailure("all_reduce", [ranks[r] for r in e.ranks], f"{e.reason} ({where})") from e


def _noting_failures(fn):
    def run():
        try:
            return fn()
        except RankFailure as e:  # a dead peer within the host is a dead MPI rank too: MPI cannot finalize
            note_peer_failure(e)
            raise
    return run
