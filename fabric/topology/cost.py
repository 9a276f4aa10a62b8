"""What a collective should cost on this graph, and which all-reduce algorithm a message size gets.

Two all-reduce algorithms over peer memory:

- **one-shot**: every GPU reads the whole buffer from every peer and reduces locally. Two barriers;
  each GPU pulls (n-1)*S bytes, which share a port when they arrive through an NVSwitch or PCIe.
  It needs peer access between every pair (a clique); elsewhere only the ring is offered, whose
  hops without peer access are staged through host memory.
- **ring**: reduce-scatter then all-gather around :func:`plan_ring`'s ring: 2(n-1) steps, each GPU
  sends 2(n-1)/n*S bytes over its slowest hop.

Time = fixed launch cost + handshakes x link latency (links.SYNC_LATENCY_US) + bytes / bandwidth.
Bandwidth is the probed figure when there is one, else nominal x ``efficiency``. Both times are
affine in the size, so the crossover is solved exactly. ``VIBETENSOR_ONESHOT_MAX_BYTES`` (or
``CostModel.oneshot_max_bytes``) overrides the choice without changing the estimates.

>>> from .serialize import load
>>> from .fixtures import fixture_path
>>> g = load(fixture_path("dgx_h100_8gpu"))
>>> choose_algorithm(g, 4096).algorithm, choose_algorithm(g, 64 << 20).algorithm
('one_shot', 'ring')
>>> round(estimate_allreduce_time(g, 1 << 30, "ring") * 1e3, 2)  # ms for 1 GiB
5.24
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import networkx as nx

from ... import config
from .errors import TopologyError
from .graph import gpus, link, link_bandwidth, p2p_usable, port
from .links import sync_latency_us
from .plan_ring import plan_ring
from .plan_tree import plan_tree

__all__ = ["CostModel", "Choice", "ALGORITHMS", "estimate_allreduce_time", "choose_algorithm",
           "crossover_bytes", "estimate_broadcast_time"]

ALGORITHMS = ("one_shot", "ring")


@dataclass(frozen=True)
class CostModel:
    """Named constants of the model; pass your own to tune it."""

    launch_us: float = 4.0            # start a collective: kernel launch and argument setup
    efficiency: float = 0.8           # share of nominal link bandwidth a copy kernel reaches (NCCL: ~80%)
    oneshot_max_bytes: int | None = None  # force the switch point (else VIBETENSOR_ONESHOT_MAX_BYTES, else times)
    level: str | None = None          # P2P level (else VIBETENSOR_P2P_LEVEL)


@dataclass(frozen=True)
class Choice:
    """The algorithm for one message size, its expected seconds, and every algorithm's estimate."""

    algorithm: str
    seconds: float
    estimates: Mapping[str, float] = field(default_factory=dict)
    reason: str = ""


def _bandwidth(g: nx.Graph, a: int, b: int, m: CostModel) -> float:
    gbps = link_bandwidth(g, a, b, m.level)
    # Probed figures are already what a copy reaches; nominal ones are not.
    return gbps if link(g, a, b).get("measured_uni_gbps") else gbps * m.efficiency


def _affine(g: nx.Graph, algorithm: str, nodes: list[int], m: CostModel) -> tuple[float, float]:
    """(fixed seconds, seconds per byte) of an all-reduce over ``nodes``."""
    n = len(nodes)
    if algorithm == "ring":
        ring = plan_ring(g, nodes, m.level)
        lat = max(sync_latency_us(h.kind, h.p2p) for h in ring.hops)
        slowest = min(_bandwidth(g, h.src, h.dst, m) for h in ring.hops)
        return (m.launch_us + 2 * (n - 1) * lat) * 1e-6, 2 * (n - 1) / n / (slowest * 1e9)
    if algorithm == "one_shot":
        blocked = next(((a, b) for a in nodes for b in nodes if a < b and not p2p_usable(g, a, b, m.level)), None)
        if blocked:
            level = m.level or config.get("VIBETENSOR_P2P_LEVEL", error=TopologyError)
            raise TopologyError(f"one-shot needs peer access between every pair; GPUs {blocked[0]} and "
                                f"{blocked[1]} have none (P2P level {level})")
        lat = max(sync_latency_us(link(g, a, b)["kind"], p2p_usable(g, a, b, m.level))
                  for a in nodes for b in nodes if a < b)
        per_byte = 0.0
        for a in nodes:
            # Bytes from peers behind one shared port queue up; separate ports run side by side.
            ports: dict[str, float] = {}
            for b in nodes:
                if b != a:
                    ports[port(g, a, b)] = ports.get(port(g, a, b), 0.0) + 1 / (_bandwidth(g, b, a, m) * 1e9)
            per_byte = max(per_byte, max(ports.values()))
        return (m.launch_us + 2 * lat) * 1e-6, per_byte
    raise TopologyError(f"unknown all-reduce algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")


