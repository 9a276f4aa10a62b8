"""Pictures of the topology: Graphviz DOT text (always available) and PNG (Graphviz ``dot`` when
installed, else matplotlib when importable, else a clear error suggesting ``--dot``).

GPUs and NICs sit in one box per NUMA node; GPU links are labelled with their kind and bandwidth,
drawn thicker and pulled tighter the faster they are. Links through an NVSwitch are drawn once, as
GPU-to-switch edges, instead of as every pair. NICs are joined to the GPUs they share a PCIe switch
with (PIX/PXB). PCIe bridges are left out to keep the picture readable.

>>> from .serialize import load
>>> from .fixtures import fixture_path
>>> dot = to_dot(load(fixture_path("nvlink_bridge_2plus2")))
>>> 'subgraph cluster_numa0' in dot, '"gpu0" -- "gpu1" [label="NV4\\\\n100 GB/s"' in dot
(True, True)
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess

import networkx as nx

from .cpulist import format_cpulist
from .errors import TopologyError
from .graph import link, link_bandwidth, numa_nodes, peer_pairs
from .links import nominal_bandwidth

__all__ = ["to_dot", "write_png", "png_backend"]


_TYPE_ORDER = {"gpu": 0, "nvswitch": 1, "nic": 2}


def _key(g: nx.Graph, n: str) -> tuple:
    d = g.nodes[n]
    return (_TYPE_ORDER.get(d["type"], 3), d.get("index", 0), n)


def _q(text: str) -> str:
    return text.replace('"', '\\"')


def _label(g: nx.Graph, n: str) -> str:
    d = g.nodes[n]
    if d["type"] == "gpu":
        lines = [f"GPU{d['index']}", d.get("name"), d.get("pci_bus_id")]
    elif d["type"] == "nic":
        lines = [f"NIC{d['index']}", d.get("name")]
    else:
        lines = ["NVSwitch" if d["type"] == "nvswitch" else n, d.get("pci_bus_id")]
    return "\\n".join(_q(str(x)) for x in lines if x)


def _edges(g: nx.Graph) -> list[tuple[str, str, str, float]]:
    """(u, v, label, GB/s) of the edges worth drawing."""
    out = []
    for a, b in peer_pairs(g):
        d = link(g, a, b)
        if not d["via_nvswitch"]:
            measured = " measured" if d.get("measured_uni_gbps") else ""
            out.append((f"gpu{a}", f"gpu{b}", f"{d['kind']}\\n{link_bandwidth(g, a, b):g} GB/s{measured}",
                        link_bandwidth(g, a, b)))
    for u, v, d in g.edges(data=True):
        if d["role"] == "nvlink":
            gpu_node = u if g.nodes[u]["type"] == "gpu" else v
            kind = f"NV{d['nvlinks']}"
            gbps = nominal_bandwidth(kind, g.nodes[gpu_node].get("compute_capability"))
            out.append((gpu_node, u if gpu_node == v else v, f"{kind}\\n{gbps:g} GB/s", gbps))
        elif d["role"] == "path" and d["kind"] in ("PIX", "PXB") and "gpu" in (g.nodes[u]["type"], g.nodes[v]["type"]):
            out.append((u, v, d["kind"], 0.0))
    return out


def to_dot(g: nx.Graph) -> str:
    """DOT text of the graph: ``dot -Tpng topo.dot -o topo.png`` draws it.

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> to_dot(load(fixture_path("single_gpu"))).splitlines()[5]
    '    label="NUMA 0\\\\nCPUs 0-15"; style=rounded; color="#888888";'
    """
    lines = ["graph topology {",
             f'  graph [label="{_q(str(g.graph.get("source", "topology")))}", labelloc=t, fontname="Helvetica"];',
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];']
    placed = set()
    for node, cpus in numa_nodes(g).items():
        members = sorted((n for n, d in g.nodes(data=True) if d["type"] in ("gpu", "nic") and d.get("numa_node") == node),
                         key=lambda n: _key(g, n))
        lines.append(f"  subgraph cluster_numa{node} {{")
        lines.append(f'    label="NUMA {node}\\nCPUs {format_cpulist(cpus) or "?"}"; style=rounded; color="#888888";')
        for n in members:
            fill = ', fillcolor="#fdf1dc"' if g.nodes[n]["type"] == "nic" else ""
            lines.append(f'    "{n}" [label="{_label(g, n)}"{fill}];')
            placed.add(n)
        lines.append("  }")
    for n in sorted(g.nodes, key=lambda n: _key(g, n)):
        d = g.nodes[n]
        if d["type"] in ("gpu", "nic", "nvswitch") and n not in placed:
            shape = ', shape=hexagon, fillcolor="#e3f4e1"' if d["type"] == "nvswitch" else ""
            lines.append(f'  "{n}" [label="{_label(g, n)}"{shape}];')
    edges = _edges(g)
    fastest = max((bw for *_, bw in edges), default=0.0) or 1.0
    for u, v, label, bw in edges:
        width = 1 + 4 * bw / fastest
        style = f'penwidth={width:.2f}, weight={max(1, round(10 * bw / fastest))}' if bw else "style=dashed"
        lines.append(f'  "{u}" -- "{v}" [label="{label}", {style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def png_backend() -> str | None:
    """``"dot"``, ``"matplotlib"`` or None: what :func:`write_png` would draw with here."""
    if shutil.which("dot"):
        return "dot"
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except ValueError:  # a module set to None in sys.modules (how tests hide it)
        found = False
    return "matplotlib" if found else None


def write_png(g: nx.Graph, path: str | os.PathLike) -> str:
    """Draw the graph into ``path``; returns the backend used. TopologyError when none is available.

    >>> import os, tempfile
    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> try:
    ...     used = write_png(load(fixture_path("single_gpu")), os.path.join(tempfile.mkdtemp(), "t.png"))
    ... except TopologyError as exc:  # neither Graphviz nor matplotlib on this machine
    ...     used = "error suggesting --dot" if "--dot" in str(exc) else str(exc)
    >>> used in ("dot", "matplotlib", "error suggesting --dot")
    True
    """
    backend = png_backend()
    if backend == "dot":
        done = subprocess.run(["dot", "-Tpng", "-o", os.fspath(path)], input=to_dot(g), text=True,
                              capture_output=True, timeout=120)
        if done.returncode != 0:
            raise TopologyError(f"Graphviz dot failed: {done.stderr.strip() or f'exit status {done.returncode}'}")
        return backend
    if backend == "matplotlib":
        _matplotlib_png(g, os.fspath(path))
        return backend
    raise TopologyError("--png needs Graphviz `dot` or matplotlib and neither is installed here; "
                        "write DOT instead (--dot topo.dot) and draw it elsewhere with `dot -Tpng topo.dot -o topo.png`")


def _matplotlib_png(g: nx.Graph, path: str) -> None:
    import math

    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    h = nx.Graph()
    for u, v, label, bw in _edges(g):
        h.add_edge(u, v, label=label.replace("\\n", " "), bw=bw)
    h.add_nodes_from(n for n, d in g.nodes(data=True) if d["type"] == "gpu")
    # One box per NUMA node: its GPUs on a circle (so their links do not run through each other),
    # its NICs in a row underneath. Switches and devices of unknown NUMA node sit above, in the middle.
    groups: dict = {}
    for n in sorted(h, key=lambda n: _key(g, n)):
        numa = g.nodes[n].get("numa_node") if g.nodes[n]["type"] != "nvswitch" else None
        groups.setdefault(numa, []).append(n)
    boxes = sorted(k for k in groups if k is not None)
    pos: dict = {}
    for col, key in enumerate(boxes):
        cx = col * 7.0
        gpus_ = [n for n in groups[key] if g.nodes[n]["type"] == "gpu"]
        others = [n for n in groups[key] if g.nodes[n]["type"] != "gpu"]
        for k, n in enumerate(gpus_):
            angle = math.pi / 2 - 2 * math.pi * k / len(gpus_)
            pos[n] = (cx + 2.2 * math.cos(angle), 2.2 * math.sin(angle)) if len(gpus_) > 1 else (cx, 0.0)
        for k, n in enumerate(others):
            pos[n] = (cx - 2.5 + 5.0 * (k + 0.5) / len(others), -3.6)
    middle = 7.0 * (len(boxes) - 1) / 2 if boxes else 0.0
    for k, n in enumerate(groups.get(None, [])):
        pos[n] = (middle + 1.6 * (k - (len(groups[None]) - 1) / 2), 4.2)
    fastest = max((d["bw"] for *_, d in h.edges(data=True)), default=0.0) or 1.0
    fig, ax = plt.subplots(figsize=(3 + 7 * max(1, len(boxes)), 10))
    for col, key in enumerate(boxes):
        ax.add_patch(FancyBboxPatch((col * 7.0 - 3.2, -4.4), 6.4, 7.4, boxstyle="round,pad=0.1",
                                    facecolor="#f7f7f7", edgecolor="#888888"))
        cpus = format_cpulist(numa_nodes(g).get(key, ())) or "?"
        ax.text(col * 7.0, 3.25, f"NUMA {key}   CPUs {cpus}", ha="center", fontsize=9)
    widths = [0.5 + 4 * d["bw"] / fastest for *_, d in h.edges(data=True)]
    styles = ["solid" if d["bw"] else "dashed" for *_, d in h.edges(data=True)]
    nx.draw_networkx_edges(h, pos, ax=ax, width=widths, style=styles, edge_color="#555555")
    nx.draw_networkx_edge_labels(h, pos, ax=ax, font_size=7,
                                 edge_labels={(u, v): d["label"] for u, v, d in h.edges(data=True)})
    colors = ["#e3f4e1" if g.nodes[n]["type"] == "nvswitch" else "#fdf1dc" if g.nodes[n]["type"] == "nic"
              else "#eef3fb" for n in h]
    nx.draw_networkx_nodes(h, pos, ax=ax, node_shape="s", node_size=1500, node_color=colors, edgecolors="#333333")
    nx.draw_networkx_labels(h, pos, ax=ax, font_size=8,
                            labels={n: "\n".join(_label(g, n).split("\\n")[:2]) for n in h})
    ax.set_title(str(g.graph.get("source", "topology")))
    ax.axis("off")
    ax.autoscale()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
