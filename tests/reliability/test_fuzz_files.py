"""Malformed files: the safetensors loader and the topology importer get truncated, oversized-header,
overlapping-offset, wrong-dtype, mutated and random-byte inputs. Each either loads (and then every byte it
hands out is readable and agrees with the reference parser) or raises ValueError naming the problem; never
another exception, a crash or a read past the end of the mapping.
"""
import json
import os
import string

import numpy as np
import pytest
import safetensors.torch
from hypothesis import HealthCheck, given, settings, strategies as st

import vibetensor as vt
from vibetensor.fabric.topology import serialize, smi_text
from vibetensor.fabric.topology.errors import TopologyFileError
from vibetensor.fabric.topology.fixtures import fixture_path
from vibetensor.tensor_core import serialization

CI = settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
LONG = settings(CI, max_examples=3000, derandomize=False)
DTYPES = [vt.float32, vt.float16, vt.bfloat16, vt.float64, vt.int64, vt.int32, vt.int16, vt.int8, vt.uint8,
          vt.bool]
TALLY = {"safetensors loaded": 0, "safetensors refused": 0, "topology loaded": 0, "topology refused": 0}


def _valid_file(seed):
    """A real safetensors file: 1-3 random tensors of random dtypes and shapes (empty ones included)."""
    gen = np.random.default_rng(seed)
    tensors = {}
    for i in range(gen.integers(1, 4)):
        shape = tuple(int(s) for s in gen.integers(0, 4, size=gen.integers(0, 3)))
        t = vt.tensor(gen.integers(0, 2, size=shape).astype(np.float64)).to(DTYPES[gen.integers(len(DTYPES))])
        tensors[f"t{i}"] = t
    return serialization.save(tensors, metadata={"seed": str(seed)})


def _header_of(data):
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), data[8 + n:]


def _with_header(header, body):
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


@st.composite
def broken_safetensors(draw):
    data = _valid_file(draw(st.integers(0, 2 ** 31)))
    header, body = _header_of(data)
    names = [k for k in header if k != "__metadata__"]
    kind = draw(st.sampled_from(["truncate", "header_len", "overlap", "dtype", "shape", "offsets", "flip",
                                 "random", "extend", "json"]))
    name = draw(st.sampled_from(names))
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data) - 1))]
    if kind == "header_len":
        n = draw(st.sampled_from([2 ** 64 - 1, 2 ** 63, 10 ** 9, len(data), len(data) - 7, 0, 1, 2]))
        return n.to_bytes(8, "little") + data[8:]
    if kind == "overlap":  # another tensor's region, or one shifted into the header or past the end
        other = header[draw(st.sampled_from(names))]["data_offsets"]
        shift = draw(st.sampled_from([0, -1, 1, -8, len(body)]))
        header[name]["data_offsets"] = [other[0] + shift, other[1] + shift]
    elif kind == "dtype":
        header[name]["dtype"] = draw(st.sampled_from(["F8_E4M3", "U64", "C64", "X", "", 7, None, ["F32"], "f32"]))
    elif kind == "shape":
        header[name]["shape"] = draw(st.sampled_from([[-1], [2 ** 62, 2 ** 62], [1] * 65, "3", [1.5], [True],
                                                      [2 ** 64], None]))
    elif kind == "offsets":
        header[name]["data_offsets"] = draw(st.sampled_from([[5, 1], [0], [0, 2 ** 64], [-8, 0], ["0", "4"], None,
                                                             [0, 0]]))
    elif kind == "flip":
        b = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            b[draw(st.integers(0, len(b) - 1))] = draw(st.integers(0, 255))
        return bytes(b)
    elif kind == "random":
        return draw(st.binary(max_size=200))
    elif kind == "extend":
        return data + draw(st.binary(min_size=1, max_size=16))
    else:
        return _with_header(draw(st.sampled_from([[], "x", 3, {"__metadata__": {"a": 1}}, {"t": []},
                                                  {"t": {"dtype": "F32"}}, {name: header[name], "z": header[name]}])),
                            body)
    return _with_header(header, body)


