"""Discovery: this machine as a topology graph, merged from the CUDA runtime, NVML and sysfs.

Sources are matched by PCI bus id. The CUDA runtime decides which GPUs the process sees and their
numbers (it applies CUDA_VISIBLE_DEVICES); NVML adds NVLink and P2P status; sysfs adds NUMA nodes,
CPU locality, the PCIe tree and NICs. Any source may be missing: the graph then holds what the
others know, and ``g.graph["notes"]`` says what is missing and why.

Each ``cuda`` / ``nvml`` / ``sysfs`` argument is ``None`` (open the real source), an object with the
source's methods (see records.py), or a :class:`SourceUnavailable` (treat the source as absent).
"""

from __future__ import annotations

import os
import socket
from typing import Any, Callable, Mapping

import networkx as nx

from ... import config
from .errors import SourceUnavailable, TopologyError
from .graph import add_gpu, add_nic, add_numa, add_peer, gpu_id, gpus, new_graph, nic_id, note, numa_id
from .pci import pcie_kind
from .records import CudaSourceLike, NvmlDevice, NvmlSourceLike, PciDevice, SysfsSourceLike
from .serialize import load
from .visible import visible_devices

__all__ = ["discover"]


def _open(given: Any, factory: Callable[[], Any], label: str, g: nx.Graph) -> Any:
    if isinstance(given, SourceUnavailable):
        note(g, f"{label} unavailable: {given}")
        return None
    if given is not None:
        return given
    try:
        return factory()
    except SourceUnavailable as exc:
        note(g, f"{label} unavailable: {exc}")
        return None


def _default_cuda() -> CudaSourceLike:
    from .source_cuda import CudaRuntimeSource
    return CudaRuntimeSource()


def _default_nvml() -> NvmlSourceLike:
    from .source_nvml import NvmlSource
    return NvmlSource()


def _default_sysfs() -> SysfsSourceLike:
    from .source_sysfs import SysfsSource
    return SysfsSource()


def discover(cuda: Any = None, nvml: Any = None, sysfs: Any = None,
             environ: Mapping[str, str] | None = None) -> nx.Graph:
    """The topology of this machine as this process sees it.

    With ``VIBETENSOR_TOPO_FILE`` set (and no source passed in) the graph is loaded from that file
    instead, so a CPU-only machine can stand in for a GPU box.

    >>> g = discover(cuda=SourceUnavailable("no driver"), nvml=SourceUnavailable("no NVML"), environ={})
    >>> gpus(g), g.graph["notes"][:2]
    ([], ['CUDA unavailable: no driver', 'NVML unavailable: no NVML'])
    """
    env = os.environ if environ is None else environ
    topo_file = config.get("VIBETENSOR_TOPO_FILE", env, error=TopologyError)
    if topo_file and cuda is nvml is sysfs is None:
        g = load(topo_file)
        note(g, f"described by VIBETENSOR_TOPO_FILE={topo_file}, not discovered")
        return g
    g = new_graph("discovery", host=socket.gethostname())
    fs = _open(sysfs, _default_sysfs, "sysfs", g)
    cu = _open(cuda, _default_cuda, "CUDA", g)
    nv = _open(nvml, _default_nvml, "NVML", g)
    numa = fs.numa_nodes() if fs else {}
    for node, cpus in numa.items():
        add_numa(g, node, cpus)

    nvml_devices = nv.devices() if nv else []
    by_bus = {d.pci_bus_id: d for d in nvml_devices}
    if cu:
        visible = [(d, by_bus.get(d.pci_bus_id)) for d in cu.devices()]
        for d, n in visible:
            if nv and n is None:
                note(g, f"NVML does not list GPU {d.ordinal} ({d.pci_bus_id}); its NVLinks are unknown")
    elif nv:
        chosen, why = visible_devices(env.get("CUDA_VISIBLE_DEVICES"), [d.uuid for d in nvml_devices])
        visible = [(None, nvml_devices[i]) for i in chosen]
        note(g, "GPU numbers follow NVML's PCI order with CUDA_VISIBLE_DEVICES applied (CUDA would say for sure)")
        if why:
            note(g, why)
    else:
        visible = []
    if not visible:
        note(g, f"no GPUs: {_why_no_gpus(env, cu, nvml_devices, fs)}")

    pci: dict[str, PciDevice | None] = {}
    for index, (c, n) in enumerate(visible):
        bus = (c or n).pci_bus_id
        pci[bus] = fs.pci_device(bus) if fs else None
        add_gpu(g, index, **_gpu_attrs(c, n, pci[bus], numa))
    nvlinks: dict[str, list] = {}  # bus id -> NVML's active links, asked once per GPU
    _add_links(g, visible, cu, nv, pci, nvlinks)
    if nv:
        _add_nvswitches(g, visible, nv, nvlinks)
    if fs:
        _add_nics(g, fs, pci)
        _add_pcie_tree(g, pci)
    return g


