"""The graph's JSON format: round trips, the shipped .json fixtures, and unreadable or malformed files."""

from __future__ import annotations

import json

import networkx as nx
import pytest

from vibetensor.fabric.topology import TopologyFileError, dumps, fixture_path, load, loads, save
from vibetensor.fabric.topology.serialize import from_dict, to_dict


def test_json_fixture_is_the_text_fixture(fixture_name):
    # The shipped .json is what save() writes for the .txt: regenerate it if the schema changes.
    assert nx.utils.graphs_equal(load(fixture_path(fixture_name, ".json")), load(fixture_path(fixture_name)))


def test_save_load_round_trip(fixture_name, tmp_path):
    g = load(fixture_path(fixture_name))
    path = tmp_path / "g.json"
    save(g, path)
    back = load(path)
    assert nx.utils.graphs_equal(back, g)
    assert dumps(back) == path.read_text()  # stable output


def test_round_trip_keeps_discovered_and_probed_attributes(tmp_path, dgx):
    dgx.nodes["gpu0"].update(name="NVIDIA H100 80GB HBM3", compute_capability=(9, 0), memory_bytes=85 << 30)
    dgx.edges["gpu0", "gpu1"].update(measured_uni_gbps=371.2, probe_flags=("slow",), p2p_access=True)
    dgx.graph["notes"].append("probed")
    back = loads(dumps(dgx))
    assert back.nodes["gpu0"]["compute_capability"] == (9, 0)
    assert back.edges["gpu0", "gpu1"]["probe_flags"] == ("slow",)
    assert nx.utils.graphs_equal(back, dgx)


def test_cpu_sets_are_written_as_cpu_lists(dgx):
    data = to_dict(dgx)
    numa1 = next(n for n in data["nodes"] if n["id"] == "numa1")
    assert numa1["cpus"] == "56-111,168-223"
    assert json.loads(dumps(dgx))["format"] == "vibetensor-topology"


def test_missing_file():
    with pytest.raises(TopologyFileError, match=r"'/no/such/topo.json': cannot read it: No such file or directory"):
        load("/no/such/topo.json")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(TopologyFileError, match="cannot read it: Is a directory"):
        load(tmp_path)


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "locked.json"
    path.write_text("{}")
    # chmod 0 does not stop root (these tests may run as root), so refuse the read itself.
    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(type(path), "read_bytes", refuse)
    with pytest.raises(TopologyFileError, match="cannot read it: Permission denied"):
        load(path)


def test_binary_file(tmp_path):
    path = tmp_path / "topo.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(TopologyFileError, match=r"not UTF-8 text \(byte 0 is 0x89\)"):
        load(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("  \n")
    with pytest.raises(TopologyFileError, match="the file is empty"):
        load(path)


def test_neither_json_nor_topo_text(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is a shopping list\n")
    with pytest.raises(TopologyFileError, match="neither topology JSON nor `nvidia-smi topo -m` text"):
        load(path)


def _valid() -> dict:
    return to_dict(load(fixture_path("nvlink_bridge_2plus2")))


def _break(change) -> str:
    data = _valid()
    change(data)
    return json.dumps(data)


@pytest.mark.parametrize("text, problem", [
    ('{"format": "vibetensor-topology", "version": 1,,}', "invalid JSON at line 1 column 48: Expecting property name"),
    ("[1, 2]", "not a vibetensor topology"),
    ('{"nodes": []}', "not a vibetensor topology"),
    (_break(lambda d: d.update(version=7)), "unsupported version 7"),
    (_break(lambda d: d.pop("edges")), "missing or malformed 'edges'"),
    (_break(lambda d: d["nodes"][0].update(type="toaster")), "nodes[0] (gpu0): unknown type 'toaster'"),
    (_break(lambda d: d["nodes"][1].update(index=0)), "GPU index must be a distinct integer >= 0, got 0"),
    (_break(lambda d: d["nodes"][0].update(cpu_affinity="0-x")), "nodes[0] (gpu0): bad CPU list entry '0-x'"),
    (_break(lambda d: d["edges"][0].update(target="gpu9")), "edges[0]: endpoint 'gpu9' is not a node"),
    (_break(lambda d: d["edges"][0].update(role="wormhole")), "unknown role 'wormhole'"),
    (_break(lambda d: d["edges"][0].pop("bandwidth_gbps")), "a peer link needs a numeric bandwidth_gbps"),
])
def test_malformed_json_names_the_problem(tmp_path, text, problem):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(TopologyFileError) as info:
        load(path)
    assert problem in str(info.value) and str(path) in str(info.value)


def test_from_dict_rejects_non_objects():
    with pytest.raises(TopologyFileError, match=r"nodes\[0\]: expected an object"):
        from_dict({**_valid(), "nodes": [3]})