def _load_both_ways(data, tmp_path):
    """vt.load on the bytes and load_file on the same bytes on disk must agree (both memory views)."""
    path = tmp_path / "f.safetensors"
    path.write_bytes(data)
    outcomes = []
    for load in (lambda: serialization.load(data), lambda: serialization.load_file(path)):
        try:
            outcomes.append(load())
        except ValueError as e:
            outcomes.append(e)
    return outcomes


def check_safetensors(data, tmp_path_factory):
    from_bytes, from_file = _load_both_ways(data, tmp_path_factory.mktemp("st"))
    assert type(from_bytes) is type(from_file), (from_bytes, from_file)
    try:
        reference = safetensors.torch.load(data)
    except Exception:  # noqa: BLE001 - the reference parser's verdict, whatever it raises
        reference = None
    if isinstance(from_bytes, ValueError):
        TALLY["safetensors refused"] += 1
        assert str(from_bytes), "the error must say what is wrong"
        return
    TALLY["safetensors loaded"] += 1
    # What loads is readable to its last byte and equals what the safetensors package reads.
    assert reference is not None, "loaded a file the safetensors package rejects"
    assert set(from_bytes) == set(reference) == set(from_file)
    for k, t in from_bytes.items():
        want = reference[k].float().numpy() if t.dtype == vt.bfloat16 else reference[k].numpy()
        got = t.float().numpy() if t.dtype == vt.bfloat16 else t.numpy()
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(from_file[k].float().numpy(), t.float().numpy())


def test_safetensors_header_limits(tmp_path):
    # an 8-byte length claiming an exabyte header, and one claiming more than the file: no allocation, no read
    for n in (2 ** 63, 64):
        bad = n.to_bytes(8, "little") + b"{}"
        for got in _load_both_ways(bad, tmp_path):
            assert isinstance(got, ValueError) and "header length" in str(got)


# ---- topology files --------------------------------------------------------------------------------------
def _fixture_texts():
    folder = os.path.dirname(fixture_path("single_gpu"))
    return [open(os.path.join(folder, f), encoding="utf-8").read() for f in sorted(os.listdir(folder))
            if f.endswith((".json", ".txt"))]


FIXTURES = _fixture_texts()
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 2 ** 70) | st.floats() | st.text(max_size=6),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids,
                                                                                    max_size=3), max_leaves=8)
TOPO_WORDS = ["X", "NV4", "NV18", "SYS", "PIX", "PXB", "NODE", "PHB", "GPU0", "GPU9", "NIC0", "N/A", "0-15",
              "99999999999999999999", "-3", "CPU Affinity", "\t", "\x1b[4m", "Legend:", "NODENODE"]


def _mutate_json(draw, text):
    data = json.loads(text)
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(["nodes", "edges", "graph", "version", "format"]))
        items = data.get(section)
        if section in ("nodes", "edges") and isinstance(items, list) and items and draw(st.booleans()):
            item = items[draw(st.integers(0, len(items) - 1))]
            if isinstance(item, dict):  # (an earlier round may have replaced it)
                key = draw(st.sampled_from(sorted(item) + ["source", "id", "cpus", "index", "bandwidth_gbps"]))
                item[key] = draw(JSON_VALUES)
        else:
            data[section] = draw(JSON_VALUES)
    return json.dumps(data)


def _mutate_text(draw, text):
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        words = lines[i].split(" ")
        op = draw(st.sampled_from(["word", "drop", "dup", "cut"]))
        if op == "word" and words:
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(TOPO_WORDS))
            lines[i] = " ".join(words)
        elif op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        else:
            lines[i] = lines[i][:draw(st.integers(0, len(lines[i])))]
        if not lines:
            break
    return "\n".join(lines)