def _why_no_gpus(env: Mapping[str, str], cu: Any, nvml_devices: list, fs: Any) -> str:
    hidden = env.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and (cu or nvml_devices):
        seen = f"the {len(nvml_devices)} GPU(s) NVML sees" if nvml_devices else "every device"
        return f"CUDA_VISIBLE_DEVICES={hidden!r} hides {seen}"
    if cu:
        return "the CUDA runtime reports no device"
    stranded = fs.nvidia_gpus() if fs else []
    if stranded:
        return f"sysfs shows {len(stranded)} NVIDIA GPU(s) that no usable driver exposes"
    return "neither CUDA nor NVML reports a GPU"


def _gpu_attrs(c: Any, n: NvmlDevice | None, p: PciDevice | None, numa: dict) -> dict:
    numa_node = next((x for x in (c and c.host_numa_node, n and n.numa_node, p and p.numa_node)
                      if isinstance(x, int)), None)
    if numa_node is None and len(numa) == 1:
        # sysfs says -1 on single-node machines: the only node is the local one.
        numa_node = next(iter(numa))
    cpus = (p.local_cpus if p else ()) or (n.cpu_affinity if n else ()) or numa.get(numa_node, ())
    src = c or n
    attrs = dict(name=src.name, uuid=src.uuid, pci_bus_id=src.pci_bus_id, memory_bytes=src.memory_bytes,
                 compute_capability=src.compute_capability or (n and n.compute_capability),
                 numa_node=numa_node, cpu_affinity=tuple(cpus))
    if c:
        attrs.update(sm_count=c.sm_count, unified_addressing=c.unified_addressing)
    if n:
        attrs.update(physical_index=n.physical_index, pcie_gen=n.pcie_gen, pcie_width=n.pcie_width)
    return {k: v for k, v in attrs.items() if v is not None}


def _nvlink_kind(nv: NvmlSourceLike, bus_a: str, bus_b: str, links: dict) -> tuple[str | None, bool]:
    for bus in (bus_a, bus_b):
        if bus not in links:
            links[bus] = nv.nvlinks(bus)
    direct = sum(1 for end in links[bus_a] if end.remote_type == "gpu" and end.remote_bus_id == bus_b)
    if direct:
        return f"NV{direct}", False
    # All NVSwitches of a node are one fabric, so two GPUs share as many links as the smaller side has.
    shared = min(sum(1 for e in links[b] if e.remote_type == "switch") for b in (bus_a, bus_b))
    return (f"NV{shared}", True) if shared else (None, False)


