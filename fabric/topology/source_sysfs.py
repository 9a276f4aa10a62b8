"""Discovery source: Linux sysfs (NUMA nodes and their CPUs, PCI devices, their ancestry and locality).

``root`` defaults to ``/sys``; tests point it at a small tree built in a temporary folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .cpulist import parse_cpulist
from .errors import SourceUnavailable
from .pci import normalize_bus_id
from .records import PciDevice

__all__ = ["SysfsSource"]

_PCI_NAME = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_HOST_BRIDGE = re.compile(r"^pci[0-9a-f]{4}:[0-9a-f]{2}$")
_NVIDIA = "0x10de"
_GPU_CLASSES = ("0x0300", "0x0302")  # VGA and 3D controllers


class SysfsSource:
    """Reads ``/sys/devices/system/node``, ``/sys/bus/pci/devices`` and ``/sys/class/infiniband``."""

    name = "sysfs"

    def __init__(self, root: str | os.PathLike = "/sys") -> None:
        self.root = Path(root)
        if not (self.root / "devices").is_dir():
            raise SourceUnavailable(f"no sysfs at {self.root}")

    def _read(self, path: Path) -> str | None:
        try:
            return path.read_text().strip()
        except OSError:
            return None

    def numa_nodes(self) -> dict[int, tuple[int, ...]]:
        """NUMA node -> CPUs; a kernel without NUMA shows as node 0 holding the online CPUs."""
        base = self.root / "devices/system/node"
        nodes = {}
        for entry in sorted(base.glob("node[0-9]*")) if base.is_dir() else ():
            text = self._read(entry / "cpulist")
            if text is not None:
                nodes[int(entry.name[4:])] = parse_cpulist(text)
        if not nodes:
            online = self._read(self.root / "devices/system/cpu/online")
            if online is not None:
                nodes[0] = parse_cpulist(online)
        return nodes

    def pci_device(self, bus_id: str) -> PciDevice | None:
        """The device at ``bus_id``, or None when sysfs does not show it."""
        link = self.root / "bus/pci/devices" / normalize_bus_id(bus_id)
        if not link.exists():
            return None
        real = link.resolve()
        ancestors = tuple(p for p in real.parts if _PCI_NAME.match(p) or _HOST_BRIDGE.match(p))
        numa = self._read(real / "numa_node")
        cpus = self._read(real / "local_cpulist")
        return PciDevice(
            bus_id=normalize_bus_id(bus_id),
            # The kernel writes -1 when the platform does not say (single-node machines, most VMs).
            numa_node=int(numa) if numa is not None and numa.lstrip("-").isdigit() and int(numa) >= 0 else None,
            local_cpus=parse_cpulist(cpus) if cpus else (),
            ancestors=ancestors,
        )

    def nvidia_gpus(self) -> list[str]:
        """Bus ids of NVIDIA display/3D controllers, whether or not a driver claims them."""
        out = []
        for dev in sorted((self.root / "bus/pci/devices").glob("*")):
            if self._read(dev / "vendor") == _NVIDIA and (self._read(dev / "class") or "")[:6] in _GPU_CLASSES:
                out.append(normalize_bus_id(dev.name))
        return out

    def nics(self) -> list[tuple[str, str]]:
        """(name, bus id) of RDMA NICs, the ones `nvidia-smi topo -m` lists (mlx5_0, ...)."""
        out = []
        for dev in sorted((self.root / "class/infiniband").glob("*")):
            target = (dev / "device").resolve()
            if _PCI_NAME.match(target.name):
                out.append((dev.name, normalize_bus_id(target.name)))
        return out
