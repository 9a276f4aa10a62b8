"""Islands and cliques: which GPUs can reach each other with peer access.

An island is a connected component of the P2P graph (every GPU reaches every other, maybe through
a third); a clique is a set in which every pair has direct peer access, which a one-shot collective
needs. Both are computed from the graph alone.

>>> from .serialize import load
>>> from .fixtures import fixture_path
>>> g = load(fixture_path("pcie_4gpu_2socket"))
>>> islands(g), cliques(g)
([(0, 1), (2, 3)], [(0, 1), (2, 3)])
"""

from __future__ import annotations

from typing import Iterable

import networkx as nx

from .graph import gpus, link_bandwidth, p2p_usable, peer_pairs

__all__ = ["p2p_graph", "islands", "cliques"]


def p2p_graph(g: nx.Graph, level: str | None = None, among: Iterable[int] | None = None) -> nx.Graph:
    """GPU indices joined where peer access is usable, weighted by per-direction GB/s.

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> sorted(p2p_graph(load(fixture_path("nvlink_bridge_2plus2"))).edges(data="bandwidth_gbps"))
    [(0, 1, 100.0), (2, 3, 31.5)]
    """
    chosen = set(gpus(g) if among is None else among)
    out = nx.Graph()
    out.add_nodes_from(sorted(chosen))
    for a, b in peer_pairs(g):
        if a in chosen and b in chosen and p2p_usable(g, a, b, level):
            out.add_edge(a, b, bandwidth_gbps=link_bandwidth(g, a, b, level))
    return out


def _ordered(groups: Iterable[Iterable[int]]) -> list[tuple[int, ...]]:
    return sorted((tuple(sorted(c)) for c in groups), key=lambda c: (-len(c), c))


def islands(g: nx.Graph, level: str | None = None) -> list[tuple[int, ...]]:
    """Connected components of the P2P graph, largest first (a GPU with no peer is its own island).

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> islands(load(fixture_path("nvlink_bridge_2plus2")), level="SYS")
    [(0, 1, 2, 3)]
    """
    return _ordered(nx.connected_components(p2p_graph(g, level)))


def cliques(g: nx.Graph, level: str | None = None) -> list[tuple[int, ...]]:
    """Maximal sets of GPUs in which every pair has peer access, largest first.

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> cliques(load(fixture_path("dgx_h100_8gpu")))
    [(0, 1, 2, 3, 4, 5, 6, 7)]
    """
    return _ordered(nx.find_cliques(p2p_graph(g, level)))
