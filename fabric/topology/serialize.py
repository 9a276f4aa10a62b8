"""The topology's own JSON format, and loading any topology file (JSON or `nvidia-smi topo -m` text).

Format (version 1)::

    {"format": "vibetensor-topology", "version": 1,
     "graph": {"source": ..., "host": ..., "notes": [...]},
     "nodes": [{"id": "gpu0", "type": "gpu", "index": 0, ...}, ...],
     "edges": [{"source": "gpu0", "target": "gpu1", "role": "peer", "kind": "NV18", ...}, ...]}

Attribute values are JSON scalars or lists; lists come back as tuples, so a saved graph loads equal
to the one saved.

CPU sets (``cpus``, ``cpu_affinity``) are written as Linux CPU lists ("0-55,112-167").

>>> import os, tempfile
>>> from .fixtures import fixture_path
>>> g = load(fixture_path("dgx_h100_8gpu"))
>>> path = os.path.join(tempfile.mkdtemp(), "dgx.json")
>>> save(g, path)
>>> nx.utils.graphs_equal(load(path), g)
True
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import networkx as nx

from .cpulist import format_cpulist, parse_cpulist
from .errors import TopologyFileError
from .links import normalize_kind
from .smi_text import from_topo_matrix, looks_like_topo_matrix

__all__ = ["FORMAT", "VERSION", "to_dict", "from_dict", "dumps", "loads", "save", "load"]

FORMAT = "vibetensor-topology"
VERSION = 1
_NODE_TYPES = {"gpu", "numa", "nic", "nvswitch", "pci_bridge"}
_EDGE_ROLES = {"peer", "path", "attach", "nvlink", "pcie"}
_CPU_SETS = {"cpus", "cpu_affinity"}


def _plain(key: str, value: Any) -> Any:
    if key in _CPU_SETS:
        return format_cpulist(value)
    if isinstance(value, (tuple, list)):
        return [_plain("", v) for v in value]
    return value


def _tupled(key: str, value: Any) -> Any:
    if key in _CPU_SETS and isinstance(value, str):
        return parse_cpulist(value)
    if isinstance(value, list):
        return tuple(_tupled("", v) for v in value)
    return value


def _attrs(d: dict, convert, skip: tuple[str, ...] = ()) -> dict:
    return {k: convert(k, v) for k, v in d.items() if k not in skip}


def to_dict(g: nx.Graph) -> dict:
    """The graph as JSON-ready data."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "graph": _attrs(g.graph, _plain),
        "nodes": [{"id": n, **_attrs(d, _plain)} for n, d in sorted(g.nodes(data=True))],
        "edges": [{"source": u, "target": v, **_attrs(d, _plain)}
                  for u, v, d in sorted((min(u, v), max(u, v), d) for u, v, d in g.edges(data=True))],
    }


def from_dict(data: Any, origin: str = "<dict>") -> nx.Graph:
    """Inverse of :func:`to_dict`; TopologyFileError names the first problem found."""
    def fail(problem: str):
        raise TopologyFileError(origin, problem)

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        fail(f"not a vibetensor topology (expected a JSON object with \"format\": \"{FORMAT}\")")
    if data.get("version") != VERSION:
        fail(f"unsupported version {data.get('version')!r} (this reader knows version {VERSION})")
    for key in ("graph", "nodes", "edges"):
        if not isinstance(data.get(key), dict if key == "graph" else list):
            fail(f"missing or malformed {key!r}")
    # Values the rest of the package reads as typed fields are checked here, so a bad file fails on
    # load (naming the entry) rather than later, in planning or printing, with a TypeError.
    g = nx.Graph(**_checked(data["graph"], "graph", fail))
    if not isinstance(g.graph.get("notes", ()), tuple):  # (lists load as tuples)
        fail("graph: notes must be a list")
    g.graph["notes"] = list(g.graph.get("notes", ()))
    g.graph.setdefault("source", origin)
    seen_gpus: set[int] = set()
    for i, node in enumerate(data["nodes"]):
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            fail(f"nodes[{i}]: expected an object with a string \"id\"")
        where = f"nodes[{i}] ({node['id']})"
        if not isinstance(node.get("type"), str) or node["type"] not in _NODE_TYPES:
            fail(f"{where}: unknown type {node.get('type')!r}")
        if node["type"] in ("gpu", "nic"):
            index = node.get("index")
            if not _is_index(index) or (node["type"] == "gpu" and index in seen_gpus):
                fail(f"{where}: {node['type'].upper()} index must be a distinct integer >= 0, got {index!r}")
            if node["type"] == "gpu":
                seen_gpus.add(index)
        if node.get("numa_node") is not None and not _is_index(node["numa_node"]):
            fail(f"{where}: numa_node must be an integer >= 0 or null, got {node['numa_node']!r}")
        g.add_node(node["id"], **_checked(node, where, fail, skip=("id",)))
    for i, edge in enumerate(data["edges"]):
        if not isinstance(edge, dict):
            fail(f"edges[{i}]: expected an object")
        u, v = edge.get("source"), edge.get("target")
        for end in (u, v):
            if not isinstance(end, str) or end not in g:
                fail(f"edges[{i}]: endpoint {end!r} is not a node")
        if not isinstance(edge.get("role"), str) or edge["role"] not in _EDGE_ROLES:
            fail(f"edges[{i}] ({u}-{v}): unknown role {edge.get('role')!r}")
        bandwidth = edge.get("bandwidth_gbps")
        if edge["role"] == "peer" and (not isinstance(bandwidth, (int, float)) or isinstance(bandwidth, bool)):
            fail(f"edges[{i}] ({u}-{v}): a peer link needs a numeric bandwidth_gbps")
        if edge["role"] in ("peer", "path"):
            try:
                normalize_kind(edge.get("kind") if isinstance(edge.get("kind"), str) else "")
            except ValueError:
                fail(f"edges[{i}] ({u}-{v}): a {edge['role']} link needs a link kind (NV#, PIX, ...), "
                     f"got {edge.get('kind')!r}")
        g.add_edge(u, v, **_checked(edge, f"edges[{i}] ({u}-{v})", fail, skip=("source", "target")))
    return g


