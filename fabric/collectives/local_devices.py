"""Virtual devices: the logical devices one process drives (CPU slots, or streams on one or more GPUs).

A virtual CPU device is a slot: its tensors are ordinary CPU tensors, and the slot says which rank they
belong to. A virtual CUDA device is a (GPU, stream) pair: N of them on cuda:0 let the multi-device
algorithms, their stream synchronisation and their latency run on a one-GPU machine.

>>> devs = virtual_devices("cpu", 4)
>>> [str(d) for d in devs]
['cpu/v0', 'cpu/v1', 'cpu/v2', 'cpu/v3']
"""
import contextlib

from ... import _C


class VirtualDevice:
    """One logical device: `device` is the physical vt.device its tensors live on; CUDA ones own a stream
    (taken from the device's pool on first use, so a VirtualDevice can be described without a GPU)."""

    def __init__(self, kind, index, physical=0, stream=None):
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"virtual devices are 'cpu' or 'cuda', got {kind!r}")
        self.kind, self.index = kind, int(index)
        self.is_cuda = kind == "cuda"  # attributes, not properties: read several times per rank and collective
        self.device = _C.device("cpu") if kind == "cpu" else _C.device("cuda", int(physical))
        self._name = f"cuda:{self.device.index}/v{self.index}" if self.is_cuda else f"cpu/v{self.index}"
        self._stream = stream

    @property
    def stream(self):
        """This device's own stream (None for CPU slots)."""
        if self.is_cuda and self._stream is None:
            from ...tensor_core import cuda
            self._stream = cuda.Stream(self.device)
        return self._stream

    def __enter__(self):
        """`with dev:` makes dev's stream current (CPU: nothing to do)."""
        self._ctx = contextlib.ExitStack()
        if self.is_cuda:
            from ...tensor_core import cuda
            self._ctx.enter_context(cuda.stream(self.stream))
        return self

    def __exit__(self, *exc):
        self._ctx.close()

    def __str__(self):
        return self._name

    def __repr__(self):
        return f"VirtualDevice({self})"


def virtual_devices(kind, n, physical=None):
    """`n` logical devices. kind 'cpu': n CPU slots. kind 'cuda': n devices on GPU `physical` (default 0),
    each with its own stream; `physical` may also be a list of GPU indices (device i goes on
    physical[i % len(physical)]), e.g. range(4) for one logical device per GPU."""
    if int(n) < 1:
        raise ValueError(f"virtual_devices: need at least one device, got {n}")
    if kind == "cpu":
        return [VirtualDevice("cpu", i) for i in range(n)]
    gpus = [0] if physical is None else ([physical] if isinstance(physical, int) else list(physical))
    return [VirtualDevice(kind, i, gpus[i % len(gpus)]) for i in range(n)]


def as_devices(devices):
    """Normalises a device list: VirtualDevices stay, 'cpu' / 'cuda:k' strings and vt.devices become one
    VirtualDevice each (numbered by position)."""
    out = []
    for i, d in enumerate(devices):
        if isinstance(d, VirtualDevice):
            out.append(d)
            continue
        d = d if isinstance(d, _C.device) else _C.device(d)
        out.append(VirtualDevice(d.type, i, d.index if d.index is not None else 0))
    if len({id(d) for d in out}) != len(out):
        raise ValueError("a device appears twice in the list; make one VirtualDevice per logical device")
    return out
