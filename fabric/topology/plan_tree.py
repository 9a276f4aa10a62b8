"""Trees for broadcast and reduce: data flows root -> leaves (broadcast) or leaves -> root (reduce).

The tree is grown from the root like Prim's algorithm with a fan-out cap: each step attaches the
unattached GPU over the fastest link to a GPU that still has room for a child, preferring the
shallowest parent, then a parent in the same NUMA node, then the lowest numbers. Fastest-first
makes it a maximum spanning tree under the cap, so slow (cross-socket) links are used only where
needed; shallowest-next gives a balanced tree of depth about log2(n) on a uniform fabric.

>>> from .serialize import load
>>> from .fixtures import fixture_path
>>> t = plan_tree(load(fixture_path("dgx_h100_8gpu")), root=0)
>>> t.children[0], t.depth
((1, 2), 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import networkx as nx

from .errors import TopologyError
from .graph import gpu, gpus, port
from .plan_ring import Hop, _hop

__all__ = ["Tree", "plan_tree", "DEFAULT_FANOUT"]

DEFAULT_FANOUT = 2


@dataclass(frozen=True)
class Tree:
    """A rooted tree over GPUs: ``parent[i]`` (None for the root) and ``children[i]`` (ascending)."""

    root: int
    parent: dict[int, int | None]
    children: dict[int, tuple[int, ...]]
    hops: tuple[Hop, ...]  # parent -> child, in the order they were attached
    depth: int
    bottleneck_gbps: float | None  # slowest hop, a parent's shared port split over its children
    cross_numa_hops: int

    def __str__(self) -> str:
        def show(i: int) -> str:
            kids = self.children.get(i, ())
            return str(i) + (" -> (" + ", ".join(show(k) for k in kids) + ")" if kids else "")
        speed = f"slowest hop {self.bottleneck_gbps:g} GB/s" if self.bottleneck_gbps else "no hops"
        return f"{show(self.root)}  (depth {self.depth}, {speed})"


def plan_tree(g: nx.Graph, root: int | None = None, among: Iterable[int] | None = None,
              fanout: int = DEFAULT_FANOUT, level: str | None = None) -> Tree:
    """Broadcast/reduce tree over ``among`` (default: every GPU) rooted at ``root`` (default: the lowest).

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> str(plan_tree(load(fixture_path("nvlink_bridge_2plus2")), root=2))
    '2 -> (0 -> (1), 3)  (depth 2, slowest hop 4.725 GB/s)'
    """
    nodes = sorted(set(gpus(g) if among is None else among))
    if not nodes:
        raise TopologyError("a tree needs at least one GPU")
    root = nodes[0] if root is None else root
    if root not in nodes:
        raise TopologyError(f"root GPU {root} is not among GPUs {nodes}")
    if fanout < 1:
        raise TopologyError(f"fanout must be >= 1, got {fanout}")
    numa = {i: gpu(g, i)["numa_node"] for i in nodes}
    parent: dict[int, int | None] = {root: None}
    depth = {root: 0}
    children: dict[int, list[int]] = {i: [] for i in nodes}
    hops: list[Hop] = []
    while len(parent) < len(nodes):
        best = None
        for p in parent:
            if len(children[p]) >= fanout:
                continue
            for c in nodes:
                if c in parent:
                    continue
                hop = _hop(g, p, c, level)
                same = numa[p] is not None and numa[p] == numa[c]
                key = (-hop.bandwidth_gbps, depth[p], not same, p, c)
                if best is None or key < best[0]:
                    best = (key, hop)
        hop = best[1]
        parent[hop.dst], depth[hop.dst] = hop.src, depth[hop.src] + 1
        children[hop.src].append(hop.dst)
        hops.append(hop)
    # A parent sending to k children through one port gives each a k-th of it.
    split = [h.bandwidth_gbps / sum(port(g, h.src, c) == port(g, h.src, h.dst) for c in children[h.src])
             for h in hops]
    return Tree(root, parent, {i: tuple(sorted(k)) for i, k in children.items() if k}, tuple(hops),
                max(depth.values()), min(split) if split else None, sum(not h.same_numa for h in hops))
