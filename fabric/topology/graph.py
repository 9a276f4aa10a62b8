"""The topology graph: its schema, builders and accessors.

A topology is a plain :class:`networkx.Graph`. Node ids are strings with a type prefix; every node
has a ``type`` attribute and every edge a ``role``:

====================  ==========================================================================
node type             attributes
====================  ==========================================================================
``gpu``  ("gpu3")     index (CUDA ordinal as the process sees it), name, uuid, pci_bus_id,
                      memory_bytes, sm_count, compute_capability (major, minor), numa_node,
                      cpu_affinity (CPU ids), pcie_gen, pcie_width, unified_addressing,
                      physical_index (NVML's index), gpu_numa_id, measured_d2d_gbps (probed)
``numa`` ("numa1")    numa_node, cpus
``nic``  ("nic0")     index, name (e.g. mlx5_0), pci_bus_id, numa_node
``nvswitch``          pci_bus_id (absent when inferred from ``topo -m`` text)
``pci_bridge``        pci_bus_id (a PCIe switch port or root port sysfs shows)
====================  ==========================================================================

=========  ==================================================================================
edge role  meaning and attributes
=========  ==================================================================================
``peer``   GPU <-> GPU path: kind (NV#/PIX/PXB/PHB/NODE/SYS), nvlinks, via_nvswitch,
           bandwidth_gbps (nominal, per direction), p2p_access, p2p_read, p2p_write,
           p2p_atomics (None = unknown), perf_rank, uva (both ends share one unified
           address space), and after a probe measured_uni_gbps,
           measured_bi_gbps, measured_latency_us, probe_flags
``path``   GPU <-> NIC path: kind
``attach`` device or bridge <-> the NUMA node it hangs off
``nvlink`` GPU <-> NVSwitch: nvlinks
``pcie``   device <-> upstream PCIe bridge, bridge <-> bridge
=========  ==================================================================================

Graph attributes: ``source`` (where it came from), ``host``, ``notes`` (what was missing and why).

>>> g = new_graph("example")
>>> add_numa(g, 0, (0, 1, 2, 3))
>>> add_gpu(g, 0, numa_node=0); add_gpu(g, 1, numa_node=0)
>>> add_peer(g, 0, 1, "NV4")
>>> gpus(g), link(g, 0, 1)["bandwidth_gbps"]
([0, 1], 100.0)
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from ... import config
from .errors import TopologyError
from .links import (
    HOST_STAGED_FACTOR, is_nvlink, nominal_bandwidth, normalize_kind, nvlink_count, within_p2p_level,
)

__all__ = [
    "new_graph", "note", "gpu_id", "numa_id", "nic_id", "add_gpu", "add_numa", "add_nic", "add_peer",
    "gpus", "gpu", "link", "peer_pairs", "numa_nodes", "nics", "p2p_usable", "link_bandwidth", "port",
]


def new_graph(source: str, host: str | None = None) -> nx.Graph:
    """An empty topology that remembers where it came from."""
    return nx.Graph(source=source, host=host, notes=[])


def note(g: nx.Graph, message: str) -> None:
    """Record why something is missing or assumed (shown by the CLI, kept in JSON)."""
    if message not in g.graph["notes"]:
        g.graph["notes"].append(message)


def gpu_id(index: int) -> str:
    return f"gpu{index}"


def numa_id(node: int) -> str:
    return f"numa{node}"


def nic_id(index: int) -> str:
    return f"nic{index}"


def add_numa(g: nx.Graph, node: int, cpus: tuple[int, ...] = ()) -> None:
    """Add (or widen the CPU set of) a NUMA node."""
    nid = numa_id(node)
    if nid in g:
        cpus = tuple(sorted(set(g.nodes[nid]["cpus"]) | set(cpus)))
    g.add_node(nid, type="numa", numa_node=node, cpus=tuple(cpus))


def _attach(g: nx.Graph, nid: str, numa_node: int | None) -> None:
    if numa_node is not None:
        if numa_id(numa_node) not in g:
            add_numa(g, numa_node)
        g.add_edge(nid, numa_id(numa_node), role="attach")


def add_gpu(g: nx.Graph, index: int, **attrs: Any) -> None:
    """Add GPU ``index`` (its CUDA ordinal) and attach it to its NUMA node when known."""
    attrs.setdefault("numa_node", None)
    attrs.setdefault("cpu_affinity", ())
    g.add_node(gpu_id(index), type="gpu", index=index, **attrs)
    _attach(g, gpu_id(index), attrs["numa_node"])


def add_nic(g: nx.Graph, index: int, name: str, **attrs: Any) -> None:
    """Add NIC ``index`` (e.g. ``mlx5_0``) and attach it to its NUMA node when known."""
    attrs.setdefault("numa_node", None)
    g.add_node(nic_id(index), type="nic", index=index, name=name, **attrs)
    _attach(g, nic_id(index), attrs["numa_node"])


def add_peer(g: nx.Graph, a: int, b: int, kind: str, **attrs: Any) -> None:
    """Add the path between GPUs ``a`` and ``b``; nominal bandwidth comes from the kind and the GPUs."""
    kind = normalize_kind(kind)
    if a == b:
        raise TopologyError(f"GPU {a} cannot be its own peer")
    ga, gb = gpu(g, a), gpu(g, b)
    attrs.setdefault("nvlinks", nvlink_count(kind))
    attrs.setdefault("via_nvswitch", False)
    for key in ("p2p_access", "p2p_read", "p2p_write", "p2p_atomics", "perf_rank", "uva"):
        attrs.setdefault(key, None)
    if "bandwidth_gbps" not in attrs:
        # A path is as fast as its slower end.
        attrs["bandwidth_gbps"] = min(
            nominal_bandwidth(kind, x.get("compute_capability"), x.get("pcie_gen"), x.get("pcie_width"))
            for x in (ga, gb))
    g.add_edge(gpu_id(a), gpu_id(b), role="peer", kind=kind, **attrs)


def gpus(g: nx.Graph) -> list[int]:
    """Indices of the GPUs in the graph, ascending.

    >>> g = new_graph("example"); add_gpu(g, 1); add_gpu(g, 0)
    >>> gpus(g)
    [0, 1]
    """
    return sorted(d["index"] for _, d in g.nodes(data=True) if d["type"] == "gpu")


def gpu(g: nx.Graph, index: int) -> dict[str, Any]:
    """Attributes of GPU ``index``; TopologyError naming the GPUs present when it is absent.

    >>> g = new_graph("example"); add_gpu(g, 0, numa_node=1)
    >>> gpu(g, 0)["numa_node"]
    1
    >>> gpu(g, 3)
    Traceback (most recent call last):
    ...
    vibetensor.fabric.topology.errors.TopologyError: no GPU 3 in the topology (GPUs: [0])
    """
    nid = gpu_id(index)
    if nid not in g:
        raise TopologyError(f"no GPU {index} in the topology (GPUs: {gpus(g) or 'none'})")
    return g.nodes[nid]


def link(g: nx.Graph, a: int, b: int) -> dict[str, Any]:
    """Attributes of the peer path between GPUs ``a`` and ``b`` (either order).

    >>> g = new_graph("example"); add_gpu(g, 0); add_gpu(g, 1); add_peer(g, 0, 1, "PXB")
    >>> link(g, 1, 0)["kind"], link(g, 1, 0)["p2p_access"]
    ('PXB', None)
    """
    gpu(g, a), gpu(g, b)
    data = g.get_edge_data(gpu_id(a), gpu_id(b))
    if data is None or data.get("role") != "peer":
        raise TopologyError(f"no link between GPU {a} and GPU {b}")
    return data


def peer_pairs(g: nx.Graph) -> list[tuple[int, int]]:
    """All (a, b) with a < b that have a peer path, sorted."""
    out = []
    for u, v, d in g.edges(data=True):
        if d["role"] == "peer":
            a, b = sorted((g.nodes[u]["index"], g.nodes[v]["index"]))
            out.append((a, b))
    return sorted(out)


def numa_nodes(g: nx.Graph) -> dict[int, tuple[int, ...]]:
    """NUMA node -> its CPUs.

    >>> g = new_graph("example"); add_numa(g, 1, (4, 5)); add_numa(g, 0, (0, 1))
    >>> numa_nodes(g)
    {0: (0, 1), 1: (4, 5)}
    """
    return {d["numa_node"]: d["cpus"] for _, d in sorted(g.nodes(data=True)) if d["type"] == "numa"}


def nics(g: nx.Graph) -> list[dict[str, Any]]:
    """NIC attributes, by index."""
    return sorted((d for _, d in g.nodes(data=True) if d["type"] == "nic"), key=lambda d: d["index"])


def p2p_usable(g: nx.Graph, a: int, b: int, level: str | None = None) -> bool:
    """Whether GPUs ``a`` and ``b`` can use peer access: the driver allows it (or did not say) and
    the path is NVLink or within the P2P level (``VIBETENSOR_P2P_LEVEL``, default PXB like NCCL).

    >>> g = new_graph("example"); add_gpu(g, 0); add_gpu(g, 1); add_peer(g, 0, 1, "SYS")
    >>> p2p_usable(g, 0, 1), p2p_usable(g, 0, 1, level="SYS")
    (False, True)
    """
    d = link(g, a, b)
    if d["p2p_access"] is False:
        return False
    if is_nvlink(d["kind"]):
        return True
    return within_p2p_level(d["kind"], level or config.get("VIBETENSOR_P2P_LEVEL", error=TopologyError))


def link_bandwidth(g: nx.Graph, a: int, b: int, level: str | None = None) -> float:
    """Per-direction GB/s a copy from ``a`` to ``b`` should get: the measured figure once probed,
    else the nominal one, halved when the copy must be staged through host memory.

    >>> g = new_graph("example"); add_gpu(g, 0); add_gpu(g, 1); add_peer(g, 0, 1, "PIX")
    >>> link_bandwidth(g, 0, 1), link_bandwidth(g, 0, 1, level="PIX")
    (31.5, 31.5)
    """
    d = link(g, a, b)
    if d.get("measured_uni_gbps"):
        return float(d["measured_uni_gbps"])
    bw = float(d["bandwidth_gbps"])
    return bw if p2p_usable(g, a, b, level) else bw * HOST_STAGED_FACTOR


def port(g: nx.Graph, a: int, b: int) -> str:
    """Which of ``a``'s ports carries its traffic to ``b``: ``"nvswitch"`` and ``"pcie"`` are shared
    by every peer reached through them; a direct NVLink is a port of its own, ``"nvlink->b"``.

    >>> g = new_graph("example"); add_gpu(g, 0); add_gpu(g, 1); add_gpu(g, 2)
    >>> add_peer(g, 0, 1, "NV4"); add_peer(g, 0, 2, "PIX")
    >>> port(g, 0, 1), port(g, 0, 2)
    ('nvlink->1', 'pcie')
    """
    d = link(g, a, b)
    if not is_nvlink(d["kind"]):
        return "pcie"
    return "nvswitch" if d["via_nvswitch"] else f"nvlink->{b}"
