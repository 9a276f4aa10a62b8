"""vt.cuda: devices, streams, events and the caching allocator (PyTorch's torch.cuda names).

The native core loads the NVIDIA driver at run time, so this module imports everywhere; without a GPU
`is_available()` is False and every call that needs one raises a RuntimeError saying why.

>>> import vibetensor as vt
>>> isinstance(vt.cuda.is_available(), bool)
True
"""
import contextlib

from .. import _C

_c = _C._cuda
OutOfMemoryError = _C.OutOfMemoryError


def is_available():
    return _c.is_available()


def device_count():
    return _c.device_count()


def current_device():
    return _c.current_device()


def _index(device):
    if device is None:
        return -1
    if isinstance(device, int):
        return device
    d = device if isinstance(device, _C.device) else _C.device(device)
    if d.type != "cuda":
        raise ValueError(f"expected a CUDA device, got {d}")
    return -1 if d.index is None else d.index


def set_device(device):
    _c.set_device(_index(device))


@contextlib.contextmanager
def device(device):
    """Makes `device` current inside the block."""
    prev = _c.current_device()
    _c.set_device(_index(device))
    try:
        yield
    finally:
        _c.set_device(prev)


def synchronize(device=None):
    _c.synchronize(_index(device))


def get_device_properties(device=None):
    return _Properties(_c.device_properties(_c.current_device() if device is None else _index(device)))


def get_device_name(device=None):
    return get_device_properties(device).name


def get_device_capability(device=None):
    p = get_device_properties(device)
    return (p.major, p.minor)


class _Properties:
    def __init__(self, d):
        self.__dict__.update(d)

    def __repr__(self):
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
                f"total_memory={self.total_memory // (1 << 20)}MB, multi_processor_count={self.multi_processor_count})")


