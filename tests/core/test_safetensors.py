"""safetensors save/load: round trips, byte compatibility with the `safetensors` package, zero-copy read-only
memory maps, atomic saves, and a parser that answers every malformed file with a clean ValueError."""
import gc
import json
import os

import numpy as np
import pytest
import safetensors.numpy as st_numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import vibetensor as vt
import vibetensor.tensor_core.serialization as ser
from helpers import ALL_DTYPES, make, random_array, rng, torch

SHAPES = [(), (0,), (3,), (2, 5), (2, 3, 4), (4, 0, 2)]


def sample(dtype, shape, layout="contiguous"):
    return make(random_array(shape, dtype, rng()), dtype, layout)


def bits(t):
    """The exact values as numpy (bfloat16 as its bit pattern)."""
    return (t.view(vt.int16) if t.dtype == vt.bfloat16 else t).contiguous().numpy()


def assert_same(a, b):
    assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
    np.testing.assert_array_equal(bits(a), bits(b))


def mapped_paths():
    with open("/proc/self/maps") as f:
        return f.read()


# ---- round trips and compatibility ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_round_trip_every_dtype_and_shape(tmp_path, dtype):
    tensors = {f"t{i}": sample(dtype, s) for i, s in enumerate(SHAPES)}
    tensors["transposed"] = sample(dtype, (3, 4), "transposed")  # non-contiguous: saved contiguous
    tensors["strided"] = sample(dtype, (2, 6), "strided")
    tensors["expanded"] = sample(dtype, (3,)).expand(4, 3)
    path = tmp_path / "x.safetensors"
    vt.save_file(tensors, path)
    loaded = vt.load_file(path)
    assert list(loaded) and set(loaded) == set(tensors)
    for name, t in tensors.items():
        assert_same(loaded[name], t)
    for name, t in ser.load(ser.save(tensors)).items():
        assert_same(t, tensors[name])


def numpy_dict(seed=0):
    gen = np.random.default_rng(seed)
    return {"w": gen.standard_normal((3, 4)).astype(np.float32), "b": gen.standard_normal(5),
            "h": gen.standard_normal(7).astype(np.float16), "idx": gen.integers(-9, 9, (2, 2)),
            "i32": gen.integers(0, 99, 3).astype(np.int32), "i16": gen.integers(0, 99, 3).astype(np.int16),
            "i8": gen.integers(-9, 9, 5).astype(np.int8), "u8": gen.integers(0, 255, 5).astype(np.uint8),
            "mask": gen.integers(0, 2, 6).astype(np.bool_), "scalar": np.array(2.5), "none": np.zeros((0, 3))}


@pytest.mark.parametrize("metadata", [None, {"format": "pt"}, {}])
def test_bytes_identical_to_the_safetensors_package(metadata):
    arrays = numpy_dict()
    ours = ser.save({k: vt.from_numpy(a) for k, a in arrays.items()}, metadata=metadata)
    assert ours == st_numpy.save(arrays, metadata=metadata)
    n = int.from_bytes(ours[:8], "little")
    assert n % 8 == 0 and ours[8:8 + n].rstrip(b" ").endswith(b"}")  # padded with spaces to 8 bytes


def test_files_written_by_safetensors_load(tmp_path):
    arrays = numpy_dict(1)
    path = tmp_path / "theirs.safetensors"
    st_numpy.save_file(arrays, str(path), metadata={"k": "v", "step": "10"})
    loaded = vt.load_file(path)
    assert set(loaded) == set(arrays)
    for name, a in arrays.items():
        assert loaded[name].shape == a.shape
        np.testing.assert_array_equal(loaded[name].numpy(), a)


def test_our_files_load_in_safetensors(tmp_path):
    arrays = numpy_dict(2)
    path = tmp_path / "ours.safetensors"
    vt.save_file({k: vt.from_numpy(a) for k, a in arrays.items()}, path, metadata={"epoch": "3", "é": "ü"})
    back = st_numpy.load_file(str(path))
    for name, a in arrays.items():
        np.testing.assert_array_equal(back[name], a)
    from safetensors import safe_open
    with safe_open(str(path), "np") as f:
        assert f.metadata() == {"epoch": "3", "é": "ü"}


def test_bfloat16_against_safetensors_torch(tmp_path):
    if torch is None:
        pytest.skip("torch is not installed")
    import safetensors.torch as st_torch
    x = vt.randn(4, 6, dtype=vt.bfloat16)
    tx = torch.from_numpy(x.view(vt.int16).numpy().copy()).view(torch.bfloat16)
    assert ser.save({"x": x}) == st_torch.save({"x": tx})
    st_torch.save_file({"x": tx}, str(tmp_path / "t.safetensors"))
    assert_same(vt.load_file(tmp_path / "t.safetensors")["x"], x)


