"""The real sysfs reader on a small /sys tree built in a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vibetensor.fabric.topology import SourceUnavailable, discover, gpu, gpus, link
from vibetensor.fabric.topology.source_sysfs import SysfsSource
from topo_fakes import FakeGpu, FakeMachine

GPU_A, GPU_B, GPU_C, NIC = "0000:03:00.0", "0000:04:00.0", "0000:81:00.0", "0000:05:00.0"


def _device(sys: Path, chain: list[str], *, numa: int, cpus: str, vendor="0x10de", cls="0x030200") -> None:
    real = sys / "devices" / Path(*chain)
    real.mkdir(parents=True)
    (real / "numa_node").write_text(f"{numa}\n")
    (real / "local_cpulist").write_text(f"{cpus}\n")
    (real / "vendor").write_text(f"{vendor}\n")
    (real / "class").write_text(f"{cls}\n")
    link = sys / "bus/pci/devices" / chain[-1]
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(real, link.parent), link)


@pytest.fixture
def fake_sys(tmp_path) -> Path:
    sys = tmp_path / "sys"
    for node, cpus in ((0, "0-3"), (1, "4-7")):
        d = sys / f"devices/system/node/node{node}"
        d.mkdir(parents=True)
        (d / "cpulist").write_text(cpus + "\n")
    switch = ["pci0000:00", "0000:00:01.0", "0000:01:00.0"]
    _device(sys, switch + ["0000:02:00.0", GPU_A], numa=0, cpus="0-3")
    _device(sys, switch + ["0000:02:04.0", GPU_B], numa=0, cpus="0-3")
    _device(sys, switch + ["0000:02:08.0", NIC], numa=0, cpus="0-3", vendor="0x15b3", cls="0x020700")
    _device(sys, ["pci0000:80", "0000:80:01.0", GPU_C], numa=1, cpus="4-7")
    ib = sys / "class/infiniband/mlx5_0"
    ib.mkdir(parents=True)
    os.symlink(os.path.relpath(sys / "devices" / Path(*switch, "0000:02:08.0", NIC), ib), ib / "device")
    return sys


def test_reads_numa_nodes_devices_and_nics(fake_sys):
    s = SysfsSource(fake_sys)
    assert s.numa_nodes() == {0: (0, 1, 2, 3), 1: (4, 5, 6, 7)}
    assert s.nvidia_gpus() == [GPU_A, GPU_B, GPU_C]
    assert s.nics() == [("mlx5_0", NIC)]
    a = s.pci_device("00000000:03:00.0")  # NVML's spelling of the same bus id
    assert a.ancestors == ("pci0000:00", "0000:00:01.0", "0000:01:00.0", "0000:02:00.0", GPU_A)
    assert a.numa_node == 0 and a.local_cpus == (0, 1, 2, 3)
    assert s.pci_device("0000:99:00.0") is None


def test_numa_minus_one_means_unknown(fake_sys):
    real = (fake_sys / "bus/pci/devices" / GPU_C).resolve()
    (real / "numa_node").write_text("-1\n")
    assert SysfsSource(fake_sys).pci_device(GPU_C).numa_node is None


def test_machine_without_numa_directory_uses_online_cpus(tmp_path):
    cpu = tmp_path / "devices/system/cpu"
    cpu.mkdir(parents=True)
    (cpu / "online").write_text("0-5\n")
    assert SysfsSource(tmp_path).numa_nodes() == {0: (0, 1, 2, 3, 4, 5)}


def test_missing_sysfs_is_unavailable(tmp_path):
    with pytest.raises(SourceUnavailable, match="no sysfs at"):
        SysfsSource(tmp_path / "nothing")


def test_discovery_over_the_tree(fake_sys):
    machine = FakeMachine([FakeGpu(GPU_A, "GPU-a", 0), FakeGpu(GPU_B, "GPU-b", 0), FakeGpu(GPU_C, "GPU-c", 1)],
                          numa={0: (0, 1, 2, 3), 1: (4, 5, 6, 7)})
    g = discover(cuda=machine.cuda(), nvml=SourceUnavailable("not installed (test)"), sysfs=SysfsSource(fake_sys), environ={})
    assert gpus(g) == [0, 1, 2]
    assert link(g, 0, 1)["kind"] == "PIX" and link(g, 0, 2)["kind"] == "SYS"
    assert gpu(g, 2)["numa_node"] == 1 and gpu(g, 2)["cpu_affinity"] == (4, 5, 6, 7)
    assert g.nodes["nic0"]["name"] == "mlx5_0" and g.edges["gpu0", "nic0"]["kind"] == "PIX"
    assert g.edges["gpu2", "nic0"]["kind"] == "SYS"
    # The PCIe switch shows as bridges between the root port and the devices.
    assert g.edges["pci:0000:01:00.0", "pci:0000:02:00.0"]["role"] == "pcie"
    assert g.edges["pci:0000:02:00.0", "gpu0"]["role"] == "pcie"
    assert g.edges["pci:0000:00:01.0", "numa0"]["role"] == "attach"


def test_stranded_gpus_are_noted(fake_sys):
    g = discover(cuda=SourceUnavailable("no driver"), nvml=SourceUnavailable("no NVML"), sysfs=SysfsSource(fake_sys), environ={})
    assert gpus(g) == []
    assert "no GPUs: sysfs shows 3 NVIDIA GPU(s) that no usable driver exposes" in g.graph["notes"]
