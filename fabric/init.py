"""vt.fabric.init / get_group / destroy: the process's world group, joined from a torchrun-style environment.

RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT are what torchrun and vibetensor-launch set; without
them a process is a world of one. Backends register a factory here ("shm": CPU shared memory; "cuda": the GPU
peer-memory transport), and "auto" picks the GPU one on a machine with a GPU and shm otherwise.
"""
import os

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
    rank = _env_int("RANK", 0) if rank is None else int(rank)
    size = _env_int("WORLD_SIZE", 1) if world_size is None else int(world_size)
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
    _world.local_rank = _env_int("LOCAL_RANK", rank)
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
