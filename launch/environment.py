"""The environment each rank starts with: torchrun's contract plus vibetensor's own variables.

torchrun's variables (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, ROLE_RANK,
ROLE_WORLD_SIZE, ROLE_NAME, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_*) let scripts written for
torchrun, and libraries that detect it, run unchanged. vibetensor adds:

    VIBETENSOR_DEVICE         "cuda:<i>" or "cpu": the device this rank drives (vt.fabric.init() sets it)
    VIBETENSOR_FABRIC_JOB     an id shared by every rank of one attempt, new on each restart
    VIBETENSOR_RESTART_COUNT  0 on the first attempt, then 1, 2, ... (--max-restarts)
    VIBETENSOR_LAUNCHER       who started the rank: "vibetensor-launch", "mpi" or "slurm"
    VIBETENSOR_CPUS           the CPU list the rank is pinned to (unset: not pinned)

All are declared, with every other variable vibetensor reads, in :mod:`vibetensor.config`.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import time
from dataclasses import dataclass

from .devices import Placement

__all__ = ["World", "rank_environment", "free_port", "new_job_id", "thread_defaults"]


@dataclass(frozen=True)
class World:
    """The shape of one job: ``nnodes`` nodes of ``nproc`` ranks each; this is node ``node_rank``.

    >>> w = World(nproc=4, nnodes=2, node_rank=1)
    >>> w.size, w.global_rank(1)
    (8, 5)
    """

    nproc: int
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    job_id: str = ""
    restart_count: int = 0
    max_restarts: int = 0

    @property
    def size(self) -> int:
        return self.nproc * self.nnodes

    def global_rank(self, local_rank: int) -> int:
        return self.node_rank * self.nproc + local_rank


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it; a race with other programs remains,
    as with torchrun's ``--rdzv-endpoint=localhost:0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))  # every interface: the rendezvous may listen on any of them
        return s.getsockname()[1]


def new_job_id() -> str:
    """Unique per launch: time, launcher pid and random bits, e.g. ``vt-20250101T120000-4242-9f2c1a``."""
    return f"vt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"


def thread_defaults(cpus: tuple[int, ...] | None, environ: dict[str, str]) -> dict[str, str]:
    """Thread-pool sizes for a pinned rank, unless the user chose them: without this every rank
    would start one thread per core of the whole machine (the native pool counts all cores)."""
    if not cpus:
        return {}
    n = str(len(cpus))
    return {k: n for k in ("VIBETENSOR_NUM_THREADS", "OMP_NUM_THREADS") if k not in environ}


def rank_environment(base: dict[str, str], world: World, local_rank: int, placement: Placement,
                     launcher: str = "vibetensor-launch") -> dict[str, str]:
    """``base`` plus every variable rank ``local_rank`` of this node needs."""
    rank = world.global_rank(local_rank)
    env = dict(base)
    env.update({
        "RANK": str(rank),
        "LOCAL_RANK": str(local_rank),
        "WORLD_SIZE": str(world.size),
        "LOCAL_WORLD_SIZE": str(world.nproc),
        "GROUP_RANK": str(world.node_rank),
        "GROUP_WORLD_SIZE": str(world.nnodes),
        "ROLE_NAME": "default",
        "ROLE_RANK": str(rank),
        "ROLE_WORLD_SIZE": str(world.size),
        "MASTER_ADDR": world.master_addr,
        "MASTER_PORT": str(world.master_port),
        "TORCHELASTIC_RUN_ID": world.job_id,
        "TORCHELASTIC_RESTART_COUNT": str(world.restart_count),
        "TORCHELASTIC_MAX_RESTARTS": str(world.max_restarts),
        "PYTHON_EXEC": sys.executable,
        "PYTHONUNBUFFERED": "1",
        # A rank the launcher stops for hanging (SIGABRT on --timeout) prints where every thread was.
        "PYTHONFAULTHANDLER": base.get("PYTHONFAULTHANDLER", "1"),
        "VIBETENSOR_DEVICE": placement.device,
        "VIBETENSOR_FABRIC_JOB": world.job_id,
        "VIBETENSOR_RESTART_COUNT": str(world.restart_count),
        "VIBETENSOR_LAUNCHER": launcher,
    })
    env.pop("VIBETENSOR_CPUS", None)
    if placement.cpus:
        # Plain comma list (a valid Linux CPU list): formatting ranges would import the topology
        # package, a quarter second the CPU-only launch does not need.
        env["VIBETENSOR_CPUS"] = ",".join(map(str, placement.cpus))
        env.update(thread_defaults(placement.cpus, base))
    return env
