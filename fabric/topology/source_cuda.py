"""Discovery source: the CUDA runtime through cuda-python (``cuda.bindings.runtime``), imported lazily.

Without cuda-python, a driver or a device, :class:`CudaRuntimeSource` raises SourceUnavailable
saying which; :func:`cuda_device_count` never raises and answers 0.
"""

from __future__ import annotations

from typing import Any

from .errors import SourceUnavailable
from .pci import normalize_bus_id
from .records import CudaDevice, CudaPeer

__all__ = ["cuda_device_count", "CudaRuntimeSource", "load_runtime", "check"]


def load_runtime() -> Any:
    """The ``cuda.bindings.runtime`` module, or SourceUnavailable when cuda-python is missing."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        raise SourceUnavailable("cuda-python is not installed (pip install cuda-python)") from None
    return runtime


def check(rt: Any, result: tuple, what: str, error: type[Exception] = SourceUnavailable) -> Any:
    """Unpack a cuda-python ``(err, value...)`` tuple; raise ``error`` naming the call on failure."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != rt.cudaError_t.cudaSuccess:
        _, text = rt.cudaGetErrorString(err)
        raise error(f"{what} failed: {getattr(err, 'name', err)} ({text.decode(errors='replace')})")
    return values[0] if len(values) == 1 else tuple(values)


def cuda_device_count() -> int:
    """Number of CUDA devices this process sees; 0 when there is no cuda-python, driver or device.

    >>> isinstance(cuda_device_count(), int)
    True
    """
    try:
        rt = load_runtime()
        err, count = rt.cudaGetDeviceCount()
    except (SourceUnavailable, RuntimeError):
        # cuda-python raises DynamicLibNotFoundError (a RuntimeError) for some calls without libcuda.
        return 0
    return count if err == rt.cudaError_t.cudaSuccess else 0


def _driver_loads() -> bool:
    try:
        from cuda.bindings import driver

        driver.cuDriverGetVersion()
    except (ImportError, RuntimeError):
        return False
    return True


def _uuid(raw: bytes) -> str | None:
    if not raw or not any(raw):
        return None
    h = bytes(raw[:16]).hex()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class CudaRuntimeSource:
    """Device properties and P2P attributes from the CUDA runtime (honours CUDA_VISIBLE_DEVICES)."""

    name = "CUDA"

    def __init__(self, runtime: Any = None) -> None:
        # ``runtime`` stands in for cuda.bindings.runtime (tests pass a simulated one).
        self.rt = rt = load_runtime() if runtime is None else runtime
        try:
            err, count = rt.cudaGetDeviceCount()
        except RuntimeError as exc:
            raise SourceUnavailable(f"no CUDA driver: {exc}") from None
        if err == rt.cudaError_t.cudaErrorInsufficientDriver and not _driver_loads():
            # The runtime says "insufficient driver" also when there is no driver at all; say which.
            raise SourceUnavailable("no NVIDIA driver (libcuda.so.1 not found)")
        self.count = check(rt, (err, count), "cudaGetDeviceCount")

    def devices(self) -> list[CudaDevice]:
        rt, out = self.rt, []
        for i in range(self.count):
            p = check(rt, rt.cudaGetDeviceProperties(i), f"cudaGetDeviceProperties({i})")
            bus = check(rt, rt.cudaDeviceGetPCIBusId(32, i), f"cudaDeviceGetPCIBusId({i})")
            host_numa = getattr(p, "hostNumaId", -1)
            out.append(CudaDevice(
                ordinal=i,
                name=p.name.decode(errors="replace").rstrip("\x00") if isinstance(p.name, bytes) else str(p.name),
                pci_bus_id=normalize_bus_id(bus),
                memory_bytes=int(p.totalGlobalMem),
                sm_count=int(p.multiProcessorCount),
                compute_capability=(int(p.major), int(p.minor)),
                uuid=_uuid(p.uuid.bytes),
                unified_addressing=bool(p.unifiedAddressing),
                host_numa_node=host_numa if isinstance(host_numa, int) and host_numa >= 0 else None,
            ))
        return out

    def peer(self, a: int, b: int) -> CudaPeer:
        rt = self.rt
        attr = rt.cudaDeviceP2PAttr

        def get(which: Any) -> int:
            return int(check(rt, rt.cudaDeviceGetP2PAttribute(which, a, b), f"cudaDeviceGetP2PAttribute({a}, {b})"))

        access = bool(check(rt, rt.cudaDeviceCanAccessPeer(a, b), f"cudaDeviceCanAccessPeer({a}, {b})"))
        return CudaPeer(
            access=access,
            native_atomics=bool(get(attr.cudaDevP2PAttrNativeAtomicSupported)) if access else False,
            perf_rank=get(attr.cudaDevP2PAttrPerformanceRank) if access else None,
        )
