"""``torch.cuda`` for vibetensor: reports that there is no CUDA runtime yet.

vibetensor's CUDA backend does not run ops yet (``vt.zeros(1, device="cuda")`` raises "has no kernel for
cuda"), so ``is_available()`` is False on every machine, GPUs or not, and a script's usual
``"cuda" if torch.cuda.is_available() else "cpu"`` picks the CPU. Calls that need a GPU raise.
"""


def is_available():
    """False: no vibetensor CUDA runtime exists yet (independent of whether the machine has GPUs)."""
    return False


def device_count():
    """0: vibetensor can run nothing on a GPU yet."""
    return 0


def is_initialized():
    return False


def _no_cuda(*args, **kwargs):
    raise RuntimeError("vibetensor has no CUDA runtime yet: torch.cuda.is_available() is False")


def manual_seed(seed):
    """No CUDA generators to seed; accepted (PyTorch also ignores this without CUDA)."""


manual_seed_all = manual_seed
synchronize = current_device = set_device = get_device_name = get_device_properties = _no_cuda
memory_allocated = max_memory_allocated = _no_cuda


def empty_cache():
    """Nothing is cached on a GPU; a no-op, as in PyTorch before CUDA is initialised."""


__all__ = ["is_available", "device_count", "is_initialized", "manual_seed", "manual_seed_all", "synchronize",
           "current_device", "set_device", "get_device_name", "get_device_properties", "memory_allocated",
           "max_memory_allocated", "empty_cache"]
