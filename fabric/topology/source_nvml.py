"""Discovery source: NVML through nvidia-ml-py (``pynvml``), imported lazily.

NVML sees every GPU whatever CUDA_VISIBLE_DEVICES says, knows NVLink state and far ends, the PCIe
common ancestor of two GPUs and the P2P status the driver would grant. A query the GPU does not
support answers None rather than failing discovery.
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import SourceUnavailable
from .pci import normalize_bus_id
from .records import NvLinkEnd, NvmlDevice, NvmlP2P

__all__ = ["NvmlSource", "ANCESTOR_KIND", "P2P_STATUS"]

# nvmlGpuTopologyLevel_t -> the topo -m name (INTERNAL is two GPUs on one board: one bridge at most).
ANCESTOR_KIND = {0: "PIX", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}
# nvmlGpuP2PStatus_t -> `nvidia-smi topo -p2p` abbreviation; 0 is OK.
P2P_STATUS = {1: "CNS", 2: "GNS", 3: "TNS", 4: "DR", 5: "NS", 6: "U"}
# nvmlGpuP2PCapsIndex_t, from NVML's C header. Ours, not the binding's: nvidia-ml-py 13.x defines
# NVML_P2P_CAPS_INDEX_READ as the tuple (0,), which ctypes refuses (seen on the 2-GPU H100 machine).
P2P_CAPS_INDEX = {"read": 0, "write": 1, "nvlink": 2, "atomics": 3}


def _str(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class NvmlSource:
    """NVML queries keyed by normalised PCI bus id."""

    name = "NVML"

    def __init__(self) -> None:
        try:
            import pynvml
        except ImportError:
            raise SourceUnavailable("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from None
        self.nv = pynvml
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise SourceUnavailable(f"NVML cannot start: {exc}") from None
        self._handles: dict[str, Any] = {}

    def _try(self, fn: Callable, *args: Any) -> Any:
        try:
            return fn(*args)
        except self.nv.NVMLError:
            return None

    def _handle(self, bus: str) -> Any:
        if bus not in self._handles:
            self._handles[bus] = self.nv.nvmlDeviceGetHandleByPciBusId(bus.encode())
        return self._handles[bus]

    def devices(self) -> list[NvmlDevice]:
        nv, out = self.nv, []
        for i in range(nv.nvmlDeviceGetCount()):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            bus = normalize_bus_id(_str(nv.nvmlDeviceGetPciInfo(h).busId))
            self._handles[bus] = h
            mem = self._try(nv.nvmlDeviceGetMemoryInfo, h)
            cc = self._try(nv.nvmlDeviceGetCudaComputeCapability, h)
            numa = self._try(nv.nvmlDeviceGetNumaNodeId, h)
            out.append(NvmlDevice(
                physical_index=i,
                name=_str(nv.nvmlDeviceGetName(h)),
                uuid=_str(nv.nvmlDeviceGetUUID(h)),
                pci_bus_id=bus,
                memory_bytes=int(mem.total) if mem is not None else None,
                compute_capability=tuple(cc) if cc else None,
                numa_node=numa if isinstance(numa, int) and numa >= 0 else None,
                cpu_affinity=self._cpu_affinity(h),
                pcie_gen=self._try(nv.nvmlDeviceGetMaxPcieLinkGeneration, h),
                pcie_width=self._try(nv.nvmlDeviceGetMaxPcieLinkWidth, h),
            ))
        return out

    def _cpu_affinity(self, h: Any) -> tuple[int, ...]:
        words = 64  # room for 4096 CPUs, 64 per mask word
        masks = self._try(self.nv.nvmlDeviceGetCpuAffinity, h, words)
        if masks is None:
            return ()
        return tuple(w * 64 + bit for w, mask in enumerate(masks) for bit in range(64) if int(mask) >> bit & 1)

    def p2p(self, bus_a: str, bus_b: str) -> NvmlP2P:
        nv = self.nv
        ha, hb = self._handle(bus_a), self._handle(bus_b)
        status = {}
        for key, index in P2P_CAPS_INDEX.items():
            status[key] = self._try(nv.nvmlDeviceGetP2PStatus, ha, hb, index)
        refusals = [P2P_STATUS.get(s, "U") for s in status.values() if s not in (None, 0)]
        return NvmlP2P(**{k: (None if s is None else s == 0) for k, s in status.items()},
                       blocked_by=refusals[0] if refusals else None)

    def common_ancestor(self, bus_a: str, bus_b: str) -> str | None:
        level = self._try(self.nv.nvmlDeviceGetTopologyCommonAncestor, self._handle(bus_a), self._handle(bus_b))
        return ANCESTOR_KIND.get(level) if level is not None else None

    def nvlinks(self, bus: str) -> list[NvLinkEnd]:
        nv, h, out = self.nv, self._handle(bus), []
        kinds = {nv.NVML_NVLINK_DEVICE_TYPE_GPU: "gpu", nv.NVML_NVLINK_DEVICE_TYPE_SWITCH: "switch"}
        for link in range(nv.NVML_NVLINK_MAX_LINKS):
            if self._try(nv.nvmlDeviceGetNvLinkState, h, link) != nv.NVML_FEATURE_ENABLED:
                continue
            remote = self._try(nv.nvmlDeviceGetNvLinkRemotePciInfo, h, link)
            if remote is None:
                continue
            rtype = self._try(nv.nvmlDeviceGetNvLinkRemoteDeviceType, h, link)
            out.append(NvLinkEnd(normalize_bus_id(_str(remote.busId)), kinds.get(rtype, "other")))
        return out
