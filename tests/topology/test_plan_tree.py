"""Broadcast/reduce trees: shapes on the fixtures, fan-out, NUMA crossings, bad requests."""

from __future__ import annotations

import networkx as nx
import pytest

from vibetensor.fabric.topology import TopologyError, fixture_path, gpus, load, plan_tree
from topo_graphs import random_graph, two_boxes, uniform_graph


def as_graph(tree) -> nx.DiGraph:
    return nx.DiGraph([(p, c) for c, p in tree.parent.items() if p is not None])


def test_every_fixture_tree_spans_its_gpus(fixture_name):
    g = load(fixture_path(fixture_name))
    t = plan_tree(g)
    assert sorted(t.parent) == gpus(g) and t.parent[t.root] is None
    if len(gpus(g)) > 1:
        d = as_graph(t)
        assert nx.is_arborescence(d) and max(d.out_degree(n) for n in d) <= 2


def test_dgx_tree_is_balanced_binary(dgx):
    t = plan_tree(dgx)
    assert t.children == {0: (1, 2), 1: (3, 4), 2: (5, 6), 4: (7,)}
    assert t.depth == 3  # ceil(log2(8 + 1)) - 1
    assert t.bottleneck_gbps == 225.0  # a parent's NVSwitch port split over two children


def test_fanout_one_is_a_chain(dgx):
    t = plan_tree(dgx, fanout=1)
    assert t.depth == 7 and t.bottleneck_gbps == 450.0
    assert [h.dst for h in t.hops] == [1, 2, 3, 4, 5, 6, 7]


def test_slow_links_used_only_where_needed(pcie4):
    t = plan_tree(pcie4, root=3)
    assert t.children == {3: (0, 2), 0: (1,)}
    assert t.cross_numa_hops == 1 and [h.kind for h in t.hops] == ["PIX", "SYS", "PIX"]


def test_two_boxes_cross_once():
    t = plan_tree(two_boxes(4), root=5)
    assert t.cross_numa_hops == 1
    assert t.children == {5: (4, 6), 4: (0, 7), 0: (1, 2), 1: (3,)}


def test_direct_nvlink_children_do_not_share_a_port(bridge):
    t = plan_tree(bridge)
    assert t.children == {0: (1, 2), 2: (3,)}
    # GPU0 feeds GPU1 over its NVLink bridge and GPU2 over PCIe: separate ports, no split.
    assert t.bottleneck_gbps == 18.9 * 0.5


def test_root_and_subset(dgx):
    t = plan_tree(dgx, root=6, among=[6, 2, 7])
    assert t.root == 6 and t.children == {6: (2, 7)} and t.depth == 1


@pytest.mark.parametrize("seed", range(5))
def test_tree_is_a_maximum_spanning_tree_when_fanout_allows(seed):
    g = random_graph(6, seed)
    t = plan_tree(g, fanout=5)  # no cap: Prim's algorithm from the root
    from vibetensor.fabric.topology.graph import link_bandwidth
    h = nx.Graph()
    for a in gpus(g):
        for b in gpus(g):
            if a < b:
                h.add_edge(a, b, w=link_bandwidth(g, a, b))
    best = sum(d["w"] for *_, d in nx.maximum_spanning_tree(h, weight="w").edges(data=True))
    assert sum(hop.bandwidth_gbps for hop in t.hops) == pytest.approx(best)


def test_single_gpu_tree(single):
    t = plan_tree(single)
    assert (t.root, t.depth, t.hops, t.bottleneck_gbps) == (0, 0, (), None)


def test_str_of_a_tree(dgx):
    assert str(plan_tree(dgx)) == "0 -> (1 -> (3, 4 -> (7)), 2 -> (5, 6))  (depth 3, slowest hop 225 GB/s)"


def test_bad_requests(dgx):
    with pytest.raises(TopologyError, match=r"root GPU 9 is not among GPUs \[0, 1"):
        plan_tree(dgx, root=9)
    with pytest.raises(TopologyError, match="fanout must be >= 1"):
        plan_tree(dgx, fanout=0)
    with pytest.raises(TopologyError, match="at least one GPU"):
        plan_tree(dgx, among=[])
    with pytest.raises(TopologyError, match="no GPU 12"):
        plan_tree(uniform_graph(3), among=[0, 12])