@st.composite
def broken_topology(draw):
    kind = draw(st.sampled_from(["fixture", "random", "truncate"]))
    if kind == "random":
        return draw(st.text(alphabet=string.printable + "GPUNVX\x00\x1b", max_size=300))
    text = draw(st.sampled_from(FIXTURES))
    if kind == "truncate":
        return text[:draw(st.integers(0, len(text)))]
    return _mutate_json(draw, text) if text.lstrip().startswith("{") else _mutate_text(draw, text)


def check_topology(text, tmp_path_factory):
    path = tmp_path_factory.mktemp("topo") / "box.txt"
    path.write_text(text, encoding="utf-8")
    try:
        g = serialize.load(path)
    except TopologyFileError as e:
        TALLY["topology refused"] += 1
        assert e.problem and str(path) in str(e)
        return
    TALLY["topology loaded"] += 1
    # what loads is a usable graph: it prints, and its JSON reads back equal
    again = serialize.loads(serialize.dumps(g))
    assert sorted(again.nodes) == sorted(g.nodes) and again.number_of_edges() == g.number_of_edges()
    smi_text.format_topo_matrix(g)


test_safetensors_loader_refuses_malformed_files_cleanly = CI(given(data=broken_safetensors())(check_safetensors))
test_topology_importer_refuses_malformed_files_cleanly = CI(given(text=broken_topology())(check_topology))
test_safetensors_long = pytest.mark.long(LONG(given(data=broken_safetensors())(check_safetensors)))
test_topology_long = pytest.mark.long(LONG(given(text=broken_topology())(check_topology)))


def test_topology_random_bytes_are_a_file_error(tmp_path):
    path = tmp_path / "bin.txt"
    for seed in range(20):
        path.write_bytes(np.random.default_rng(seed).integers(0, 256, size=64, dtype=np.uint8).tobytes())
        try:
            serialize.load(path)
        except TopologyFileError:
            continue
        raise AssertionError(f"random bytes (seed {seed}) loaded as a topology")


def test_tally_is_printed():
    print(f"\nfile fuzzers: {TALLY}")


# ---- what the fuzzers found, shrunk -------------------------------------------------------------------
def test_safetensors_unhashable_dtype_is_a_value_error():
    bad = _with_header({"t": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)
    for got in _load_both_ways(bad, __import__("pathlib").Path(__import__("tempfile").mkdtemp())):
        assert isinstance(got, ValueError) and "unknown dtype ['F32']" in str(got)  # was TypeError: unhashable


def _dgx(mutate):
    data = json.loads(open(fixture_path("dgx_h100_8gpu").replace(".txt", ".json")).read())
    mutate(data)
    return json.dumps(data)


@pytest.mark.parametrize("mutate,problem", [
    (lambda d: d["nodes"][0].update(type={"gpu": 1}), "unknown type"),             # TypeError: unhashable
    (lambda d: d["edges"][0].update(source=["gpu0"]), "is not a node"),              # TypeError: unhashable
    (lambda d: d["edges"][0].update(kind=None), "needs a link kind"),                # printing: len(None)
    (lambda d: d["nodes"][0].update(cpu_affinity=5), "CPU list string"),             # dumps: int not iterable
    (lambda d: d["graph"].update(cpus="0-x"), "bad CPU list entry"),                 # plain ValueError
    (lambda d: d["nodes"][8].update(index=[1]), "index must be"),                    # sorting NICs: TypeError
    (lambda d: d["nodes"][0].update(numa_node="0"), "numa_node must be"),
])
def test_topology_json_fields_are_checked_on_load(mutate, problem):
    with pytest.raises(TopologyFileError, match=problem):
        serialize.loads(_dgx(mutate))


def test_topology_matrix_with_nv0_is_a_file_error():
    with pytest.raises(TopologyFileError, match="unknown link kind 'NV0'"):  # was a ValueError without the file
        serialize.loads("        GPU0    GPU1\nGPU0     X      NV0\nGPU1    NV0      X\n")
