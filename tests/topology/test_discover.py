"""Discovery from injected sources: merging by bus id, CUDA_VISIBLE_DEVICES, missing sources."""

from __future__ import annotations

import pytest

from vibetensor.fabric.topology import (
    SourceUnavailable, discover, fixture_path, gpu, gpus, link, load, numa_nodes, save,
)
from vibetensor.fabric.topology.graph import peer_pairs
from vibetensor.fabric.topology.source_cuda import CudaRuntimeSource, cuda_device_count
from vibetensor.fabric.topology.source_nvml import NvmlSource
from topo_fakes import DGX_BUSES, DGX_SWITCHES, dgx_h100, pcie_box

NO_CUDA = SourceUnavailable("no NVIDIA driver (test)")
NO_NVML = SourceUnavailable("NVML cannot start (test)")


def test_dgx_discovery_matches_its_topo_matrix():
    m = dgx_h100()
    g = discover(cuda=m.cuda(), nvml=m.nvml(), sysfs=m.sysfs(), environ={})
    text = load(fixture_path("dgx_h100_8gpu"))
    assert gpus(g) == gpus(text)
    for a, b in peer_pairs(text):
        assert link(g, a, b)["kind"] == link(text, a, b)["kind"] == "NV18"
        assert link(g, a, b)["via_nvswitch"] and link(g, a, b)["bandwidth_gbps"] == 450.0
    assert numa_nodes(g) == numa_nodes(text)
    assert [gpu(g, i)["cpu_affinity"] for i in gpus(g)] == [gpu(text, i)["cpu_affinity"] for i in gpus(text)]


def test_dgx_discovery_records_devices_p2p_and_switches():
    m = dgx_h100()
    g = discover(cuda=m.cuda(), nvml=m.nvml(), sysfs=m.sysfs(), environ={})
    d = gpu(g, 3)
    assert (d["name"], d["pci_bus_id"], d["sm_count"], d["compute_capability"]) == \
        ("NVIDIA H100 80GB HBM3", "0000:5d:00.0", 132, (9, 0))
    assert d["uuid"] == m.gpus[3].uuid and d["physical_index"] == 3 and d["pcie_gen"] == 5
    e = link(g, 0, 5)
    assert (e["p2p_access"], e["p2p_read"], e["p2p_write"], e["p2p_atomics"], e["perf_rank"], e["uva"]) == \
        (True, True, True, True, 0, True)
    switches = sorted(n for n, t in g.nodes(data="type") if t == "nvswitch")
    assert [g.nodes[s]["pci_bus_id"] for s in switches] == DGX_SWITCHES
    assert [g.edges["gpu0", s]["nvlinks"] for s in switches] == [5, 4, 5, 4]
    assert g.graph["notes"] == []


def test_cuda_visible_devices_through_the_cuda_runtime():
    # The runtime applied CUDA_VISIBLE_DEVICES=5,2: CUDA's device 0 is physical 5, device 1 physical 2.
    m = dgx_h100()
    g = discover(cuda=m.cuda(visible=[5, 2]), nvml=m.nvml(), sysfs=m.sysfs(), environ={"CUDA_VISIBLE_DEVICES": "5,2"})
    assert gpus(g) == [0, 1]
    assert [gpu(g, i)["pci_bus_id"] for i in (0, 1)] == [DGX_BUSES[5], DGX_BUSES[2]]
    assert [gpu(g, i)["physical_index"] for i in (0, 1)] == [5, 2]
    assert [gpu(g, i)["numa_node"] for i in (0, 1)] == [1, 0]
    assert link(g, 0, 1)["kind"] == "NV18"


def test_cuda_visible_devices_applied_to_nvml_when_cuda_is_missing():
    m = dgx_h100()
    env = {"CUDA_VISIBLE_DEVICES": f"{m.gpus[6].uuid[:12]},1"}
    g = discover(cuda=NO_CUDA, nvml=m.nvml(), sysfs=m.sysfs(), environ=env)
    assert [gpu(g, i)["physical_index"] for i in gpus(g)] == [6, 1]
    assert gpu(g, 0)["uuid"] == m.gpus[6].uuid
    assert any("CUDA_VISIBLE_DEVICES applied" in n for n in g.graph["notes"])
    assert "CUDA unavailable: no NVIDIA driver (test)" in g.graph["notes"]


def test_invalid_visible_entry_cuts_the_list_and_says_so():
    m = dgx_h100()
    g = discover(cuda=NO_CUDA, nvml=m.nvml(), sysfs=m.sysfs(), environ={"CUDA_VISIBLE_DEVICES": "3,9,4"})
    assert [gpu(g, i)["physical_index"] for i in gpus(g)] == [3]
    assert any("entry '9' names no GPU" in n for n in g.graph["notes"])


def test_empty_visible_devices_hides_every_gpu():
    m = dgx_h100()
    g = discover(cuda=NO_CUDA, nvml=m.nvml(), sysfs=m.sysfs(), environ={"CUDA_VISIBLE_DEVICES": ""})
    assert gpus(g) == []
    assert "no GPUs: CUDA_VISIBLE_DEVICES='' hides the 8 GPU(s) NVML sees" in g.graph["notes"]
    g = discover(cuda=m.cuda(visible=[]), nvml=SourceUnavailable("no"), sysfs=m.sysfs(), environ={})
    assert "no GPUs: the CUDA runtime reports no device" in g.graph["notes"]


