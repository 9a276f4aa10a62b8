"""Per-GPU CPU and NUMA affinity."""

from __future__ import annotations

from vibetensor.fabric.topology import affinities, gpu_affinity
from topo_graphs import uniform_graph


def test_fixture_affinities(dgx, pcie4, single):
    assert [(a.gpu, a.numa_node, a.cpulist, a.source) for a in affinities(dgx)][3:5] == [
        (3, 0, "0-55,112-167", "gpu"), (4, 1, "56-111,168-223", "gpu")]
    assert gpu_affinity(pcie4, 3).cpulist == "32-63,96-127"
    assert gpu_affinity(single, 0).cpus == tuple(range(16))


def test_falls_back_to_the_numa_node_then_to_every_cpu():
    from vibetensor.fabric.topology.graph import add_numa
    g = uniform_graph(2, numa_of=lambda i: [1, None][i])
    add_numa(g, 0, (0, 1))
    add_numa(g, 1, (2, 3))
    a, b = affinities(g)
    assert (a.numa_node, a.cpus, a.source) == (1, (2, 3), "numa")
    assert (b.numa_node, b.cpus, b.source) == (None, (0, 1, 2, 3), "any")
