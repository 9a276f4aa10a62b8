"""Small graph builders for planning tests (beyond the shipped fixtures)."""

from __future__ import annotations

import random

import networkx as nx

from vibetensor.fabric.topology.graph import add_gpu, add_numa, add_peer, new_graph

KINDS = ("NV1", "NV2", "NV4", "NV12", "PIX", "PXB", "PHB", "NODE", "SYS")


def random_graph(n: int, seed: int, numa_nodes: int = 2) -> nx.Graph:
    """n GPUs over ``numa_nodes`` NUMA nodes, every pair a random kind, some pairs refusing P2P."""
    r = random.Random(seed)
    g = new_graph(f"random-{n}-{seed}")
    for node in range(numa_nodes):
        add_numa(g, node, (node,))
    for i in range(n):
        add_gpu(g, i, numa_node=r.randrange(numa_nodes))
    for i in range(n):
        for j in range(i + 1, n):
            add_peer(g, i, j, r.choice(KINDS), p2p_access=r.random() > 0.2)
    return g


def uniform_graph(n: int, kind: str = "NV18", numa_of=lambda i: 0, **attrs) -> nx.Graph:
    """n GPUs, every pair the same kind."""
    g = new_graph(f"uniform-{n}-{kind}")
    for i in range(n):
        add_gpu(g, i, numa_node=numa_of(i))
    for i in range(n):
        for j in range(i + 1, n):
            add_peer(g, i, j, kind, **attrs)
    return g


def two_boxes(per_box: int = 8) -> nx.Graph:
    """Two NVSwitch boxes of ``per_box`` GPUs (one NUMA node each) joined only across sockets (SYS)."""
    g = new_graph("two-boxes")
    n = 2 * per_box
    for i in range(n):
        add_gpu(g, i, numa_node=i // per_box)
    for i in range(n):
        for j in range(i + 1, n):
            same = i // per_box == j // per_box
            add_peer(g, i, j, "NV18" if same else "SYS", via_nvswitch=same)
    return g
