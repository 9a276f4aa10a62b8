"""PCI bus ids and what a PCIe path between two devices is called.

CUDA writes bus ids as ``0000:18:00.0``, NVML as ``00000000:18:00.0``, sysfs as ``0000:18:00.0``;
:func:`normalize_bus_id` gives one spelling so the sources can be matched.
"""

from __future__ import annotations

import re
from typing import Sequence

__all__ = ["normalize_bus_id", "pcie_kind"]

_BUS_ID = re.compile(r"^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$")


def normalize_bus_id(text: str | bytes) -> str:
    """Canonical ``dddd:bb:dd.f`` (lower case, 4-digit domain), or ValueError.

    >>> normalize_bus_id("00000000:18:00.0"), normalize_bus_id(b"0000:B3:00.0\\x00\\x07"), normalize_bus_id("3b:00.0")
    ('0000:18:00.0', '0000:b3:00.0', '0000:3b:00.0')
    """
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    # C APIs hand back fixed-size buffers: the id ends at the first NUL.
    m = _BUS_ID.match(text.split("\x00", 1)[0].strip())
    if not m:
        raise ValueError(f"not a PCI bus id: {text!r}")
    domain, bus, dev, fn = m.groups()
    return f"{int(domain or '0', 16):04x}:{int(bus, 16):02x}:{int(dev, 16):02x}.{fn}"


def pcie_kind(path_a: Sequence[str], path_b: Sequence[str], same_numa: bool | None) -> str:
    """`nvidia-smi topo -m` kind of the PCIe path between two devices, from their sysfs ancestry.

    A path is the list of ancestors from the host bridge down to the device itself, e.g.
    ``["pci0000:16", "0000:16:01.0", "0000:17:00.0", "0000:18:00.0", "0000:19:00.0"]`` (host bridge,
    root port, switch upstream port, switch downstream port, GPU). Devices under different host
    bridges are NODE (same NUMA node) or SYS; under one host bridge but different root ports PHB;
    below a common bridge, PIX when each sits at most two levels under it (the two ports of one
    PCIe switch) and PXB when the path crosses more bridges.

    >>> hb = ["pci0000:16", "0000:16:01.0", "0000:17:00.0"]
    >>> pcie_kind(hb + ["0000:18:00.0", "0000:19:00.0"], hb + ["0000:18:04.0", "0000:1a:00.0"], True)
    'PIX'
    >>> pcie_kind(["pci0000:16", "0000:16:01.0", "0000:17:00.0"], ["pci0000:16", "0000:16:02.0", "0000:20:00.0"], True)
    'PHB'
    >>> pcie_kind(["pci0000:16", "0000:16:01.0", "0000:17:00.0"], ["pci0000:97", "0000:97:01.0", "0000:98:00.0"], False)
    'SYS'
    """
    if not path_a or not path_b or path_a[0] != path_b[0]:
        return "NODE" if same_numa else "SYS"
    common = 0
    while common < min(len(path_a), len(path_b)) and path_a[common] == path_b[common]:
        common += 1
    if common == 1:
        return "PHB"
    below = max(len(path_a), len(path_b)) - common
    return "PIX" if below <= 2 else "PXB"
