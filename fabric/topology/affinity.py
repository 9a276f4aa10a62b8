"""Where the process driving a GPU should run: the GPU's local CPUs and NUMA node.

The launcher pins each rank with this (``os.sched_setaffinity`` plus memory on ``numa_node``).

>>> from .serialize import load
>>> from .fixtures import fixture_path
>>> a = gpu_affinity(load(fixture_path("dgx_h100_8gpu")), 5)
>>> a.numa_node, a.cpulist
(1, '56-111,168-223')
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from .cpulist import format_cpulist
from .graph import gpu, gpus, numa_nodes

__all__ = ["Affinity", "gpu_affinity", "affinities"]


@dataclass(frozen=True)
class Affinity:
    """CPUs and NUMA node for GPU ``gpu``; ``source`` says where the CPU set came from."""

    gpu: int
    numa_node: int | None
    cpus: tuple[int, ...]
    source: str  # "gpu" (the GPU's own CPU affinity), "numa" (its NUMA node's CPUs) or "any"

    @property
    def cpulist(self) -> str:
        return format_cpulist(self.cpus)


def gpu_affinity(g: nx.Graph, index: int) -> Affinity:
    """The CPUs local to GPU ``index``: its own affinity, else its NUMA node's CPUs, else every CPU
    the graph knows (``source="any"``: nothing better is known)."""
    d = gpu(g, index)
    numa = d.get("numa_node")
    if d.get("cpu_affinity"):
        return Affinity(index, numa, tuple(d["cpu_affinity"]), "gpu")
    nodes = numa_nodes(g)
    if numa is not None and nodes.get(numa):
        return Affinity(index, numa, tuple(nodes[numa]), "numa")
    return Affinity(index, numa, tuple(sorted({c for cpus in nodes.values() for c in cpus})), "any")


def affinities(g: nx.Graph) -> list[Affinity]:
    """:func:`gpu_affinity` of every GPU, by index."""
    return [gpu_affinity(g, i) for i in gpus(g)]
