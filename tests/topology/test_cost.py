"""The all-reduce cost model: hand-computed estimates, the crossover, overrides, and edge cases."""

from __future__ import annotations

import pytest

from vibetensor.fabric.topology import (
    CostModel, TopologyError, choose_algorithm, crossover_bytes, estimate_allreduce_time, estimate_broadcast_time,
)
from topo_graphs import uniform_graph

GIB = 1 << 30


def test_ring_estimate_by_hand(dgx):
    # launch 4 us + 2(n-1)=14 handshakes x 1 us (NVLink) + 2(n-1)/n x S over 450 x 0.8 GB/s
    expected = (4 + 14 * 1.0) * 1e-6 + 1.75 * GIB / (450 * 0.8 * 1e9)
    assert estimate_allreduce_time(dgx, GIB, "ring") == pytest.approx(expected, rel=1e-12)


def test_one_shot_estimate_by_hand(dgx):
    # launch + two barriers; each GPU pulls 7 x S through its one NVSwitch port.
    expected = (4 + 2 * 1.0) * 1e-6 + 7 * 4096 / (360e9)
    assert estimate_allreduce_time(dgx, 4096, "one_shot") == pytest.approx(expected, rel=1e-12)


def test_one_shot_over_direct_nvlinks_runs_in_parallel():
    # A direct NVLink mesh (no switch): each peer's bytes arrive over their own links.
    mesh = uniform_graph(4, kind="NV4")
    assert estimate_allreduce_time(mesh, 10**8, "one_shot") == pytest.approx(6e-6 + 10**8 / (100 * 0.8e9))
    switched = uniform_graph(4, kind="NV4", via_nvswitch=True)
    assert estimate_allreduce_time(switched, 10**8, "one_shot") == pytest.approx(6e-6 + 3 * 10**8 / (100 * 0.8e9))


def test_crossover_is_where_the_estimates_meet(dgx):
    x = crossover_bytes(dgx)
    assert x == 822858
    below, at = choose_algorithm(dgx, x - 1), choose_algorithm(dgx, x)
    assert below.algorithm == "one_shot" and at.algorithm == "ring"
    assert below.estimates["one_shot"] < below.estimates["ring"]
    assert at.estimates["ring"] <= at.estimates["one_shot"]


@pytest.mark.parametrize("size, algorithm", [(0, "one_shot"), (4096, "one_shot"), (256 << 10, "one_shot"),
                                             (4 << 20, "ring"), (GIB, "ring")])
def test_dgx_choices(dgx, size, algorithm):
    c = choose_algorithm(dgx, size)
    assert c.algorithm == algorithm and c.seconds == min(c.estimates.values()) and c.reason == "fastest estimate"


def test_two_gpus_never_need_the_ring(bridge):
    # n=2: the ring moves the same bytes as one-shot with as many handshakes; one-shot wins ties.
    assert crossover_bytes(bridge, among=[0, 1]) is None
    assert choose_algorithm(bridge, GIB, among=[0, 1]).algorithm == "one_shot"


def test_without_a_p2p_clique_only_the_ring_is_offered(pcie4):
    c = choose_algorithm(pcie4, 4096)
    assert c.algorithm == "ring" and list(c.estimates) == ["ring"]
    assert "one-shot is out" in c.reason
    assert crossover_bytes(pcie4) == 0
    with pytest.raises(TopologyError, match="one-shot needs peer access between every pair; GPUs 0 and 2 have none"):
        estimate_allreduce_time(pcie4, 4096, "one_shot")


def test_staged_hops_cost_more(pcie4):
    # The ring over both sockets pays host staging on its two SYS hops.
    t = estimate_allreduce_time(pcie4, GIB, "ring")
    expected = (4 + 6 * 8.0) * 1e-6 + 1.5 * GIB / (12.6 * 0.5 * 0.8e9)
    assert t == pytest.approx(expected)


def test_threshold_overrides(dgx):
    env = {"VIBETENSOR_ONESHOT_MAX_BYTES": "64536"}
    assert choose_algorithm(dgx, 64536, environ=env).algorithm == "one_shot"
    c = choose_algorithm(dgx, 64537, environ=env)
    assert c.algorithm == "ring" and "64536" in c.reason and c.estimates["one_shot"] < c.estimates["ring"]
    assert choose_algorithm(dgx, 8 << 20, model=CostModel(oneshot_max_bytes=16 << 20)).algorithm == "one_shot"


def test_model_constants_are_tunable(dgx):
    slow_launch = CostModel(launch_us=100.0)
    assert estimate_allreduce_time(dgx, 0, "ring", model=slow_launch) == pytest.approx(114e-6)
    assert crossover_bytes(dgx, model=CostModel(efficiency=0.4)) == pytest.approx(822858 / 2, abs=1)


def test_measured_bandwidth_replaces_nominal(dgx):
    for u, v, d in dgx.edges(data=True):
        if d["role"] == "peer":
            d["measured_uni_gbps"] = 300.0
    expected = 18e-6 + 1.75 * GIB / 300e9  # measured figures are not scaled by efficiency
    assert estimate_allreduce_time(dgx, GIB, "ring") == pytest.approx(expected)


def test_single_gpu_is_local(single):
    c = choose_algorithm(single, GIB)
    assert (c.algorithm, c.seconds) == ("local", 0.0)
    assert estimate_allreduce_time(single, GIB) == 0.0 and crossover_bytes(single) is None


def test_broadcast_estimate(dgx):
    # depth 3 x 1 us + S over 225 GB/s (a port split over two children) x 0.8
    assert estimate_broadcast_time(dgx, GIB) == pytest.approx(7e-6 + GIB / (225 * 0.8e9))
    assert estimate_broadcast_time(dgx, GIB, root=3, among=[3]) == 0.0


def test_bad_requests(dgx):
    with pytest.raises(TopologyError, match="unknown all-reduce algorithm 'tree'"):
        estimate_allreduce_time(dgx, 1, "tree")
    with pytest.raises(TopologyError, match="must be >= 0 bytes"):
        choose_algorithm(dgx, -1)
    with pytest.raises(TopologyError, match="no GPUs to run a collective on"):
        choose_algorithm(dgx, 1, among=[])
    with pytest.raises(TopologyError, match="VIBETENSOR_ONESHOT_MAX_BYTES='lots' is invalid"):
        choose_algorithm(dgx, 1, environ={"VIBETENSOR_ONESHOT_MAX_BYTES": "lots"})
