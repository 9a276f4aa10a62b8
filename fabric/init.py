"""vt.fabric.init / get_group / destroy: the process's world group, joined from a torchrun-style environment.

RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT are what torchrun and vibetensor-launch set; under a
bare mpiexec/srun the ranks come from the MPI/Slurm environment; without any of them a process is a world of one.
A job on several hosts (under MPI or Slurm) gets the hierarchical group: shared memory within each host, MPI
between hosts. Backends register a factory here ("shm": CPU shared memory; "cuda": the GPU peer-memory
transport; "mpi"; "hierarchical"), and "auto" picks the GPU one on a machine with a GPU and shm otherwise.
"""
import os

from .. import config
from . import observe
from .collectives.api import CollectiveError

_BACKENDS = {}
_world = None


def register_backend(name, factory, gpu=False):
    """factory(rank, size, timeout=..., job=...) -> Group. gpu=True marks a transport "auto" prefers on GPUs."""
    _BACKENDS[name] = (factory, gpu)


def _shm(rank, size, timeout=None, job=None):
    from .collectives.shm import ShmGroup
    return ShmGroup(rank, size, job=job, timeout=timeout)


register_backend("shm", _shm)


def _cuda(rank, size, timeout=None, job=None):
    from .collectives.cuda_group import CudaGroup
    return CudaGroup(rank, size, job=job, timeout=timeout)


register_backend("cuda", _cuda, gpu=True)


def _mpi(rank, size, timeout=None, job=None):
    from .collectives.mpi import MpiGroup
    return _matching(MpiGroup(timeout=timeout), rank, size)


def _hierarchical(rank, size, timeout=None, job=None):
    from .collectives.hierarchical import HierarchicalGroup
    return _matching(HierarchicalGroup(timeout=timeout), rank, size)


def _matching(group, rank, size):
    """MPI numbers the ranks itself: an environment that says otherwise is a launch mistake, not ours to guess."""
    if (group.rank, group.size) != (rank, size):
        group.close()
        raise CollectiveError(f"init: MPI says rank {group.rank} of {group.size}, the environment (RANK, "
                              f"WORLD_SIZE) says rank {rank} of {size}")
    return group


register_backend("mpi", _mpi)
register_backend("hierarchical", _hierarchical)


def _external():
    """This process's place in an mpirun/mpiexec/srun job, or None outside one."""
    from ..launch import external
    try:
        return external.detect()
    except external.ExternalError:
        return None


def _several_hosts(ext):
    """An MPI/Slurm job spanning hosts (or posing as several: VIBETENSOR_FABRIC_RANKS_PER_HOST)."""
    per_host = config.get("VIBETENSOR_FABRIC_RANKS_PER_HOST")
    return ext is not None and (ext.nnodes > 1 or 0 < per_host < ext.size)


def _has_gpu():
    try:
        from .. import cuda
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - no CUDA build or no driver: no GPU
        return False


def _env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise CollectiveError(f"init: environment variable {name}={value!r} is not an integer") from None


def init(backend="auto", rank=None, world_size=None, timeout=None, job=None):
    """Joins the world group (every rank of the job calls it) and returns it."""
    global _world
    if _world is not None:
        raise RuntimeError("vt.fabric.init() was already called; call vt.fabric.destroy() first")
    ext = _external()  # plain mpiexec/srun sets no RANK: the ranks are MPI's
    rank = _env_int("RANK", ext.rank if ext else 0) if rank is None else int(rank)
    size = _env_int("WORLD_SIZE", ext.size if ext else 1) if world_size is None else int(world_size)
    if backend == "auto" and _several_hosts(ext):
        backend = "hierarchical"  # shared memory within each host, MPI between hosts
    if job is None and ext is not None and not os.environ.get("RANK"):
        job = ext.job_id  # one host under a bare mpiexec: the id every local rank derives alike
    if backend == "auto":
        gpu = [n for n, (_, is_gpu) in _BACKENDS.items() if is_gpu]
        if _has_gpu() and gpu:
            backend = gpu[0]
        else:
            backend = "shm"
            if _has_gpu():
                observe.record("fallback", detail="no GPU transport registered: shm backend (CPU tensors only)")
    if backend not in _BACKENDS:
        raise ValueError(f"init: unknown backend {backend!r}; registered: {sorted(_BACKENDS)}")
    _world = _BACKENDS[backend][0](rank, size, timeout=timeout, job=job)
    _world.local_rank = _env_int("LOCAL_RANK", ext.local_rank if ext else rank)
    _world.backend = backend
    return _world


def is_initialized():
    return _world is not None


def get_group():
    """The world group of init()."""
    if _world is None:
        raise RuntimeError("vt.fabric.init() has not been called in this process")
    return _world


def destroy():
    """Leaves the world group (and frees its shared memory); init() may be called again afterwards."""
    global _world
    world, _world = _world, None
    if world is not None:
        world.close()