def _is_index(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _checked(d: dict, where: str, fail, skip: tuple[str, ...] = ()) -> dict:
    """Attributes as stored in the graph (CPU lists parsed); a CPU set that is not a CPU-list string fails."""
    for key in _CPU_SETS & d.keys():
        if not isinstance(d[key], str):
            fail(f"{where}: {key} must be a CPU list string like \"0-15\", got {d[key]!r}")
    try:
        return _attrs(d, _tupled, skip)
    except ValueError as exc:
        fail(f"{where}: {exc}")


def dumps(g: nx.Graph) -> str:
    """JSON text of the graph: one node or edge per line, keys sorted, so files diff well.

    >>> from .fixtures import fixture_path
    >>> print(dumps(load(fixture_path("single_gpu"))).splitlines()[3])
      {"cpu_affinity": "0-15", "id": "gpu0", "index": 0, "numa_node": 0, "type": "gpu"},
    """
    data = to_dict(g)

    def one(x: Any) -> str:
        return json.dumps(x, sort_keys=True)

    lines = [f'{{"format": {one(FORMAT)}, "version": {VERSION},', f' "graph": {one(data["graph"])},']
    for key, last in (("nodes", False), ("edges", True)):
        items = data[key]
        lines.append(f' "{key}": [' + ("" if items else "]" + ("}" if last else ",")))
        lines += [f"  {one(x)}{',' if i < len(items) - 1 else ''}" for i, x in enumerate(items)]
        if items:
            lines.append(" ]" + ("}" if last else ","))
    return "\n".join(lines) + "\n"


def loads(text: str, origin: str = "<string>") -> nx.Graph:
    """Parse JSON or `nvidia-smi topo -m` text, whichever ``text`` is.

    >>> g = loads("        GPU0    GPU1\\nGPU0     X      NV2\\nGPU1    NV2      X\\n")
    >>> loads(dumps(g)).edges["gpu0", "gpu1"]["kind"]
    'NV2'
    """
    if not text.strip():
        raise TopologyFileError(origin, "the file is empty")
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TopologyFileError(origin, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        return from_dict(data, origin)
    if looks_like_topo_matrix(text):
        return from_topo_matrix(text, origin)
    raise TopologyFileError(origin, "neither topology JSON nor `nvidia-smi topo -m` text "
                                    "(no JSON object, no header line starting with GPU0)")


def save(g: nx.Graph, path: str | os.PathLike) -> None:
    """Write the graph as JSON.

    >>> import os, tempfile
    >>> from .fixtures import fixture_path
    >>> path = os.path.join(tempfile.mkdtemp(), "box.json")
    >>> save(load(fixture_path("single_gpu")), path)
    >>> open(path).readline().strip()
    '{"format": "vibetensor-topology", "version": 1,'
    """
    Path(path).write_text(dumps(g), encoding="utf-8")


def load(path: str | os.PathLike) -> nx.Graph:
    """Read a topology file: the JSON :func:`save` writes, or `nvidia-smi topo -m` output.

    >>> from .fixtures import fixture_path
    >>> g = load(fixture_path("pcie_4gpu_2socket"))
    >>> g.edges["gpu0", "gpu1"]["kind"]
    'PIX'
    >>> load("/no/such/file")
    Traceback (most recent call last):
    ...
    vibetensor.fabric.topology.errors.TopologyFileError: topology file '/no/such/file': cannot read it: No such file or directory
    """
    origin = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise TopologyFileError(origin, f"cannot read it: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TopologyFileError(origin, f"not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x})") from None
    return loads(text, origin)