def _add_links(g: nx.Graph, visible: list, cu: Any, nv: Any, pci: dict, links: dict) -> None:
    for a in range(len(visible)):
        for b in range(a + 1, len(visible)):
            bus_a, bus_b = ((c or n).pci_bus_id for c, n in (visible[a], visible[b]))
            both_nvml = visible[a][1] is not None and visible[b][1] is not None
            kind, via_switch = _nvlink_kind(nv, bus_a, bus_b, links) if nv and both_nvml else (None, False)
            if kind is None and nv and both_nvml:
                kind = nv.common_ancestor(bus_a, bus_b)
            if kind is None and pci.get(bus_a) and pci.get(bus_b):
                same = g.nodes[gpu_id(a)]["numa_node"] == g.nodes[gpu_id(b)]["numa_node"]
                kind = pcie_kind(pci[bus_a].ancestors, pci[bus_b].ancestors, same)
            if kind is None:
                kind = "SYS"
                note(g, f"path between GPU {a} and GPU {b} unknown (no NVML, no sysfs): assumed SYS, the slowest")
            attrs: dict[str, Any] = {"via_nvswitch": via_switch}
            if cu:
                there, back = cu.peer(a, b), cu.peer(b, a)
                attrs["uva"] = bool(visible[a][0].unified_addressing and visible[b][0].unified_addressing)
                attrs.update(p2p_access=there.access and back.access,
                             p2p_atomics=there.native_atomics and back.native_atomics,
                             perf_rank=max((r for r in (there.perf_rank, back.perf_rank) if r is not None), default=None))
            if nv and both_nvml:
                st = nv.p2p(bus_a, bus_b)
                attrs.update(p2p_read=st.read, p2p_write=st.write, p2p_blocked_by=st.blocked_by)
                if not cu:
                    attrs["p2p_access"] = None if st.read is None else bool(st.read and st.write)
                    attrs["p2p_atomics"] = st.atomics
            add_peer(g, a, b, kind, **attrs)


def _add_nvswitches(g: nx.Graph, visible: list, nv: NvmlSourceLike, links: dict) -> None:
    switches: dict[str, str] = {}
    for index, (c, n) in enumerate(visible):
        if n is None:
            continue
        counts: dict[str, int] = {}
        if n.pci_bus_id not in links:
            links[n.pci_bus_id] = nv.nvlinks(n.pci_bus_id)
        for end in links[n.pci_bus_id]:
            if end.remote_type == "switch":
                counts[end.remote_bus_id] = counts.get(end.remote_bus_id, 0) + 1
        for bus, count in sorted(counts.items()):
            sid = switches.setdefault(bus, f"nvswitch{len(switches)}")
            g.add_node(sid, type="nvswitch", pci_bus_id=bus)
            g.add_edge(gpu_id(index), sid, role="nvlink", nvlinks=count)


def _add_nics(g: nx.Graph, fs: SysfsSourceLike, pci: dict) -> None:
    nic_pci = {}
    for k, (name, bus) in enumerate(fs.nics()):
        dev = fs.pci_device(bus)
        nic_pci[nic_id(k)] = dev
        pci[bus] = dev
        add_nic(g, k, name, pci_bus_id=bus, numa_node=dev.numa_node if dev else None)
    devices = [(gpu_id(i), pci.get(g.nodes[gpu_id(i)]["pci_bus_id"])) for i in gpus(g)] + list(nic_pci.items())
    for i, (u, pu) in enumerate(devices):
        for v, pv in devices[i + 1:]:
            if g.nodes[u]["type"] == "gpu" and g.nodes[v]["type"] == "gpu" or not (pu and pv):
                continue
            nu, nv_ = g.nodes[u]["numa_node"], g.nodes[v]["numa_node"]
            same = nu is not None and nu == nv_
            g.add_edge(u, v, role="path", kind=pcie_kind(pu.ancestors, pv.ancestors, same))


def _add_pcie_tree(g: nx.Graph, pci: dict) -> None:
    owner = {d["pci_bus_id"]: n for n, d in g.nodes(data=True) if d["type"] in ("gpu", "nic") and d.get("pci_bus_id")}
    for bus, dev in pci.items():
        if dev is None or bus not in owner or len(dev.ancestors) < 2:
            continue
        # ancestors[0] is the host bridge; the bridges between it and the device become nodes.
        chain = [f"pci:{b}" for b in dev.ancestors[1:-1]]
        for bridge, bus_id in zip(chain, dev.ancestors[1:-1]):
            g.add_node(bridge, type="pci_bridge", pci_bus_id=bus_id)
        path = chain + [owner[bus]]
        for up, down in zip(path, path[1:]):
            g.add_edge(up, down, role="pcie")
        numa = g.nodes[owner[bus]]["numa_node"]
        if chain and numa is not None:
            g.add_edge(chain[0], numa_id(numa), role="attach")
