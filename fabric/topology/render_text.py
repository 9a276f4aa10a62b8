"""The text report ``vibetensor-topo`` prints: link matrix, bandwidths, GPUs, islands, rings, tree,
all-reduce choice, affinity, probe results and notes. Each section is its own function.
"""

from __future__ import annotations

import networkx as nx

from ... import config
from .affinity import affinities
from .cost import choose_algorithm, crossover_bytes
from .cpulist import format_cpulist
from .errors import TopologyError
from .graph import gpu, gpus, link, numa_nodes
from .plan_groups import cliques, islands
from .plan_ring import plan_ring
from .plan_tree import plan_tree
from .probe import ProbeReport
from .smi_text import format_topo_matrix

__all__ = ["render_report", "render_probe", "format_bytes", "format_seconds", "REPORT_SIZES"]

REPORT_SIZES = (4 << 10, 256 << 10, 4 << 20, 64 << 20, 1 << 30)


def format_bytes(n: int) -> str:
    """
    >>> format_bytes(4096), format_bytes(822858), format_bytes(1 << 30)
    ('4 KiB', '803.6 KiB', '1 GiB')
    """
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B"


def format_seconds(s: float) -> str:
    """
    >>> format_seconds(7.5e-6), format_seconds(0.00523)
    ('7.5 us', '5.23 ms')
    """
    return f"{s * 1e6:.3g} us" if s < 1e-3 else f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def _header(g: nx.Graph) -> list[str]:
    where = f" on host {g.graph['host']!r}" if g.graph.get("host") else ""
    n, m = len(gpus(g)), len(numa_nodes(g))
    count = f"{n} GPU{'s' if n != 1 else ''}" if n else "no GPUs"
    return [f"Topology from {g.graph.get('source', '?')}{where}: {count}, {m} NUMA node{'s' if m != 1 else ''}"]


def _bandwidth_table(g: nx.Graph) -> list[str]:
    ids = gpus(g)
    probed = any(link(g, a, b).get("measured_uni_gbps") for a in ids for b in ids if a < b)
    title = "Bandwidth per direction, GB/s (nominal" + ("; * = measured by --probe" if probed else "") + "):"
    rows = [title, (" " * 8 + "".join(f"GPU{b}".ljust(9) for b in ids)).rstrip()]
    for a in ids:
        cells = []
        for b in ids:
            if a == b:
                cells.append("-")
                continue
            d = link(g, a, b)
            cells.append(f"{d['measured_uni_gbps']:g}*" if d.get("measured_uni_gbps") else f"{d['bandwidth_gbps']:g}")
        rows.append(f"GPU{a}".ljust(8) + "".join(c.ljust(9) for c in cells).rstrip())
    return rows


def _gpu_lines(g: nx.Graph) -> list[str]:
    if not any(gpu(g, i).get("name") for i in gpus(g)):
        return []  # built from topo -m text: nothing to add to the matrix
    out = ["", "GPUs:"]
    for i in gpus(g):
        d = gpu(g, i)
        parts = [d.get("name"), d.get("pci_bus_id"),
                 f"{d['memory_bytes'] / (1 << 30):.0f} GiB" if d.get("memory_bytes") else None,
                 f"{d['sm_count']} SMs" if d.get("sm_count") else None,
                 "sm_{}{}".format(*d["compute_capability"]) if d.get("compute_capability") else None,
                 d.get("uuid")]
        known = [p for p in parts if p]
        out.append(f"  GPU{i}  " + "  ".join(known))
    return out


def _plans(g: nx.Graph, sizes: tuple[int, ...]) -> list[str]:
    level = config.get("VIBETENSOR_P2P_LEVEL", error=TopologyError)
    isl = islands(g)
    out = [f"Islands (peer access over NVLink and PCIe up to {level}): " + "  ".join(
        "{" + " ".join(map(str, i)) + "}" for i in isl)]
    out.append("Cliques: " + "  ".join("{" + " ".join(map(str, c)) + "}" for c in cliques(g)))
    out.append(f"Ring: {plan_ring(g)}")
    for island in isl:
        if 2 <= len(island) < len(gpus(g)):
            out.append(f"Ring within island {{{' '.join(map(str, island))}}}: {plan_ring(g, island)}")
    out.append(f"Broadcast/reduce tree: {plan_tree(g)}")
    cross = crossover_bytes(g)
    rule = "one-shot at every size" if cross is None else \
        f"ring at every size ({choose_algorithm(g, 0).reason})" if cross == 0 else \
        f"one-shot below {format_bytes(cross)}, ring from there"
    out.append(f"All-reduce: {rule}")
    for size in sizes:
        c = choose_algorithm(g, size)
        others = ", ".join(f"{a} {format_seconds(t)}" for a, t in c.estimates.items())
        out.append(f"  {format_bytes(size):>8}: {c.algorithm:<8} ~{format_seconds(c.seconds):<9} ({others})")
    return out


def _affinity_lines(g: nx.Graph) -> list[str]:
    out = ["Affinity (pin the process driving each GPU here):"]
    for a in affinities(g):
        numa = "?" if a.numa_node is None else a.numa_node
        out.append(f"  GPU{a.gpu}  NUMA {numa}  CPUs {a.cpulist or '?'}" + ("" if a.source == "gpu" else f"  (from {a.source})"))
    return out


def render_report(g: nx.Graph, sizes: tuple[int, ...] = REPORT_SIZES) -> str:
    """The full report for a graph (GPU sections only when there are GPUs); ``sizes`` are the
    all-reduce sizes (bytes) whose algorithm and expected time are listed."""
    lines = _header(g)
    if gpus(g):
        lines += ["", format_topo_matrix(g, legend=False), ""] + _bandwidth_table(g)
        lines += _gpu_lines(g) + [""] + _plans(g, sizes) + [""] + _affinity_lines(g)
    else:
        lines += ["No GPUs: " + next((n.split(": ", 1)[1] for n in g.graph["notes"] if n.startswith("no GPUs")),
                                     "the topology has none")]
    lines += ["", "NUMA nodes:"] + [f"  NUMA {n}: CPUs {format_cpulist(c) or '?'}" for n, c in numa_nodes(g).items()]
    if g.graph.get("notes"):
        lines += ["", "Notes:"] + [f"  - {n}" for n in g.graph["notes"]]
    return "\n".join(lines)


def render_probe(report: ProbeReport) -> str:
    """Probe results: each device's own copy bandwidth, then each pair, then the flags."""
    lines = [f"Probe ({format_bytes(report.nbytes)} copies):"]
    for d in report.devices:
        lines.append(f"  GPU{d.gpu} copy within its memory: "
                     + (f"{d.d2d_gbps:.4g} GB/s (bytes copied; memory traffic is twice that)" if d.d2d_gbps
                        else f"failed: {d.error}"))
    if report.pairs:
        lines.append("  pair    a->b GB/s  b->a GB/s  both ways GB/s  latency    peer access  result")
    for p in report.pairs:
        def num(x, unit=""):
            return "-" if x is None else f"{x:.4g}{unit}"
        lines.append(f"  {p.a}-{p.b}".ljust(10) + num(p.gbps_ab).ljust(11) + num(p.gbps_ba).ljust(11)
                     + num(p.bi_gbps).ljust(16) + num(p.latency_us, " us").ljust(11)
                     + ("yes" if p.peer_access else "no").ljust(13) + ("FLAGGED" if p.flags else "ok"))
    for p in report.flagged:
        lines += [f"  ! GPU{p.a}-GPU{p.b}: {f}" for f in p.flags]
    lines += [f"  {n}" for n in report.notes]
    return "\n".join(lines)