def test_without_nvml_p2p_comes_from_cuda_and_kinds_from_sysfs_paths():
    m = pcie_box()
    # Per socket: host bridge, root port, switch upstream port, a downstream port per GPU, the GPU.
    socket = {0: ("pci0000:17", "0000:17:01.0", "0000:18:00.0"), 1: ("pci0000:80", "0000:80:01.0", "0000:81:00.0")}
    m.pci_paths = {g.bus: socket[g.numa] + (f"0000:{'19' if g.numa == 0 else '82'}:0{i % 2}.0", g.bus)
                   for i, g in enumerate(m.gpus)}
    g = discover(cuda=m.cuda(), nvml=NO_NVML, sysfs=m.sysfs(), environ={})
    assert link(g, 0, 1)["p2p_access"] is True and link(g, 0, 2)["p2p_access"] is False
    assert link(g, 0, 1)["kind"] == "PIX" and link(g, 2, 3)["kind"] == "PIX" and link(g, 0, 2)["kind"] == "SYS"
    assert link(g, 0, 1)["p2p_read"] is None  # only NVML knows read/write status
    assert g.edges["pci:0000:18:00.0", "pci:0000:19:00.0"]["role"] == "pcie"
    assert "NVML unavailable: NVML cannot start (test)" in g.graph["notes"]


def test_kind_unknown_without_nvml_or_sysfs_is_assumed_slowest_and_noted():
    m = pcie_box()
    g = discover(cuda=m.cuda(), nvml=NO_NVML, sysfs=SourceUnavailable("no /sys"), environ={})
    assert {link(g, a, b)["kind"] for a, b in peer_pairs(g)} == {"SYS"}
    assert any("assumed SYS" in n for n in g.graph["notes"])
    assert numa_nodes(g) == {} and gpu(g, 0)["numa_node"] is None


def test_nvml_only_p2p_status_and_refusal():
    m = pcie_box()
    g = discover(cuda=NO_CUDA, nvml=m.nvml(), sysfs=m.sysfs(), environ={})
    assert link(g, 0, 1)["p2p_access"] is True
    assert link(g, 1, 2)["p2p_access"] is False and link(g, 1, 2)["p2p_blocked_by"] == "CNS"
    assert link(g, 0, 1)["kind"] == "PIX" and link(g, 0, 1)["bandwidth_gbps"] == 63.0  # NVML says PCIe gen 5


def test_no_sources_at_all_gives_an_empty_graph_that_says_why():
    g = discover(cuda=NO_CUDA, nvml=NO_NVML, sysfs=SourceUnavailable("no sysfs (test)"), environ={})
    assert g.number_of_nodes() == 0
    assert g.graph["notes"][-1] == "no GPUs: neither CUDA nor NVML reports a GPU"


def test_topo_file_variable_replaces_discovery(tmp_path):
    path = tmp_path / "box.json"
    save(load(fixture_path("pcie_4gpu_2socket")), path)
    g = discover(environ={"VIBETENSOR_TOPO_FILE": str(path)})
    assert gpus(g) == [0, 1, 2, 3]
    assert f"described by VIBETENSOR_TOPO_FILE={path}, not discovered" in g.graph["notes"]


def test_this_machine(monkeypatch):
    g = discover()
    assert g.graph["source"] == "discovery"
    if cuda_device_count() == 0:
        assert gpus(g) == [] and any(n.startswith("no GPUs: ") for n in g.graph["notes"])
        assert numa_nodes(g), "sysfs shows at least one NUMA node (or the online CPUs)"


def test_real_sources_fail_cleanly_when_their_package_is_missing(monkeypatch):
    # A module set to None in sys.modules makes `import` raise ImportError, as if never installed.
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)
    monkeypatch.setitem(__import__("sys").modules, "cuda.bindings", None)
    with pytest.raises(SourceUnavailable, match=r"nvidia-ml-py is not installed \(pip install nvidia-ml-py\)"):
        NvmlSource()
    with pytest.raises(SourceUnavailable, match=r"cuda-python is not installed \(pip install cuda-python\)"):
        CudaRuntimeSource()
    assert cuda_device_count() == 0
    g = discover(sysfs=SourceUnavailable("skip"), environ={})
    assert "CUDA unavailable: cuda-python is not installed (pip install cuda-python)" in g.graph["notes"]


@pytest.mark.skipif(cuda_device_count() > 0, reason="checks the no-driver message")
def test_real_sources_fail_cleanly_without_a_driver():
    pytest.importorskip("cuda.bindings")
    pytest.importorskip("pynvml")
    with pytest.raises(SourceUnavailable, match="no NVIDIA driver|cudaErrorNoDevice"):
        CudaRuntimeSource()
    with pytest.raises(SourceUnavailable, match="NVML cannot start"):
        NvmlSource()


def test_nvml_p2p_status_passes_plain_integer_capability_indexes(monkeypatch):
    """nvidia-ml-py 13.x defines NVML_P2P_CAPS_INDEX_READ as the tuple (0,); ctypes refuses it, so discovery
    broke on the real 2-GPU machine. The source must pass NVML's own integer indexes whatever the binding says."""
    import types

    asked = []

    def p2p_status(a, b, index):
        if type(index) is not int:  # what ctypes does with a tuple
            raise TypeError(f"Don't know how to convert parameter 3: {index!r}")
        asked.append(index)
        return 0 if index != 3 else 5  # atomics: NS

    fake = types.SimpleNamespace(
        NVMLError=RuntimeError, nvmlInit=lambda: None, NVML_P2P_CAPS_INDEX_READ=(0,),
        nvmlDeviceGetHandleByPciBusId=lambda bus: bus, nvmlDeviceGetP2PStatus=p2p_status)
    monkeypatch.setitem(__import__("sys").modules, "pynvml", fake)
    st = NvmlSource().p2p("0000:18:00.0", "0000:2a:00.0")
    assert sorted(asked) == [0, 1, 2, 3]
    assert (st.read, st.write, st.nvlink, st.atomics, st.blocked_by) == (True, True, True, False, "NS")