def _is_clique(g: nx.Graph, nodes: list[int], m: CostModel) -> bool:
    return all(p2p_usable(g, a, b, m.level) for a in nodes for b in nodes if a < b)


def _nodes(g: nx.Graph, among: Iterable[int] | None) -> list[int]:
    nodes = sorted(set(gpus(g) if among is None else among))
    if not nodes:
        raise TopologyError("no GPUs to run a collective on")
    return nodes


def estimate_allreduce_time(g: nx.Graph, nbytes: int, algorithm: str | None = None,
                            among: Iterable[int] | None = None, model: CostModel | None = None) -> float:
    """Expected seconds for an all-reduce of ``nbytes`` per GPU (``algorithm`` None: the chosen one).

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> estimate_allreduce_time(load(fixture_path("single_gpu")), 1 << 20)
    0.0
    """
    if algorithm is None:
        return choose_algorithm(g, nbytes, among, model).seconds
    m = model or CostModel()
    nodes = _nodes(g, among)
    if nbytes < 0:
        raise TopologyError(f"message size must be >= 0 bytes, got {nbytes}")
    if len(nodes) == 1:
        return 0.0
    fixed, per_byte = _affine(g, algorithm, nodes, m)
    return fixed + per_byte * nbytes


def crossover_bytes(g: nx.Graph, among: Iterable[int] | None = None, model: CostModel | None = None) -> int | None:
    """Smallest size at which the ring is at least as fast as one-shot (None: one-shot always wins).

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> crossover_bytes(load(fixture_path("dgx_h100_8gpu")))
    822858
    """
    m = model or CostModel()
    nodes = _nodes(g, among)
    if len(nodes) < 2:
        return None
    if not _is_clique(g, nodes, m):
        return 0
    (f1, b1), (f2, b2) = _affine(g, "one_shot", nodes, m), _affine(g, "ring", nodes, m)
    if b1 <= b2:
        return 0 if f2 < f1 else None
    return max(0, -int(-(f2 - f1) // (b1 - b2)))  # ceiling


def choose_algorithm(g: nx.Graph, nbytes: int, among: Iterable[int] | None = None,
                     model: CostModel | None = None, environ: Mapping[str, str] | None = None) -> Choice:
    """The all-reduce algorithm for ``nbytes`` per GPU: the faster estimate (one-shot on a tie),
    unless a one-shot size limit is set.

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> g = load(fixture_path("dgx_h100_8gpu"))
    >>> choose_algorithm(g, 4096, environ={"VIBETENSOR_ONESHOT_MAX_BYTES": "1024"}).algorithm
    'ring'
    """
    m = model or CostModel()
    nodes = _nodes(g, among)
    if nbytes < 0:
        raise TopologyError(f"message size must be >= 0 bytes, got {nbytes}")
    if len(nodes) == 1:
        return Choice("local", 0.0, {"local": 0.0}, "one GPU: nothing to exchange")
    if not _is_clique(g, nodes, m):
        t = estimate_allreduce_time(g, nbytes, "ring", nodes, m)
        return Choice("ring", t, {"ring": t}, "not every pair has peer access, so one-shot is out")
    times = {a: estimate_allreduce_time(g, nbytes, a, nodes, m) for a in ALGORITHMS}
    limit = m.oneshot_max_bytes
    if limit is None:
        limit = config.get("VIBETENSOR_ONESHOT_MAX_BYTES", environ, error=TopologyError)
    if limit is not None:
        pick = "one_shot" if nbytes <= limit else "ring"
        return Choice(pick, times[pick], times, f"one-shot size limit {limit} bytes")
    pick = "one_shot" if times["one_shot"] <= times["ring"] else "ring"
    return Choice(pick, times[pick], times, "fastest estimate")


def estimate_broadcast_time(g: nx.Graph, nbytes: int, root: int | None = None,
                            among: Iterable[int] | None = None, model: CostModel | None = None) -> float:
    """Expected seconds to broadcast (or reduce) ``nbytes`` over :func:`plan_tree`'s tree, pipelined:
    one handshake per level plus the bytes over the slowest hop.

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> round(estimate_broadcast_time(load(fixture_path("dgx_h100_8gpu")), 1 << 30) * 1e3, 2)
    5.97
    """
    m = model or CostModel()
    nodes = _nodes(g, among)
    if len(nodes) == 1:
        return 0.0
    tree = plan_tree(g, root, nodes, level=m.level)
    lat = max(sync_latency_us(h.kind, h.p2p) for h in tree.hops)
    probed = all(link(g, h.src, h.dst).get("measured_uni_gbps") for h in tree.hops)
    gbps = tree.bottleneck_gbps * (1.0 if probed else m.efficiency)
    return (m.launch_us + tree.depth * lat) * 1e-6 + nbytes / (gbps * 1e9)