# ---- memory maps: zero copy, read-only, alive while used ---------------------------------------------
@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc/self/maps")
def test_load_file_is_zero_copy_read_only_and_keeps_the_map_alive(tmp_path):
    path = tmp_path / "m.safetensors"
    x = vt.rand(256, 64)
    vt.save_file({"x": x, "y": vt.arange(10)}, path)
    loaded = vt.load_file(path)
    t = loaded["x"]
    region = [line.split()[0].split("-") for line in mapped_paths().splitlines() if line.endswith(str(path))]
    assert len(region) == 1  # the tensor's memory lies inside the file's mapping: no copy was made
    assert int(region[0][0], 16) <= t.data_ptr() < int(region[0][1], 16)
    for write in (lambda: t.fill_(0.0), lambda: t.add_(1.0), lambda: t.copy_(x), lambda: t.normal_()):
        with pytest.raises(RuntimeError, match="read-only"):
            write()
    with pytest.raises(RuntimeError, match="read-only"):
        t[0] = 1.0
    assert not t.numpy().flags.writeable
    clone = t.clone()
    clone.fill_(1.0)  # copies are ordinary tensors
    del loaded
    gc.collect()
    assert str(path) in mapped_paths()  # still mapped: `t` uses it
    np.testing.assert_array_equal(t.numpy(), x.numpy())
    del t
    gc.collect()
    assert str(path) not in mapped_paths()


