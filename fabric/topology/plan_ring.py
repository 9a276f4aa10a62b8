"""Ring orders for ring collectives: the slowest hop as fast as possible, NUMA-local hops together.

A ring all-reduce runs at the speed of its slowest hop, so the order maximises that bottleneck
first. Among orders with the best bottleneck it then minimises hops that cross NUMA nodes (which
keeps each node's GPUs adjacent), then maximises the total bandwidth, then takes the smallest order
(starting at the lowest GPU), so the answer is deterministic.

Up to ``EXACT_MAX_GPUS`` GPUs the search is exact (a threshold search for the bottleneck, then a
Held-Karp pass over orders using only hops that fast); beyond that a NUMA-grouped greedy order is
improved by 2-opt moves and the result says ``exact=False``.

>>> from .serialize import load
>>> from .fixtures import fixture_path
>>> ring = plan_ring(load(fixture_path("nvlink_bridge_2plus2")))
>>> ring.order, ring.bottleneck_gbps
((0, 1, 2, 3), 9.45)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import networkx as nx

from .errors import TopologyError
from .graph import gpu, gpus, link, link_bandwidth, p2p_usable

__all__ = ["Hop", "Ring", "plan_ring", "ring_hops", "EXACT_MAX_GPUS"]

EXACT_MAX_GPUS = 12


@dataclass(frozen=True)
class Hop:
    """One step of a ring or tree: ``src`` sends to ``dst``."""

    src: int
    dst: int
    kind: str
    bandwidth_gbps: float
    p2p: bool
    same_numa: bool


@dataclass(frozen=True)
class Ring:
    """A ring order and what its hops are worth. ``bottleneck_gbps`` is None for a single GPU."""

    order: tuple[int, ...]
    hops: tuple[Hop, ...]
    bottleneck_gbps: float | None
    cross_numa_hops: int
    exact: bool

    def __str__(self) -> str:
        if len(self.order) < 2:
            return f"{self.order[0] if self.order else '-'} (one GPU, no hops)"
        path = " -> ".join(str(i) for i in self.order + self.order[:1])
        staged = sum(not h.p2p for h in self.hops)
        extra = f", {staged} hop(s) staged through host memory" if staged else ""
        return (f"{path}  (slowest hop {self.bottleneck_gbps:g} GB/s, "
                f"{self.cross_numa_hops} cross-NUMA hop(s){extra})")


def _hop(g: nx.Graph, a: int, b: int, level: str | None) -> Hop:
    na, nb = gpu(g, a)["numa_node"], gpu(g, b)["numa_node"]
    return Hop(a, b, link(g, a, b)["kind"], link_bandwidth(g, a, b, level), p2p_usable(g, a, b, level),
               na is not None and na == nb)


def ring_hops(g: nx.Graph, order: Sequence[int], level: str | None = None) -> Ring:
    """Evaluate a given order as a ring (used by the planner and to compare orders in tests)."""
    order = tuple(order)
    if len(set(order)) != len(order):
        raise TopologyError(f"a ring visits each GPU once, got {list(order)}")
    if len(order) < 2:
        for i in order:
            gpu(g, i)
        return Ring(order, (), None, 0, True)
    hops = tuple(_hop(g, a, b, level) for a, b in zip(order, order[1:] + order[:1]))
    if len(order) == 2:
        hops = hops[:1] + (_hop(g, order[1], order[0], level),)
    return Ring(order, hops, min(h.bandwidth_gbps for h in hops), sum(not h.same_numa for h in hops), True)


def _score(ring: Ring) -> tuple:
    # Larger is better: bottleneck, then fewer cross-NUMA hops, then total bandwidth.
    return (ring.bottleneck_gbps, -ring.cross_numa_hops, round(sum(h.bandwidth_gbps for h in ring.hops), 6))


def plan_ring(g: nx.Graph, among: Iterable[int] | None = None, level: str | None = None,
              exact_max: int = EXACT_MAX_GPUS) -> Ring:
    """The best ring over ``among`` (default: every GPU), as the module docstring defines best.

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> str(plan_ring(load(fixture_path("dgx_h100_8gpu"))))
    '0 -> 1 -> 2 -> 3 -> 4 -> 5 -> 6 -> 7 -> 0  (slowest hop 450 GB/s, 2 cross-NUMA hop(s))'
    """
    nodes = sorted(set(gpus(g) if among is None else among))
    if len(nodes) <= 3:
        # Every order of up to three GPUs is the same ring (or its reverse).
        return ring_hops(g, nodes, level)
    n = len(nodes)
    bw = [[0.0 if i == j else link_bandwidth(g, nodes[i], nodes[j], level) for j in range(n)] for i in range(n)]
    numa = [gpu(g, i)["numa_node"] for i in nodes]
    cross = [[int(numa[i] is None or numa[i] != numa[j]) for j in range(n)] for i in range(n)]
    if n <= exact_max:
        order = _exact(n, bw, cross)
        return ring_hops(g, [nodes[i] for i in order], level)
    best = _two_opt(g, nodes, _greedy(n, bw, numa), level)
    return Ring(best.order, best.hops, best.bottleneck_gbps, best.cross_numa_hops, exact=False)


def _has_cycle(n: int, ok: list[list[bool]]) -> bool:
    # reach[mask] = bitset of end points of paths from 0 that visit exactly `mask`.
    reach = [0] * (1 << n)
    reach[1] = 1
    adj = [sum(1 << j for j in range(n) if ok[i][j]) for i in range(n)]
    for mask in range(1, 1 << n, 2):
        ends = reach[mask]
        i = 0
        while ends:
            if ends & 1:
                nxt = adj[i] & ~mask
                while nxt:
                    j = (nxt & -nxt).bit_length() - 1
                    reach[mask | 1 << j] |= 1 << j
                    nxt &= nxt - 1
            ends >>= 1
            i += 1
    full = reach[(1 << n) - 1]
    return any(full >> j & 1 and ok[j][0] for j in range(1, n))


def _exact(n: int, bw: list[list[float]], cross: list[list[int]]) -> list[int]:
    levels = sorted({bw[i][j] for i in range(n) for j in range(n) if i != j}, reverse=True)
    lo, hi = 0, len(levels) - 1  # levels[hi] (the slowest link) always admits a cycle: the graph is complete
    while lo < hi:
        mid = (lo + hi) // 2
        if _has_cycle(n, [[i != j and bw[i][j] >= levels[mid] for j in range(n)] for i in range(n)]):
            hi = mid
        else:
            lo = mid + 1
    floor = levels[lo]
    # Held-Karp over hops no slower than the bottleneck; cost = (cross-NUMA hops, -total MB/s, order).
    mbps = [[round(bw[i][j] * 1000) for j in range(n)] for i in range(n)]
    best: dict[tuple[int, int], tuple] = {(1, 0): (0, 0, (0,))}
    for mask in range(1, 1 << n, 2):
        for last in range(n):
            cur = best.get((mask, last))
            if cur is None:
                continue
            for j in range(1, n):
                if mask >> j & 1 or bw[last][j] < floor:
                    continue
                cand = (cur[0] + cross[last][j], cur[1] - mbps[last][j], cur[2] + (j,))
                key = (mask | 1 << j, j)
                if key not in best or cand < best[key]:
                    best[key] = cand
    full = (1 << n) - 1
    cycles = [(c[0] + cross[j][0], c[1] - mbps[j][0], c[2]) for (m, j), c in best.items()
              if m == full and bw[j][0] >= floor]
    return list(min(cycles)[2])


def _greedy(n: int, bw: list[list[float]], numa: list) -> list[int]:
    # Walk each NUMA node's GPUs along their fastest links, nodes in order, then close the ring.
    def node_rank(j: int) -> tuple[bool, int]:
        return (numa[j] is None, numa[j] or 0)  # lowest NUMA node first, unknown last

    order, left = [0], set(range(1, n))
    while left:
        here = order[-1]
        pool = [j for j in left if numa[j] == numa[here]]
        if not pool:  # this node is done: move on to the next one
            first = min(left, key=node_rank)
            pool = [j for j in left if node_rank(j) == node_rank(first)]
        nxt = max(pool, key=lambda j: (bw[here][j], -j))
        order.append(nxt)
        left.remove(nxt)
    return order


def _two_opt(g: nx.Graph, nodes: list[int], start: list[int], level: str | None) -> Ring:
    best = ring_hops(g, [nodes[i] for i in start], level)
    improved = True
    while improved:
        improved = False
        order = list(best.order)
        for i in range(1, len(order) - 1):
            for j in range(i + 1, len(order)):
                cand = ring_hops(g, order[:i] + order[i:j + 1][::-1] + order[j + 1:], level)
                if _score(cand) > _score(best):
                    best, improved = cand, True
                    break
            if improved:
                break
    return best
