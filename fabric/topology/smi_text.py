"""`nvidia-smi topo -m` text: parse it into a topology graph, and print a graph in the same shape.

Pasting a machine's ``nvidia-smi topo -m`` output is enough to plan for it. The parser accepts what
the tool prints and what survives a copy from a terminal: tab or space separated columns, the ANSI
underline around the header, cells run together by a lost tab ("NODENODE"), leading chatter before
the header, NIC columns, the ``CPU Affinity`` / ``NUMA Affinity`` / ``GPU NUMA ID`` columns, the
legend and the NIC legend. Anything else is an error naming the line.
"""

from __future__ import annotations

import os
import re

import networkx as nx

from .cpulist import format_cpulist, parse_cpulist
from .errors import TopologyFileError
from .graph import add_gpu, add_nic, add_numa, add_peer, gpu_id, gpus, link, new_graph, nic_id, nics, note
from .links import MAX_NVLINKS_PER_GPU, is_nvlink, normalize_kind

__all__ = ["from_topo_matrix", "format_topo_matrix", "looks_like_topo_matrix"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_AFFINITY = ("CPU Affinity", "NUMA Affinity", "GPU NUMA ID")
_HEADER_TOKEN = re.compile("|".join(_AFFINITY) + r"|\S+")
_CELL_WORDS = r"X|NV\d+|SYS|SOC|NODE|PHB|PXB|PIX"
# A cell is a known word followed by whitespace, the end, or another word glued on by a lost tab.
_CELL = re.compile(rf"\s*({_CELL_WORDS})(?=\s|$|{_CELL_WORDS})")
_NIC_LEGEND = re.compile(r"^\s*(NIC\d+)\s*:\s*(\S+)\s*$")
_GPU_LABEL = re.compile(r"^GPU(\d+)$")
_NIC_LABEL = re.compile(r"^NIC(\d+)$")

LEGEND = """Legend:

  X    = Self
  SYS  = Connection traversing PCIe as well as the SMP interconnect between NUMA nodes (e.g., QPI/UPI)
  NODE = Connection traversing PCIe as well as the interconnect between PCIe Host Bridges within a NUMA node
  PHB  = Connection traversing PCIe as well as a PCIe Host Bridge (typically the CPU)
  PXB  = Connection traversing multiple PCIe bridges (without traversing the PCIe Host Bridge)
  PIX  = Connection traversing at most a single PCIe bridge
  NV#  = Connection traversing a bonded set of # NVLinks"""


def looks_like_topo_matrix(text: str) -> bool:
    """Whether ``text`` has a ``topo -m`` header line (used to tell text files from JSON)."""
    return _find_header(_ANSI.sub("", text).splitlines()) is not None


def _find_header(lines: list[str]) -> int | None:
    # The header is the first line whose first token is GPU0 and whose second is not the "X" of a row.
    for i, line in enumerate(lines):
        tokens = line.split()
        if len(tokens) >= 2 and tokens[0] == "GPU0" and tokens[1] != "X":
            return i
    return None


def _split_row(rest: str, ncols: int, where: str, fail) -> tuple[list[str], str]:
    cells, pos = [], 0
    for col in range(ncols):
        m = _CELL.match(rest, pos)
        if not m:
            found = rest[pos:].split()[:1] or ["end of line"]
            fail(f"{where}: expected {ncols} link cells, column {col + 1} is {found[0]!r}")
        cells.append(m.group(1))
        pos = m.end()
    return cells, rest[pos:]


def _parse_affinity(values: list[str], columns: list[str], where: str, fail) -> dict:
    out: dict = {"cpu_affinity": (), "numa_node": None, "gpu_numa_id": None}
    if len(values) > len(columns):
        fail(f"{where}: {len(values)} values after the link cells but only {len(columns)} affinity columns")
    for column, value in zip(columns, values):
        if value.upper() == "N/A":
            continue
        try:
            if column == "CPU Affinity":
                out["cpu_affinity"] = parse_cpulist(value)
            else:
                nodes = parse_cpulist(value)
                out["numa_node" if column == "NUMA Affinity" else "gpu_numa_id"] = nodes[0] if nodes else None
        except ValueError as exc:
            fail(f"{where}: bad {column} {value!r} ({exc})")
    return out


def from_topo_matrix(text: str, origin: str = "<text>") -> nx.Graph:
    """Build a topology from ``nvidia-smi topo -m`` output; TopologyFileError names what is wrong.

    GPUs keep the numbers ``topo -m`` gives them. The text has no names, bus ids or P2P answers,
    so peer access is assumed over NVLink and over PCIe up to ``VIBETENSOR_P2P_LEVEL``; when the
    NVLink counts summed over a GPU's peers exceed what one GPU has, the peers share links through
    an NVSwitch, which is added as one node.

    >>> from .graph import gpu
    >>> g = from_topo_matrix('''
    ...         GPU0    GPU1    CPU Affinity    NUMA Affinity   GPU NUMA ID
    ... GPU0     X      NV4     0-15    0               N/A
    ... GPU1    NV4      X      0-15    0               N/A
    ... ''')
    >>> link(g, 0, 1)["kind"], gpu(g, 1)["cpu_affinity"][-1]
    ('NV4', 15)
    """
    def fail(problem: str):
        raise TopologyFileError(origin, problem)

    lines = _ANSI.sub("", text).replace("\r\n", "\n").split("\n")
    h = _find_header(lines)
    if h is None:
        fail("no `nvidia-smi topo -m` header found (a line of column names starting with GPU0)")
    tokens = _HEADER_TOKEN.findall(lines[h])
    devices = [t for t in tokens if t not in _AFFINITY]
    affinity_cols = [t for t in tokens if t in _AFFINITY]
    if tokens[: len(devices)] != devices:
        fail(f"line {h + 1}: device columns must come before {', '.join(_AFFINITY)}")
    if len(set(devices)) != len(devices):
        fail(f"line {h + 1}: repeated column names in the header")

    rows: dict[str, tuple[int, list[str], dict]] = {}
    nic_names: dict[str, str] = {}
    in_legend = False
    for lineno, line in enumerate(lines[h + 1:], start=h + 2):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("Legend") or stripped.startswith("NIC Legend"):
            in_legend = True
        if in_legend:
            m = _NIC_LEGEND.match(line)
            if m:
                nic_names[m.group(1)] = m.group(2)
            continue
        label = stripped.split()[0]
        rest = stripped[len(label):]
        if label not in devices:
            fail(f"line {lineno}: unexpected line {stripped[:40]!r} (not a row of {', '.join(devices)})")
        if label in rows:
            fail(f"line {lineno}: second row for {label}")
        where = f"line {lineno} ({label})"
        cells, remainder = _split_row(rest, len(devices), where, fail)
        extra = _parse_affinity(remainder.split(), affinity_cols, where, fail) if _GPU_LABEL.match(label) else {}
        if not _GPU_LABEL.match(label) and remainder.strip():
            fail(f"{where}: unexpected {remainder.strip()!r} after the link cells")
        rows[label] = (lineno, cells, extra)

    for name in devices:
        if name not in rows:
            fail(f"no row for {name}")
    kinds: dict[tuple[str, str], str] = {}
    for i, a in enumerate(devices):
        lineno, cells, _ = rows[a]
        for j, b in enumerate(devices):
            cell = cells[j]
            if (cell == "X") != (i == j):
                fail(f"line {lineno} ({a}): {'the diagonal must be X' if i == j else f'X outside the diagonal, at {b}'}")
            if i < j:
                back = rows[b][1][i]
                try:
                    there, here = normalize_kind(back), normalize_kind(cell)
                except ValueError as exc:  # "NV0", or an X in the other row (checked when its turn comes)
                    fail(f"line {lineno}: {a}<->{b}: {exc}")
                if there != here:
                    fail(f"line {lineno}: {a}->{b} is {cell} but {b}->{a} is {back}")
                kinds[(a, b)] = here
    return _build(devices, rows, kinds, nic_names, origin)


def _build(devices, rows, kinds, nic_names, origin) -> nx.Graph:
    g = new_graph(source=f"nvidia-smi topo -m ({os.path.basename(origin)})")
    gpu_labels = [d for d in devices if _GPU_LABEL.match(d)]
    if not gpu_labels:
        raise TopologyFileError(origin, "the header has no GPU columns")
    index = {d: int(_GPU_LABEL.match(d).group(1)) for d in gpu_labels}
    for d in gpu_labels:
        extra = rows[d][2]
        if extra["numa_node"] is not None:
            add_numa(g, extra["numa_node"], extra["cpu_affinity"])
        add_gpu(g, index[d], **{k: v for k, v in extra.items() if k != "gpu_numa_id" or v is not None})
    nic_labels = [d for d in devices if d not in index]
    nic_index = {}
    for k, d in enumerate(nic_labels):
        m = _NIC_LABEL.match(d)
        nic_index[d] = int(m.group(1)) if m else k
        # A NIC has no affinity columns: it belongs to the NUMA node of a GPU it reaches without SYS.
        near = [rows[a][2]["numa_node"] for a in gpu_labels
                if kinds.get((a, d), kinds.get((d, a))) != "SYS" and rows[a][2]["numa_node"] is not None]
        add_nic(g, nic_index[d], nic_names.get(d, d), numa_node=near[0] if near else None)

    def node(d):
        return gpu_id(index[d]) if d in index else nic_id(nic_index[d])

    for (a, b), kind in kinds.items():
        if a in index and b in index:
            add_peer(g, index[a], index[b], kind)
        else:
            g.add_edge(node(a), node(b), role="path", kind=kind)
    _infer_nvswitch(g)
    note(g, "from `nvidia-smi topo -m` text: no GPU names, bus ids or driver P2P answers; peer access "
            "assumed over NVLink and over PCIe up to VIBETENSOR_P2P_LEVEL")
    return g


def _infer_nvswitch(g: nx.Graph) -> None:
    links_per_gpu = {i: [link(g, i, j)["nvlinks"] for j in gpus(g) if j != i
                         and g.has_edge(gpu_id(i), gpu_id(j))] for i in gpus(g)}
    switched = [i for i, counts in links_per_gpu.items() if sum(counts) > MAX_NVLINKS_PER_GPU]
    if not switched:
        return
    g.add_node("nvswitch0", type="nvswitch", pci_bus_id=None)
    for i in switched:
        g.add_edge(gpu_id(i), "nvswitch0", role="nvlink", nvlinks=max(links_per_gpu[i]))
        for j in switched:
            if j > i and is_nvlink(link(g, i, j)["kind"]):
                link(g, i, j)["via_nvswitch"] = True
    note(g, "NVSwitch inferred: NVLink counts over a GPU's peers exceed the links one GPU has")


def format_topo_matrix(g: nx.Graph, legend: bool = True) -> str:
    """The graph as ``nvidia-smi topo -m`` would print it (what :func:`from_topo_matrix` reads).

    >>> from .graph import new_graph, add_gpu, add_peer
    >>> g = new_graph("example"); add_gpu(g, 0, numa_node=0, cpu_affinity=(0, 1))
    >>> add_gpu(g, 1, numa_node=0, cpu_affinity=(0, 1)); add_peer(g, 0, 1, "PIX")
    >>> print(format_topo_matrix(g, legend=False))
            GPU0    GPU1    CPU Affinity    NUMA Affinity   GPU NUMA ID
    GPU0     X      PIX     0-1             0               N/A
    GPU1    PIX      X      0-1             0               N/A
    """
    labels = [(f"GPU{i}", gpu_id(i)) for i in gpus(g)] + [(f"NIC{n['index']}", nic_id(n["index"])) for n in nics(g)]

    def cell(u: str, v: str) -> str:
        if u == v:
            return " X"
        d = g.get_edge_data(u, v)
        return d["kind"] if d and d.get("role") in ("peer", "path") else "N/A"

    def pad(text: str, width: int = 8) -> str:
        return text.ljust(width - 1) + " " if len(text) < width else text + " "

    out = [" " * 8 + "".join(pad(name) for name, _ in labels) + "CPU Affinity    NUMA Affinity   GPU NUMA ID"]
    for name, u in labels:
        row = pad(name) + "".join(pad(cell(u, v)) for _, v in labels)
        d = g.nodes[u]
        if d["type"] == "gpu":
            cpus = format_cpulist(d["cpu_affinity"]) or "N/A"
            numa = "N/A" if d["numa_node"] is None else str(d["numa_node"])
            gnuma = "N/A" if d.get("gpu_numa_id") is None else str(d["gpu_numa_id"])
            row += pad(cpus, 16) + pad(numa, 16) + gnuma
        out.append(row.rstrip())
    if legend:
        out += ["", LEGEND]
        if nics(g):
            out += ["", "NIC Legend:", ""] + [f"  NIC{n['index']}: {n['name']}" for n in nics(g)]
    return "\n".join(out)
