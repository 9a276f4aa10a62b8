"""Ring planning: bottleneck optimality against brute force, NUMA grouping, determinism, heuristics."""

from __future__ import annotations

import itertools

import pytest

from vibetensor.fabric.topology import TopologyError, fixture_path, gpus, load, plan_ring
from vibetensor.fabric.topology.plan_ring import ring_hops
from topo_graphs import random_graph, two_boxes, uniform_graph


def brute_force_best(g, nodes=None):
    """(bottleneck, -cross-NUMA hops, total GB/s) of the best ring, by trying every order."""
    nodes = sorted(gpus(g) if nodes is None else nodes)
    best = None
    for rest in itertools.permutations(nodes[1:]):
        r = ring_hops(g, (nodes[0],) + rest)
        score = (r.bottleneck_gbps, -r.cross_numa_hops, round(sum(h.bandwidth_gbps for h in r.hops), 6))
        best = score if best is None or score > best else best
    return best


def score(r):
    return (r.bottleneck_gbps, -r.cross_numa_hops, round(sum(h.bandwidth_gbps for h in r.hops), 6))


def test_fixture_rings_are_optimal(fixture_name):
    g = load(fixture_path(fixture_name))
    ring = plan_ring(g)
    assert sorted(ring.order) == gpus(g) and ring.exact
    if len(gpus(g)) > 1:
        assert score(ring) == brute_force_best(g)


@pytest.mark.parametrize("seed", range(12))
def test_random_rings_are_optimal(seed):
    g = random_graph(7, seed)
    assert score(plan_ring(g)) == brute_force_best(g)


def test_known_rings(dgx, pcie4, bridge, single):
    assert plan_ring(dgx).order == (0, 1, 2, 3, 4, 5, 6, 7)
    assert plan_ring(dgx).bottleneck_gbps == 450.0 and plan_ring(dgx).cross_numa_hops == 2
    # Bridge box: the NVLink pair and the PCIe-switch pair stay adjacent; the two PCIe hops between
    # them have no peer access at level PXB and are staged through host memory.
    r = plan_ring(bridge)
    assert r.order == (0, 1, 2, 3)
    assert [(h.src, h.dst, h.kind, h.p2p) for h in r.hops] == \
        [(0, 1, "NV4", True), (1, 2, "NODE", False), (2, 3, "PIX", True), (3, 0, "NODE", False)]
    assert r.bottleneck_gbps == 18.9 * 0.5
    assert plan_ring(pcie4).cross_numa_hops == 2
    assert plan_ring(single).order == (0,) and plan_ring(single).bottleneck_gbps is None


def test_numa_local_hops_stay_together():
    # Uniform NVSwitch box with GPUs interleaved over two NUMA nodes: the ring must visit all of one
    # node's GPUs, then all of the other's (two crossings), not alternate.
    g = uniform_graph(8, numa_of=lambda i: i % 2, via_nvswitch=True)
    r = plan_ring(g)
    assert r.order == (0, 1, 3, 5, 7, 2, 4, 6) and r.cross_numa_hops == 2
    numa = [g.nodes[f"gpu{i}"]["numa_node"] for i in r.order]
    assert sum(numa[k] != numa[k - 1] for k in range(len(numa))) == 2  # counted around the ring


def test_bottleneck_comes_before_numa():
    # Crossing NUMA three more times is worth it when it avoids a slow hop.
    g = uniform_graph(4, kind="NV2", numa_of=lambda i: i % 2)
    g.edges["gpu0", "gpu2"]["bandwidth_gbps"] = 1.0
    g.edges["gpu1", "gpu3"]["bandwidth_gbps"] = 1.0
    r = plan_ring(g)
    assert r.bottleneck_gbps == 50.0 and r.cross_numa_hops == 4


def test_measured_bandwidth_steers_the_ring(dgx):
    dgx.edges["gpu3", "gpu4"]["measured_uni_gbps"] = 90.0  # a degraded pair found by --probe
    r = plan_ring(dgx)
    assert {frozenset((h.src, h.dst)) for h in r.hops}.isdisjoint({frozenset((3, 4))})
    assert r.bottleneck_gbps == 450.0


def test_ring_over_a_subset_and_levels(bridge):
    assert plan_ring(bridge, among=[3, 1, 2]).order == (1, 2, 3)
    assert plan_ring(bridge, level="SYS").bottleneck_gbps == 18.9  # PCIe peer access allowed everywhere


def test_two_gpu_ring_goes_there_and_back(bridge):
    r = plan_ring(bridge, among=[0, 1])
    assert [(h.src, h.dst) for h in r.hops] == [(0, 1), (1, 0)] and r.bottleneck_gbps == 100.0


def test_heuristic_beyond_the_exact_limit():
    g = two_boxes(8)
    r = plan_ring(g)
    assert not r.exact and sorted(r.order) == list(range(16))
    # Best possible: only the two unavoidable crossings between the boxes are slow.
    assert r.cross_numa_hops == 2 and r.bottleneck_gbps == 12.6 * 0.5
    assert sum(h.kind == "SYS" for h in r.hops) == 2


def test_heuristic_matches_exact_on_fixtures(fixture_name):
    g = load(fixture_path(fixture_name))
    assert score(plan_ring(g, exact_max=0)) == score(plan_ring(g))


def test_str_of_a_ring(dgx, bridge):
    assert str(plan_ring(dgx)) == "0 -> 1 -> 2 -> 3 -> 4 -> 5 -> 6 -> 7 -> 0  (slowest hop 450 GB/s, 2 cross-NUMA hop(s))"
    assert "2 hop(s) staged through host memory" in str(plan_ring(bridge))


def test_bad_requests(dgx):
    with pytest.raises(TopologyError, match="no GPU 9 in the topology"):
        plan_ring(dgx, among=[0, 9])
    with pytest.raises(TopologyError, match="visits each GPU once"):
        ring_hops(dgx, [0, 1, 0])
