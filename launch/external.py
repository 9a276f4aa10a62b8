"""Ranks started by someone else: mpirun/mpiexec (Open MPI, MPICH, Intel MPI) or Slurm's srun.

Then the launcher spawns nothing: it reads this process's rank from the MPI or Slurm environment,
writes the torchrun variables (and VIBETENSOR_*) from it, pins the process, and replaces itself with the
script (``exec``), so the process the external launcher supervises *is* the rank.

Which environment wins, first match: Open MPI (OMPI_COMM_WORLD_*), MPICH/Intel MPI (PMI_RANK,
PMI_SIZE, MPI_LOCALRANKID), an srun step (SLURM_PROCID in a step started by srun, not the batch
script itself), and PMIx alone (PMIX_RANK: needs the size from one of the others, so it is an error).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping

__all__ = ["External", "ExternalError", "detect", "first_host", "tasks_on_node"]

# Step ids Slurm gives the batch script, the extern step and interactive steps, which are not srun tasks.
_SLURM_SPECIAL_STEPS = {"batch", "extern", "interactive", "4294967294", "4294967295", "4294967293",
                        "4294967292", "4294967291", "4294967290"}


class ExternalError(ValueError):
    """The MPI/Slurm environment is present but not usable (a variable missing or malformed)."""


@dataclass(frozen=True)
class External:
    """This process's place in a job started by MPI or Slurm."""

    kind: str  # "mpi" or "slurm"
    rank: int
    size: int
    local_rank: int
    local_size: int
    node_rank: int
    nnodes: int
    master_addr: str | None  # None: not known from the environment (MPI across hosts)
    master_port: int | None
    job_id: str


def _int(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    value = env.get(name)
    if value is None or value.strip() == "":
        if default is None:
            raise ExternalError(f"{name} is not set")
        return default
    try:
        return int(value)
    except ValueError:
        raise ExternalError(f"{name}={value!r} is not an integer") from None


def _mpi(env: Mapping[str, str], rank: str, size: str, lrank: str, lsize: str, job_vars: tuple[str, ...],
         ) -> External:
    r, n = _int(env, rank), _int(env, size)
    local_size = _int(env, lsize, n)
    local_rank = _int(env, lrank, r % local_size)
    # Block mapping (MPI's default with --map-by slot/core): node i holds ranks i*local_size ...
    node_rank = r // local_size if local_size else 0
    job = next((env[v] for v in job_vars if env.get(v)), None)
    # Ranks must agree on the job id; without one from MPI, the parent (mpirun's daemon on this
    # node) is the only thing local ranks share.
    job_id = f"mpi-{job}" if job else f"mpi-ppid{os.getppid()}"
    single_node = local_size == n
    addr = env.get("MASTER_ADDR") or ("127.0.0.1" if single_node else None)
    port = _int(env, "MASTER_PORT", 29500) if addr else None
    return External("mpi", r, n, local_rank, local_size, node_rank, max(1, -(-n // local_size)), addr, port, job_id)


def first_host(nodelist: str) -> str:
    """The first host of a Slurm node list (what ``scontrol show hostnames | head -n1`` prints).

    >>> first_host("gpu[007-009,012],cpu1"), first_host("node5,node6"), first_host("a-[3]")
    ('gpu007', 'node5', 'a-3')
    """
    m = re.match(r"\s*([^,\[]+)(?:\[([^\]]+)\])?", nodelist)
    if not m or not m.group(1).strip():
        raise ExternalError(f"cannot read a host from Slurm node list {nodelist!r}")
    prefix, ranges = m.group(1).strip(), m.group(2)
    if not ranges:
        return prefix
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first


def tasks_on_node(spec: str, node: int) -> int:
    """Tasks on node ``node`` from SLURM_STEP_TASKS_PER_NODE, e.g. ``"4(x2),3"``.

    >>> [tasks_on_node("4(x2),3", i) for i in range(3)]
    [4, 4, 3]
    """
    counts: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", part)
        if not m:
            raise ExternalError(f"cannot read Slurm tasks-per-node {spec!r}")
        counts += [int(m.group(1))] * int(m.group(2) or 1)
    if not 0 <= node < len(counts):
        raise ExternalError(f"Slurm tasks-per-node {spec!r} has no entry for node {node}")
    return counts[node]


def _slurm(env: Mapping[str, str]) -> External:
    rank = _int(env, "SLURM_PROCID")
    size = _int(env, "SLURM_NTASKS", _int(env, "SLURM_NPROCS", 1))
    node = _int(env, "SLURM_NODEID", 0)
    per_node = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE")
    local_size = tasks_on_node(per_node, node) if per_node else size
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    addr = env.get("MASTER_ADDR") or (first_host(nodelist) if nodelist else "127.0.0.1")
    job = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID") or "0"
    # Same on every task of the step, and different for jobs that share a node.
    port = _int(env, "MASTER_PORT", 15000 + int(job) % 20000 if job.isdigit() else 29500)
    return External("slurm", rank, size, _int(env, "SLURM_LOCALID", 0), local_size, node,
                    _int(env, "SLURM_STEP_NUM_NODES", _int(env, "SLURM_NNODES", 1)), addr, port,
                    f"slurm-{job}.{env.get('SLURM_STEP_ID', '0')}")


def detect(env: Mapping[str, str] | None = None) -> External | None:
    """This process's rank from an MPI or srun environment, or None when there is none.

    >>> detect({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"}).rank
    1
    >>> detect({"SLURM_PROCID": "0", "SLURM_NTASKS": "8"}) is None  # a batch script, not an srun step
    True
    """
    env = os.environ if env is None else env
    if "OMPI_COMM_WORLD_RANK" in env:
        return _mpi(env, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                    "OMPI_COMM_WORLD_LOCAL_SIZE", ("OMPI_MCA_ess_base_jobid", "OMPI_MCA_orte_ess_jobid",
                                                   "PMIX_NAMESPACE"))
    if "PMI_RANK" in env:
        return _mpi(env, "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS",
                    ("PMI_JOBID", "PMI_KVSNAME", "I_MPI_JOB_ID", "SLURM_JOB_ID"))
    step = env.get("SLURM_STEP_ID")
    if "SLURM_PROCID" in env and step is not None and step not in _SLURM_SPECIAL_STEPS:
        return _slurm(env)
    if "PMIX_RANK" in env:
        raise ExternalError("PMIX_RANK is set but neither Open MPI's nor Slurm's variables give the world "
                            "size; run under mpirun/srun, or with --nproc-per-node to spawn ranks")
    return None
