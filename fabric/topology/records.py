"""What each discovery source answers, as plain records, and the interface a source offers.

Discovery only talks to sources through these methods, so tests hand :func:`discover` fake sources
built from the same records (see tests/topology/topo_fakes.py) and every merge rule is checked
without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "CudaDevice", "CudaPeer", "NvmlDevice", "NvmlP2P", "NvLinkEnd", "PciDevice",
    "CudaSourceLike", "NvmlSourceLike", "SysfsSourceLike",
]


@dataclass(frozen=True)
class CudaDevice:
    """One device as the CUDA runtime shows it: ``ordinal`` already honours CUDA_VISIBLE_DEVICES."""

    ordinal: int
    name: str
    pci_bus_id: str
    memory_bytes: int
    sm_count: int
    compute_capability: tuple[int, int]
    uuid: str | None = None
    unified_addressing: bool = True
    host_numa_node: int | None = None


@dataclass(frozen=True)
class CudaPeer:
    """CUDA's P2P attributes from one device to another (cudaDeviceGetP2PAttribute)."""

    access: bool
    native_atomics: bool = False
    perf_rank: int | None = None


@dataclass(frozen=True)
class NvmlDevice:
    """One physical GPU as NVML shows it (NVML ignores CUDA_VISIBLE_DEVICES)."""

    physical_index: int
    name: str
    uuid: str
    pci_bus_id: str
    memory_bytes: int | None = None
    compute_capability: tuple[int, int] | None = None
    numa_node: int | None = None
    cpu_affinity: tuple[int, ...] = ()
    pcie_gen: int | None = None
    pcie_width: int | None = None


@dataclass(frozen=True)
class NvmlP2P:
    """NVML's P2P status between two GPUs: True when the capability is OK; ``blocked_by`` gives the
    first refusal as `nvidia-smi topo -p2p` abbreviates it (CNS, GNS, TNS, DR, NS, U)."""

    read: bool | None = None
    write: bool | None = None
    atomics: bool | None = None
    nvlink: bool | None = None
    blocked_by: str | None = None


@dataclass(frozen=True)
class NvLinkEnd:
    """The far end of one active NVLink: another GPU, an NVSwitch, or something else."""

    remote_bus_id: str
    remote_type: str  # "gpu", "switch" or "other"


@dataclass(frozen=True)
class PciDevice:
    """A PCI device as sysfs shows it; ``ancestors`` runs from the host bridge down to the device."""

    bus_id: str
    numa_node: int | None = None
    local_cpus: tuple[int, ...] = ()
    ancestors: tuple[str, ...] = field(default_factory=tuple)


class CudaSourceLike(Protocol):
    name: str

    def devices(self) -> list[CudaDevice]: ...
    def peer(self, a: int, b: int) -> CudaPeer: ...


class NvmlSourceLike(Protocol):
    name: str

    def devices(self) -> list[NvmlDevice]: ...
    def p2p(self, bus_a: str, bus_b: str) -> NvmlP2P: ...
    def common_ancestor(self, bus_a: str, bus_b: str) -> str | None: ...
    def nvlinks(self, bus: str) -> list[NvLinkEnd]: ...


class SysfsSourceLike(Protocol):
    name: str

    def numa_nodes(self) -> dict[int, tuple[int, ...]]: ...
    def pci_device(self, bus_id: str) -> PciDevice | None: ...
    def nvidia_gpus(self) -> list[str]: ...
    def nics(self) -> list[tuple[str, str]]: ...
