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
    the graph knows (``source="any"``: nothing better is known).

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> gpu_affinity(load(fixture_path("pcie_4gpu_2socket")), 2)  # doctest: +ELLIPSIS
    Affinity(gpu=2, numa_node=1, cpus=(32, ..., 127), source='gpu')
    """
    d = gpu(g, index)
    numa = d.get("numa_node")
    if d.get("cpu_affinity"):
        return Affinity(index, numa, tuple(d["cpu_affinity"]), "gpu")
    nodes = numa_nodes(g)
    if numa is not None and nodes.get(numa):
        return Affinity(index, numa, tuple(nodes[numa]), "numa")
    return Affinity(index, numa, tuple(sorted({c for cpus in nodes.values() for c in cpus})), "any")


def affinities(g: nx.Graph) -> list[Affinity]:
    """:func:`gpu_affinity` of every GPU, by index.

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> [(a.gpu, a.numa_node) for a in affinities(load(fixture_path("pcie_4gpu_2socket")))]
    [(0, 0), (1, 0), (2, 1), (3, 1)]
    """
    return [gpu_affinity(g, i) for i in gpus(g)]