# ---- streams and events ----------------------------------------------------------------------------------
class Stream:
    """A CUDA stream from the device's pool (priority 0, or negative for high priority)."""

    def __init__(self, device=None, priority=0, _native=None):
        self._s = _native if _native is not None else _c.stream_from_pool(_index(device), priority)

    @property
    def device(self):
        return _C.device("cuda", self._s.device_index)

    @property
    def priority(self):
        return self._s.priority

    @property
    def cuda_stream(self):
        return self._s.cuda_stream

    def synchronize(self):
        self._s.synchronize()

    def query(self):
        return self._s.query()

    def record_event(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        event.wait(self)

    def wait_stream(self, stream):
        self.wait_event(stream.record_event())

    def __eq__(self, other):
        return isinstance(other, Stream) and self._s == other._s

    def __hash__(self):
        return hash(self._s)

    def __repr__(self):
        return f"<vibetensor.cuda.Stream device=cuda:{self._s.device_index} cuda_stream={self.cuda_stream:#x}>"


class Event:
    """Marks a point in a stream: wait on it from other streams, query it, or time between two."""

    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        self._e = _c.Event(enable_timing, interprocess)

    def record(self, stream=None):
        self._e.record((stream or current_stream())._s)

    def wait(self, stream=None):
        self._e.wait((stream or current_stream())._s)

    def query(self):
        return self._e.query()

    def synchronize(self):
        self._e.synchronize()

    def elapsed_time(self, end_event):
        return self._e.elapsed_time(end_event._e)


def current_stream(device=None):
    return Stream(_native=_c.current_stream(_index(device)))


def default_stream(device=None):
    return Stream(_native=_c.default_stream(_index(device)))


def set_stream(stream):
    _c.set_current_stream(stream._s)


class stream:
    """`with stream(s):` makes `s` the current stream, and its device the current device, inside the block (as
    torch does: work that takes the current device, such as kernels launched by raw pointers, must land on
    `s`); None leaves things unchanged. A class, not a generator: one process driving several GPUs enters one
    per device and collective."""
    __slots__ = ("_s", "_index", "_prev", "_prev_device")

    def __init__(self, s):
        self._s = None if s is None else s._s

    def __enter__(self):
        if self._s is not None:
            self._index = index = self._s.device_index
            self._prev_device, self._prev = _c.current_device(), _c.current_stream(index)
            if index != self._prev_device:
                _c.set_device(index)
            _c.set_current_stream(self._s)
        return self

    def __exit__(self, *exc):
        if self._s is not None:
            _c.set_current_stream(self._prev)
            if self._index != self._prev_device:
                _c.set_device(self._prev_device)
        return False


# ---- memory ------------------------------------------------------------------------------------------------
def memory_stats(device=None):
    return _c.memory_stats(_index(device))


def memory_allocated(device=None):
    return memory_stats(device)["allocated_bytes"]


def max_memory_allocated(device=None):
    return memory_stats(device)["peak_allocated_bytes"]


def memory_reserved(device=None):
    return memory_stats(device)["reserved_bytes"]


def max_memory_reserved(device=None):
    return memory_stats(device)["peak_reserved_bytes"]


def memory_snapshot(device=None):
    return _c.memory_snapshot(_index(device))


def empty_cache(device=None):
    if is_available():
        _c.empty_cache(_index(device))


def reset_peak_memory_stats(device=None):
    _c.reset_peak_memory_stats(_index(device))


def set_per_process_memory_fraction(fraction, device=None):
    _c.set_per_process_memory_fraction(fraction, _index(device))


def mem_get_info(device=None):
    return _c.mem_get_info(_c.current_device() if device is None else _index(device))


# ---- random number generators --------------------------------------------------------------------------
# One Philox generator per device (seed + offset; csrc/cuda/generator.h). vt.manual_seed seeds them all
# with the CPU's. Like torch.cuda's, seeding is a silent no-op without a GPU so CPU-only scripts still run.
def _generator(device=None):
    i = _index(device)
    return _C._default_generator(_c.current_device() if i < 0 else i)


def manual_seed(seed):
    """Seeds the current device's generator (restarting its stream)."""
    if is_available():
        _generator().manual_seed(seed)


def manual_seed_all(seed):
    """Seeds every device's generator."""
    for i in range(device_count()):
        _C._default_generator(i).manual_seed(seed)


def seed():
    """Seeds the current device's generator with a fresh non-deterministic seed."""
    if is_available():
        _generator().seed()


def seed_all():
    """Seeds every device's generator with one fresh non-deterministic seed."""
    if is_available():
        manual_seed_all(_generator().seed())


def initial_seed():
    """The seed of the current device's generator."""
    return _generator().initial_seed()


def get_rng_state(device="cuda"):
    """A device's generator state: a CPU uint8 tensor (seed, then offset, little-endian uint64 each)."""
    return _generator(device).get_state()


def set_rng_state(new_state, device="cuda"):
    """Restores a state from ``get_rng_state()``."""
    _generator(device).set_state(new_state)


def get_rng_state_all():
    return [_C._default_generator(i).get_state() for i in range(device_count())]


def set_rng_state_all(new_states):
    for i, state in enumerate(new_states):
        _C._default_generator(i).set_state(state)


__all__ = ["is_available", "device_count", "current_device", "set_device", "device", "synchronize",
           "get_device_properties", "get_device_name", "get_device_capability", "Stream", "Event",
           "current_stream", "default_stream", "set_stream", "stream", "memory_stats", "memory_allocated",
           "max_memory_allocated", "memory_reserved", "max_memory_reserved", "memory_snapshot", "empty_cache",
           "reset_peak_memory_stats", "set_per_process_memory_fraction", "mem_get_info", "OutOfMemoryError",
           "manual_seed", "manual_seed_all", "seed", "seed_all", "initial_seed", "get_rng_state", "set_rng_state",
           "get_rng_state_all", "set_rng_state_all"]

from .cuda_graphs import (CUDAGraph, graph, graph_pool_handle, is_current_stream_capturing,  # noqa: E402
                          make_graphed_step)

__all__ += ["CUDAGraph", "graph", "graph_pool_handle", "is_current_stream_capturing", "make_graphed_step"]
