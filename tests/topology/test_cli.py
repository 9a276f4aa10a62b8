"""vibetensor-topo on every fixture, on this machine, and on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import networkx as nx
import pytest

from vibetensor.fabric.topology import cuda_device_count, fixture_path, load
from vibetensor.fabric.topology.cli import main, parse_size


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_report_for_every_fixture(fixture_name, capsys):
    code, out, err = run(["--from", fixture_path(fixture_name)], capsys)
    assert code == 0 and err == ""
    for section in ("CPU Affinity", "Islands", "Ring:", "Broadcast/reduce tree:", "All-reduce:", "Affinity", "NUMA nodes:"):
        assert section in out


def test_dgx_report(capsys):
    code, out, _ = run(["--from", fixture_path("dgx_h100_8gpu"), "--sizes", "4K,1G"], capsys)
    assert code == 0
    assert "Topology from nvidia-smi topo -m (dgx_h100_8gpu.txt): 8 GPUs, 2 NUMA nodes" in out
    assert "Ring: 0 -> 1 -> 2 -> 3 -> 4 -> 5 -> 6 -> 7 -> 0  (slowest hop 450 GB/s, 2 cross-NUMA hop(s))" in out
    assert "All-reduce: one-shot below 803.6 KiB, ring from there" in out
    assert "     4 KiB: one_shot ~6.08 us" in out and "     1 GiB: ring     ~5.24 ms" in out
    assert "  GPU5  NUMA 1  CPUs 56-111,168-223" in out


def test_island_rings_are_listed(capsys):
    _, out, _ = run(["--from", fixture_path("pcie_4gpu_2socket")], capsys)
    assert "Islands (peer access over NVLink and PCIe up to PXB): {0 1}  {2 3}" in out
    assert "Ring within island {2 3}: 2 -> 3 -> 2" in out
    assert "All-reduce: ring at every size (not every pair has peer access, so one-shot is out)" in out


def test_json_to_stdout_round_trips(fixture_name, capsys, tmp_path):
    code, out, _ = run(["--from", fixture_path(fixture_name), "--json"], capsys)
    assert code == 0 and json.loads(out)["format"] == "vibetensor-topology"
    path = tmp_path / "g.json"
    path.write_text(out)
    assert nx.utils.graphs_equal(load(path), load(fixture_path(fixture_name)))


def test_json_and_dot_to_files(capsys, tmp_path):
    code, out, _ = run(["--from", fixture_path("nvlink_bridge_2plus2"), "--json", str(tmp_path / "g.json"),
                        "--dot", str(tmp_path / "g.dot")], capsys)
    assert code == 0 and "Ring:" in out  # the report still goes to stdout
    assert (tmp_path / "g.dot").read_text().startswith("graph topology {")
    assert load(tmp_path / "g.json").number_of_nodes() == 6


def test_dot_to_stdout(capsys):
    code, out, _ = run(["--from", fixture_path("single_gpu"), "--dot"], capsys)
    assert code == 0 and out.startswith("graph topology {") and "Ring" not in out


@pytest.mark.parametrize("content, message", [
    (None, "cannot read it: No such file or directory"),
    ("{not json", "invalid JSON at line 1 column 2"),
    ("        GPU0    GPU1\nGPU0     X      QQQ\n", "column 2 is 'QQQ'"),
    ("", "the file is empty"),
])
def test_bad_files_exit_1_with_one_line(content, message, capsys, tmp_path):
    path = tmp_path / "topo.txt"
    if content is not None:
        path.write_text(content)
    code, out, err = run(["--from", str(path)], capsys)
    assert code == 1 and out == ""
    assert err.startswith(f"vibetensor-topo: error: topology file '{path}': ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unwritable_output_exits_1(capsys, tmp_path):
    code, _, err = run(["--from", fixture_path("single_gpu"), "--json", str(tmp_path / "missing" / "g.json")], capsys)
    assert code == 1 and "cannot write" in err and "No such file or directory" in err


def test_png_without_backend_exits_1(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = run(["--from", fixture_path("single_gpu"), "--png", str(tmp_path / "t.png")], capsys)
    assert code == 1 and "--dot" in err and err.count("\n") == 1


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--probe", "--from", fixture_path("single_gpu")])
    assert info.value.code == 2 and "--probe measures this machine" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--json", "--dot"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--sizes", "lots"])
    assert info.value.code == 2 and "not a size: 'lots'" in capsys.readouterr().err


def test_parse_size():
    assert [parse_size(s) for s in ("0", "4096", "64K", "64KiB", "1.5M", "2G", "1t")] == \
        [0, 4096, 65536, 65536, 1572864, 2 << 30, 1 << 40]


def test_this_machine(capsys):
    code, out, err = run([], capsys)
    assert code == 0 and out.startswith("Topology from discovery on host")
    if cuda_device_count() == 0:
        assert "no GPUs" in out.splitlines()[0]
        assert "No GPUs: " in out and "CUDA unavailable: " in out


def test_probe_on_this_machine_without_gpus(capsys):
    if cuda_device_count() > 0:
        pytest.skip("this machine has a GPU: see test_cuda_machine.py")
    code, out, _ = run(["--probe"], capsys)
    assert code == 0 and "Probe: nothing measured: " in out


def test_probe_output_and_probed_json(capsys, monkeypatch, tmp_path):
    # The CLI's --probe path on CPU: the bridge box stands in for discovery, a scripted bench for the GPUs.
    import vibetensor.fabric.topology.cli as cli
    from vibetensor.fabric.topology import probe as real_probe
    from topo_fakes import ScriptedBench

    gbps = {(0, 1): 92.0, (2, 3): 26.0, (0, 2): 9.0, (0, 3): 9.0, (1, 2): 9.0, (1, 3): 3.0}
    bench = ScriptedBench(4, gbps, no_access={frozenset(p) for p in [(0, 2), (0, 3), (1, 2), (1, 3)]})
    monkeypatch.setattr(cli, "discover", lambda: load(fixture_path("nvlink_bridge_2plus2")))
    monkeypatch.setattr(cli, "probe", lambda g: real_probe(g, nbytes=1 << 20, bench=bench))
    code, out, _ = run(["--probe", "--json", str(tmp_path / "probed.json")], capsys)
    assert code == 0
    assert "Bandwidth per direction, GB/s (nominal; * = measured by --probe):" in out
    assert "GPU0    -        92*      9*       9*" in out
    assert "Probe (1 MiB copies):" in out and "  0-1     92         92         174.8" in out
    assert "! GPU1-GPU3: measured 3 GB/s, under half the 9.45 GB/s expected for NODE staged through host memory" in out
    probed = load(tmp_path / "probed.json")
    assert probed.edges["gpu0", "gpu1"]["measured_uni_gbps"] == 92.0
    assert probed.edges["gpu1", "gpu3"]["probe_flags"][0].startswith("measured 3 GB/s")


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "vibetensor.fabric.topology"],
    [str(__import__("pathlib").Path(sys.executable).with_name("vibetensor-topo"))],
])
def test_entry_points(command):
    done = subprocess.run(command + ["--from", fixture_path("dgx_h100_8gpu"), "--sizes", "1M"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Ring: 0 -> 1 -> 2 -> 3 -> 4 -> 5 -> 6 -> 7 -> 0" in done.stdout
    bad = subprocess.run(command + ["--from", "/no/such/file"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    # Only the first line is ours: whatever the native core prints at interpreter exit follows it.
    assert bad.stderr.splitlines()[0] == ("vibetensor-topo: error: topology file '/no/such/file': "
                                          "cannot read it: No such file or directory")
