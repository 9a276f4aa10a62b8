"""Tensors as MPI buffers: host staging, the reduction element type, and whether the MPI is CUDA-aware.

CPU tensors (and numpy arrays) go to MPI as numpy views of their own memory when contiguous (shm_data.Operand:
zero-copy through DLPack). CUDA tensors are copied to host and back when the MPI cannot read device memory, which
is what we assume unless the library says otherwise. bfloat16 and float16 reduce in float32 and are rounded once at
the end with shm_data's conversions, so MpiGroup and ShmGroup round alike.
"""
import ctypes
import functools

import numpy as np

from .api import CollectiveError, ReduceOp
from .shm_data import Operand


class Staged(Operand):
    """A collective's tensor argument in host memory; commit() writes results back to the tensor (and to the
    device, for a CUDA tensor staged through host)."""

    def __init__(self, tensor, collective, load=True):
        self.device_tensor = None
        device = getattr(tensor, "device", None)
        if device is not None and getattr(device, "type", "cpu") != "cpu" and not isinstance(tensor, np.ndarray):
            self.device_tensor = tensor
            tensor = tensor.cpu() if load else _host_empty(tensor)
        super().__init__(tensor, collective, load)
        self.host_tensor = tensor

    def commit(self):
        super().commit()
        if self.device_tensor is not None:
            self.device_tensor.copy_(self.host_tensor)

    def bytes(self):
        """The elements as raw bytes: what moves unchanged (gather, broadcast, all_to_all, send/recv)."""
        return self.flat.view(np.uint8)

    def reduction_input(self):
        """The elements in the reduction type: the tensor's own memory unless they need widening (halves)."""
        if not self.half:
            return self.flat
        wire = np.empty(self.numel, np.float32)
        self.to_wire(self.flat, wire)
        return wire

    def finish_reduction(self, wire, avg_n, dst=None):
        """Averages (divides by avg_n when set) and writes reduced `wire` elements to dst (default: our own)."""
        dst = self.flat if dst is None else dst
        if avg_n:
            np.divide(wire, avg_n, out=wire)
        if wire is not dst:
            self.from_wire(wire, dst)


def _host_empty(t):
    from ...tensor_core import factories
    return factories.empty_like(t, device="cpu")


def mpi_op(MPI, op, dtype):
    """The MPI reduction for a ReduceOp on elements of numpy `dtype` (booleans: logical, as numpy's add/max/min)."""
    op = ReduceOp.of(op)
    if dtype == np.bool_:
        return MPI.LAND if op is ReduceOp.MIN else MPI.LOR
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX, ReduceOp.MIN: MPI.MIN}[op]


@functools.lru_cache(maxsize=None)
def cuda_support():
    """Whether the loaded MPI library reads CUDA device memory: MPIX_Query_cuda_support (Open MPI, MPICH) asked
    at run time, as the library may be built with CUDA but run without it. False when the library cannot say."""
    for path in _loaded_mpi_libraries():
        try:
            lib = ctypes.CDLL(path)  # already mapped: dlopen returns the same handle
        except OSError:
            continue
        query = getattr(lib, "MPIX_Query_cuda_support", None)
        if query is not None:
            query.restype, query.argtypes = ctypes.c_int, []
            return bool(query())
    return False


def _loaded_mpi_libraries():
    from mpi4py import MPI  # noqa: F401 - the library is mapped once MPI is imported
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/libmpi" in line}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/") and ".so" in p)


def check_bytes(collective, got, want, src):
    if got != want:
        raise CollectiveError(f"{collective}: rank {src} sent {got} bytes but the receiving tensor holds {want}")
