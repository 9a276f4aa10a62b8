"""Islands (components of the P2P graph) and cliques (true cliques, not components)."""

from __future__ import annotations

import pytest

from vibetensor.fabric.topology import cliques, islands, p2p_graph
from vibetensor.fabric.topology.graph import add_gpu, add_peer, new_graph

EXPECTED = {
    # fixture: (islands, cliques) at the default P2P level (PXB)
    "dgx_h100_8gpu": ([(0, 1, 2, 3, 4, 5, 6, 7)], [(0, 1, 2, 3, 4, 5, 6, 7)]),
    "pcie_4gpu_2socket": ([(0, 1), (2, 3)], [(0, 1), (2, 3)]),
    "nvlink_bridge_2plus2": ([(0, 1), (2, 3)], [(0, 1), (2, 3)]),
    "single_gpu": ([(0,)], [(0,)]),
}


def test_fixture_islands_and_cliques(fixture_name):
    from vibetensor.fabric.topology import fixture_path, load
    g = load(fixture_path(fixture_name))
    assert (islands(g), cliques(g)) == EXPECTED[fixture_name]


def test_p2p_level_widens_islands(bridge, pcie4, monkeypatch):
    assert islands(bridge, level="NODE") == [(0, 1, 2, 3)]
    assert islands(pcie4, level="NODE") == [(0, 1), (2, 3)]  # cross-socket pairs are SYS
    monkeypatch.setenv("VIBETENSOR_P2P_LEVEL", "SYS")
    assert islands(pcie4) == [(0, 1, 2, 3)] and cliques(pcie4) == [(0, 1, 2, 3)]


def test_cliques_are_not_components():
    # 0-1 and 1-2 have peer access, 0-2 does not: one island, two cliques.
    g = new_graph("chain")
    for i in range(4):
        add_gpu(g, i, numa_node=0)
    add_peer(g, 0, 1, "NV2")
    add_peer(g, 1, 2, "PIX")
    add_peer(g, 0, 2, "PIX", p2p_access=False)
    for a, b in ((0, 3), (1, 3), (2, 3)):
        add_peer(g, a, b, "SYS")
    assert islands(g) == [(0, 1, 2), (3,)]
    assert cliques(g) == [(0, 1), (1, 2), (3,)]


def test_driver_refusal_beats_the_level(dgx):
    dgx.edges["gpu2", "gpu5"]["p2p_access"] = False
    assert islands(dgx) == [(0, 1, 2, 3, 4, 5, 6, 7)]
    assert cliques(dgx) == [(0, 1, 2, 3, 4, 6, 7), (0, 1, 3, 4, 5, 6, 7)]


def test_p2p_graph_weights_and_subset(bridge):
    h = p2p_graph(bridge, among=[0, 1, 3])
    assert sorted(h.nodes) == [0, 1, 3] and list(h.edges(data="bandwidth_gbps")) == [(0, 1, 100.0)]


def test_empty_graph():
    assert islands(new_graph("empty")) == [] and cliques(new_graph("empty")) == []


@pytest.mark.parametrize("level", ["PIX", "PXB", "PHB", "NODE", "SYS"])
def test_every_clique_is_inside_one_island(level):
    from topo_graphs import random_graph
    g = random_graph(9, seed=7)
    isl = islands(g, level)
    for c in cliques(g, level):
        assert any(set(c) <= set(i) for i in isl)
