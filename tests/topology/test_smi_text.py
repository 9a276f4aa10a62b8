"""Parsing `nvidia-smi topo -m` text: every fixture, the shapes real output takes, and bad input."""

from __future__ import annotations

import pytest

from vibetensor.fabric.topology import (
    TopologyFileError, fixture_path, format_topo_matrix, from_topo_matrix, gpu, gpus, link, numa_nodes,
)
from vibetensor.fabric.topology.graph import nics, peer_pairs


def read(name: str) -> str:
    with open(fixture_path(name)) as f:
        return f.read()


def test_dgx_fixture(dgx):
    assert gpus(dgx) == list(range(8))
    assert {link(dgx, a, b)["kind"] for a, b in peer_pairs(dgx)} == {"NV18"}
    assert len(peer_pairs(dgx)) == 28
    assert link(dgx, 0, 7)["bandwidth_gbps"] == 450.0
    assert numa_nodes(dgx) == {0: tuple(range(56)) + tuple(range(112, 168)),
                               1: tuple(range(56, 112)) + tuple(range(168, 224))}
    assert [gpu(dgx, i)["numa_node"] for i in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [n["name"] for n in nics(dgx)] == [f"mlx5_{i}" for i in range(12)]
    assert dgx.edges["gpu0", "nic0"]["kind"] == "PXB" and dgx.edges["gpu0", "nic6"]["kind"] == "SYS"
    assert dgx.nodes["nic10"]["numa_node"] == 1
    # 7 peers x 18 links is more than one GPU has: the links go through an NVSwitch.
    assert dgx.nodes["nvswitch0"]["type"] == "nvswitch"
    assert all(link(dgx, a, b)["via_nvswitch"] for a, b in peer_pairs(dgx))
    assert dgx.edges["gpu3", "nvswitch0"]["nvlinks"] == 18


def test_pcie_fixture_with_ansi_header_and_tabs(pcie4):
    assert "\x1b[4m" in read("pcie_4gpu_2socket") and "\t" in read("pcie_4gpu_2socket")
    kinds = {(a, b): link(pcie4, a, b)["kind"] for a, b in peer_pairs(pcie4)}
    assert kinds == {(0, 1): "PIX", (2, 3): "PIX", (0, 2): "SYS", (0, 3): "SYS", (1, 2): "SYS", (1, 3): "SYS"}
    assert gpu(pcie4, 2)["cpu_affinity"] == tuple(range(32, 64)) + tuple(range(96, 128))
    assert [n["numa_node"] for n in nics(pcie4)] == [0, 1]
    assert "nvswitch0" not in pcie4


def test_bridge_fixture(bridge):
    assert link(bridge, 0, 1)["kind"] == "NV4" and link(bridge, 0, 1)["nvlinks"] == 4
    assert not link(bridge, 0, 1)["via_nvswitch"]  # four links to one peer: a bridge, not a switch
    assert link(bridge, 2, 3)["kind"] == "PIX" and link(bridge, 1, 3)["kind"] == "NODE"
    assert bridge.edges["gpu0", "nic0"]["kind"] == "PHB"


def test_single_gpu_fixture(single):
    assert gpus(single) == [0] and peer_pairs(single) == [] and nics(single) == []
    assert gpu(single, 0)["cpu_affinity"] == tuple(range(16))


def test_every_fixture_survives_format_and_reparse(fixture_name):
    g = from_topo_matrix(read(fixture_name))
    again = from_topo_matrix(format_topo_matrix(g))
    assert sorted(g.edges(data="kind")) == sorted(again.edges(data="kind"))
    assert {n: d.get("cpu_affinity") for n, d in g.nodes(data=True)} == \
        {n: d.get("cpu_affinity") for n, d in again.nodes(data=True)}


def test_cells_glued_by_a_lost_tab_and_chatter_before_the_header():
    text = ("$ nvidia-smi topo -m\nNVIDIA Topology:\n"
            "        GPU0    GPU1    NIC0    CPU Affinity    NUMA Affinity   GPU NUMA ID\n"
            "GPU0     X      NV12NODE    0-7     0       N/A\n"
            "GPU1    NV12     X      SYS     8-15    1       N/A\n"
            "NIC0    NODESYS      X\n")
    g = from_topo_matrix(text)
    assert link(g, 0, 1)["kind"] == "NV12"
    assert g.edges["gpu1", "nic0"]["kind"] == "SYS" and g.edges["gpu0", "nic0"]["kind"] == "NODE"
    assert gpu(g, 1)["numa_node"] == 1 and g.nodes["nic0"]["name"] == "NIC0"


def test_old_drivers_soc_and_cpu_affinity_only():
    text = ("        GPU0    GPU1    CPU Affinity\n"
            "GPU0     X      SOC     0-9\n"
            "GPU1    SOC      X      10-19\n")
    g = from_topo_matrix(text)
    assert link(g, 0, 1)["kind"] == "SYS"
    assert gpu(g, 0)["numa_node"] is None and gpu(g, 1)["cpu_affinity"] == tuple(range(10, 20))


def test_na_affinity_and_gpu_numa_id():
    text = ("\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID\n"
            "GPU0\t X \tNV18\tN/A\tN/A\t\t2\n"
            "GPU1\tNV18\t X \tN/A\tN/A\t\t3\n")
    g = from_topo_matrix(text)
    assert gpu(g, 0)["cpu_affinity"] == () and gpu(g, 0)["numa_node"] is None
    assert gpu(g, 1)["gpu_numa_id"] == 3


GOOD = ("        GPU0    GPU1    CPU Affinity    NUMA Affinity   GPU NUMA ID\n"
        "GPU0     X      PIX     0-7     0       N/A\n"
        "GPU1    PIX      X      0-7     0       N/A\n")


@pytest.mark.parametrize("text, problem", [
    ("hello\nworld\n", "no `nvidia-smi topo -m` header"),
    (GOOD.replace("GPU1    PIX      X", "GPU1    PIX      Y"), "line 3 (GPU1): expected 2 link cells, column 2 is 'Y'"),
    (GOOD.replace("GPU1    PIX ", "GPU1    NV2 "), "GPU0->GPU1 is PIX but GPU1->GPU0 is NV2"),
    (GOOD.replace("GPU0     X      PIX", "GPU0    PIX     PIX"), "the diagonal must be X"),
    (GOOD.replace("GPU1    PIX      X      0-7", "GPU1    PIX      X      0-x"), "bad CPU Affinity '0-x'"),
    ("\n".join(GOOD.splitlines()[:2]) + "\n", "no row for GPU1"),
    (GOOD + "GPU1    PIX      X      0-7     0       N/A\n", "second row for GPU1"),
    (GOOD + "garbage line here\n", "line 4: unexpected line 'garbage line here'"),
    (GOOD.replace("0       N/A\nGPU1", "0       N/A   7\nGPU1"), "4 values after the link cells"),
])
def test_malformed_text_names_the_problem(text, problem):
    with pytest.raises(TopologyFileError) as info:
        from_topo_matrix(text, origin="pasted.txt")
    assert problem in str(info.value)
    assert str(info.value).startswith("topology file 'pasted.txt': ")