def test_misaligned_data_loads_through_an_aligned_copy(tmp_path):
    # A valid file whose F32 tensor starts at an odd offset (safetensors' writer never does this).
    header = {"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [1, 9]}}
    data = b"\x07" + np.array([1.5, -2.0], np.float32).tobytes()
    raw = encode(header, data)
    (tmp_path / "odd.safetensors").write_bytes(raw)
    for loaded in (ser.load(raw), vt.load_file(tmp_path / "odd.safetensors")):
        assert loaded["b"].tolist() == [1.5, -2.0] and loaded["a"].tolist() == [7]
        with pytest.raises(RuntimeError, match="read-only"):
            loaded["b"].fill_(0.0)


# ---- atomic saving -------------------------------------------------------------------------------------
def test_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    vt.save_file({"old": vt.arange(4)}, path)
    os.chmod(path, 0o640)
    before = path.read_bytes()
    real, calls = ser._tensor_bytes, []

    def fail_on_second(t):
        calls.append(t)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return real(t)

    monkeypatch.setattr(ser, "_tensor_bytes", fail_on_second)
    with pytest.raises(OSError, match="simulated"):
        vt.save_file({"a": vt.rand(100), "b": vt.rand(100), "c": vt.rand(100)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.safetensors"]
    monkeypatch.setattr(ser, "_tensor_bytes", real)
    monkeypatch.setattr(ser.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("fsync failed (simulated)")))
    with pytest.raises(OSError, match="fsync failed"):
        vt.save_file({"a": vt.rand(3)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.safetensors"]
    monkeypatch.undo()
    vt.save_file({"new": vt.ones(2)}, path)  # a successful save replaces the file and keeps its mode
    assert list(vt.load_file(path)) == ["new"] and os.stat(path).st_mode & 0o777 == 0o640


@pytest.mark.parametrize("tensors,metadata,exc,msg", [
    ([vt.ones(1)], None, TypeError, "dict of name -> Tensor"),
    ({1: vt.ones(1)}, None, TypeError, "names must be str"),
    ({"__metadata__": vt.ones(1)}, None, ValueError, "reserved"),
    ({"a": np.ones(2)}, None, TypeError, "not a Tensor"),
    ({"a": vt.ones(1)}, {"k": 1}, TypeError, "str -> str"),
    ({"a": vt.ones(1)}, ["k"], TypeError, "str -> str"),
])
def test_save_rejects_bad_arguments(tmp_path, tensors, metadata, exc, msg):
    with pytest.raises(exc, match=msg):
        vt.save_file(tensors, tmp_path / "bad.safetensors", metadata=metadata)
    assert os.listdir(tmp_path) == []


# ---- malformed files -----------------------------------------------------------------------------------
def encode(header, data=b"", length=None):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return (len(text) if length is None else length).to_bytes(8, "little") + text + data


def one(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


F8 = b"\x00" * 8
MALFORMED = {
    "empty file": (b"", "shorter than the 8-byte header length"),
    "truncated length": (b"\x10\x00\x00", "shorter than the 8-byte header length"),
    "header past the end": (encode({"a": one()}, F8)[:-12], "runs past the end"),
    "absurd header length": (encode(b"{}", length=2**63), "over the 100000000-byte limit"),
    "not an object": (encode(b"[1, 2]  "), "does not start with '{'"),
    "bad utf-8": (encode(b'{"\xff": 1}'), "not valid UTF-8"),
    "bad json": (encode(b'{"a": {"dtype": }'), "not valid JSON"),
    "deep json": (encode(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "nested too deeply"),
    "entry not an object": (encode({"a": 1}), "expected an object"),
    "missing field": (encode({"a": {"dtype": "F32", "shape": [2]}}, F8), "missing data_offsets"),
    "unknown dtype": (encode({"a": one("Q9")}, F8), "unknown dtype 'Q9'"),
    "dtype not a string": (encode({"a": one(7)}, F8), "unknown dtype 7"),
    "foreign dtype": (encode({"a": one("U16", (4,))}, F8), "U16 is not supported"),
    "shape not a list": (encode({"a": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}}, F8), "shape must be"),
    "float in shape": (encode({"a": one(shape=(2.0,))}, F8), "shape must be"),
    "bool in shape": (encode({"a": one(shape=(True, 2))}, F8), "shape must be"),
    "too many dims": (encode({"a": one(shape=(1,) * 65, offsets=(0, 4))}, F8[:4]), "at most 64"),
    "negative size": (encode({"a": one(shape=(-2,))}, F8), "negative size"),
    "offsets not a pair": (encode({"a": one(offsets=(0, 8, 9))}, F8), "data_offsets must be"),
    "offsets reversed": (encode({"a": one(offsets=(8, 0))}, F8), "0 <= begin <= end"),
    "negative offset": (encode({"a": one(offsets=(-8, 0))}, F8), "0 <= begin <= end"),
    "offsets past the data": (encode({"a": one(offsets=(0, 8))}, F8[:6]), "run past the 6-byte data section"),
    "size mismatch": (encode({"a": one(shape=(3,))}, F8), "takes 12 bytes but data_offsets [0, 8] hold 8"),
    "huge shape": (encode({"a": one(shape=(2**40, 2**40))}, F8), "takes"),
    "overlap": (encode({"a": one(), "b": one(offsets=(4, 12))}, F8 + F8[:4]), "overlap"),
    "gap": (encode({"a": one(offsets=(4, 12))}, F8 + F8[:4]), "4 unused bytes before tensor 'a'"),
    "trailing bytes": (encode({"a": one()}, F8 + b"junk"), "the tensors cover 8"),
    "duplicate tensor": (encode(b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {}}', b"\x01"),
                         "duplicate key 'a'"),
    "duplicate field": (encode(b'{"a": {"dtype": "U8", "dtype": "I8", "shape": [1], "data_offsets": [0, 1]}}', b"\x01"),
                        "duplicate key 'dtype'"),
    "metadata not str": (encode({"__metadata__": {"k": 1}, "a": one()}, F8), "__metadata__ must be"),
    "bad bool byte": (encode({"m": one("BOOL", (3,), (0, 3))}, b"\x01\x00\x02"), "other than 0 and 1"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_raises_value_error(tmp_path, case):
    raw, msg = MALFORMED[case]
    with pytest.raises(ValueError, match=msg.replace("[", r"\[").replace("]", r"\]")):
        ser.load(raw)
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match="bad.safetensors"):  # the path names the file
        vt.load_file(path)


def test_edge_cases_that_are_valid():
    assert ser.load(encode(b"{}      ")) == {}  # no tensors at all
    loaded = ser.load(encode({"__metadata__": None, "z": one("F32", (0, 5), (0, 0)), "s": one("I64", (), (0, 8))}, F8))
    assert loaded["z"].shape == (0, 5) and loaded["s"].shape == () and loaded["s"].item() == 0
    extra = {"a": dict(one(), note="ignored, as safetensors does")}
    assert ser.load(encode(extra, np.ones(2, np.float32).tobytes()))["a"].tolist() == [1.0, 1.0]


# ---- fuzzing -------------------------------------------------------------------------------------------
VALID = ser.save({"w": vt.arange(12, dtype=vt.float32).view(3, 4), "m": vt.tensor([True, False, True]),
                  "i": vt.arange(5, dtype=vt.int16), "e": vt.empty(0, 2)}, metadata={"k": "v"})
HEADER_END = 8 + int.from_bytes(VALID[:8], "little")


def check_clean(raw):
    try:
        loaded = ser.load(raw)
    except ValueError:
        return
    for t in loaded.values():  # whatever parsed must be readable
        bits(t)


# Bytes that keep the header JSON-ish get the mutations past the UTF-8 and JSON checks into the tensor checks.
BYTES = hs.one_of(hs.sampled_from(list(b'0123456789-[]{}",: ')), hs.integers(0, 255))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=hs.lists(hs.tuples(hs.integers(0, HEADER_END + 40), BYTES), min_size=1, max_size=6),
       cut=hs.one_of(hs.none(), hs.integers(0, len(VALID))), tail=hs.binary(max_size=16))
def test_fuzzed_files_raise_only_value_error(edits, cut, tail):
    raw = bytearray(VALID)
    for pos, byte in edits:  # mostly the length and header: that is where the parser works
        raw[pos % len(raw)] = byte
    raw = bytes(raw[:cut] if cut is not None else raw) + tail
    check_clean(raw)


@settings(max_examples=60, deadline=None)
@given(text=hs.text(alphabet='{}[]":,0123456789-FIUBOL8 dtypeshapdaofsn_', max_size=120), data=hs.binary(max_size=24))
def test_fuzzed_headers_raise_only_value_error(text, data):
    check_clean(encode(text.encode(), data))
