"""safetensors files: ``save_file`` / ``load_file`` (and ``save`` / ``load`` for bytes), byte-compatible
with the ``safetensors`` package.

The format: an 8-byte little-endian header length N, N bytes of JSON (padded with spaces to a multiple of
8) mapping each name to ``{"dtype", "shape", "data_offsets"}`` plus an optional ``"__metadata__"`` of
str -> str, then the tensors' bytes back to back. ``load_file`` memory-maps the file and returns read-only
tensors that view the mapping (``clone()`` one to write to it); the mapping lives as long as any of them.
Saving writes a temporary file in the same directory and renames it over the target, so a failure part
way leaves the old file as it was. Every malformed input raises ValueError naming the problem.

>>> import os, tempfile, vibetensor as vt
>>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
>>> vt.save_file({"w": vt.arange(6, dtype=vt.float32).view(2, 3)}, path, metadata={"step": "1"})
>>> vt.load_file(path)["w"].tolist()
[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
"""
import contextlib
import json
import math
import mmap
import os
import stat
import tempfile
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from .. import _C
from . import dtypes as _dt
from .factories import from_numpy
from .process import is_alive

MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit: a longer header is corruption, not a model
MAX_DIMS = 64


class _Format(NamedTuple):
    dtype: object        # the vibetensor dtype
    numpy: np.dtype      # how its bytes are viewed (little-endian; bfloat16 travels as int16 bits)
    rank: int            # position in safetensors' Dtype enum: the writer orders tensors by it, descending


_FORMATS = {
    "BOOL": _Format(_dt.bool, np.dtype(np.bool_), 0), "U8": _Format(_dt.uint8, np.dtype("u1"), 4),
    "I8": _Format(_dt.int8, np.dtype("i1"), 5), "I16": _Format(_dt.int16, np.dtype("<i2"), 11),
    "F16": _Format(_dt.float16, np.dtype("<f2"), 13), "BF16": _Format(_dt.bfloat16, np.dtype("<i2"), 14),
    "I32": _Format(_dt.int32, np.dtype("<i4"), 15), "F32": _Format(_dt.float32, np.dtype("<f4"), 17),
    "F64": _Format(_dt.float64, np.dtype("<f8"), 19), "I64": _Format(_dt.int64, np.dtype("<i8"), 20),
}
_NAME_OF = {f.dtype: name for name, f in _FORMATS.items()}
# Valid in safetensors but with no vibetensor dtype: "unsupported", not "unknown".
_FOREIGN = {"F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "U16", "U32",
            "U64", "C64"}


# ---- saving --------------------------------------------------------------------------------------------
def _check_inputs(tensors, metadata):
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save: expected a dict of name -> Tensor, got {type(tensors).__name__}")
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save: tensor names must be str, got {type(name).__name__} {name!r}")
        if name == "__metadata__":
            raise ValueError("save: '__metadata__' is reserved for the metadata and cannot name a tensor")
        if not isinstance(t, _C.TensorBase):
            raise TypeError(f"save: {name!r} is a {type(t).__name__}, not a Tensor")
    if metadata is not None and not (isinstance(metadata, Mapping) and
                                     all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError("save: metadata must be a dict of str -> str")


def _header(tensors, metadata):
    """The padded header (length prefix included) and the tensors in file order."""
    # safetensors' order: descending dtype rank, then name, so larger elements come first and stay aligned.
    ordered = sorted(tensors.items(), key=lambda kv: (-_FORMATS[_NAME_OF[kv[1].dtype]].rank, kv[0]))
    table = {} if metadata is None else {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for name, t in ordered:
        nbytes = t.numel() * t.element_size()
        table[name] = {"dtype": _NAME_OF[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(table, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    if len(text) > MAX_HEADER_BYTES:
        raise ValueError(f"save: the header would be {len(text)} bytes, over the {MAX_HEADER_BYTES}-byte limit")
    return len(text).to_bytes(8, "little") + text, [t for _, t in ordered]


def _tensor_bytes(t):
    """t's elements in row-major order as little-endian bytes (a uint8 numpy view; one copy at most)."""
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype == _dt.bfloat16:
        t = t.view(_dt.int16)
    arr = np.ascontiguousarray(t.numpy(force=True))
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).reshape(-1).view(np.uint8)


def save(tensors, metadata=None):
    """The safetensors bytes of ``tensors`` (a dict of name -> Tensor; non-contiguous ones are fine)."""
    _check_inputs(tensors, metadata)
    header, ordered = _header(tensors, metadata)
    return b"".join([header] + [_tensor_bytes(t).tobytes() for t in ordered])


def _remove_dead_writers_temporaries(directory, prefix):
    """Deletes `prefix<pid>.*.tmp` files whose writer no longer runs (killed mid-save: nothing else would
    remove them). A live writer's temporary, even another process's, is left alone."""
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if not (name.startswith(prefix) and name.endswith(".tmp")):
                continue
            pid = name[len(prefix):].split(".", 1)[0]
            if not pid.isdigit() or is_alive(int(pid), 0):
                continue
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))


def save_file(tensors, path, metadata=None):
    """Writes ``tensors`` to ``path`` atomically: a temporary file in the same directory, fsync, rename."""
    _check_inputs(tensors, metadata)
    header, ordered = _header(tensors, metadata)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    prefix = f".{os.path.basename(path)}."
    _remove_dead_writers_temporaries(directory, prefix)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{prefix}{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            for t in ordered:
                f.write(_tensor_bytes(t))
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file 0600; keep the old file's mode, or give a new one the usual 0644.
        os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable, where the OS lets us
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# ---- parsing (every check before any tensor is made) ---------------------------------------------------
class _Entry(NamedTuple):
    name: str
    format: _Format
    shape: tuple
    begin: int
    end: int


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(f"duplicate key {key!r} in the header")
        seen.add(key)
    return dict(pairs)


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _read_header(buf, source):
    size = len(buf)
    if size < 8:
        raise ValueError(f"{source}: truncated: {size} bytes, shorter than the 8-byte header length")
    n = int.from_bytes(buf[:8], "little")
    if n > MAX_HEADER_BYTES:
        raise ValueError(f"{source}: header length {n} is over the {MAX_HEADER_BYTES}-byte limit (corrupt file?)")
    if 8 + n > size:
        raise ValueError(f"{source}: header length {n} runs past the end of the data ({size} bytes): truncated?")
    raw = bytes(buf[8:8 + n])
    if not raw.startswith(b"{"):
        raise ValueError(f"{source}: the header does not start with '{{': not a safetensors file")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as e:
        raise ValueError(f"{source}: the header is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    except _DuplicateKey as e:
        raise ValueError(f"{source}: {e}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{source}: the header is not valid JSON: {e}") from None
    except RecursionError:
        raise ValueError(f"{source}: the header JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise ValueError(f"{source}: the header must be a JSON object, got {type(header).__name__}")
    return header, 8 + n


def _entry(name, info, data_len, source):
    where = f"{source}: tensor {name!r}"
    if not isinstance(info, dict):
        raise ValueError(f"{where}: expected an object with dtype, shape and data_offsets, got {type(info).__name__}")
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in info]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if isinstance(dtype, str) and dtype in _FOREIGN:  # (a list or dict here is unhashable: checked as unknown)
        raise ValueError(f"{where}: dtype {dtype} is not supported by vibetensor")
    if not isinstance(dtype, str) or dtype not in _FORMATS:
        raise ValueError(f"{where}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_int(s) for s in shape) or len(shape) > MAX_DIMS:
        raise ValueError(f"{where}: shape must be a list of at most {MAX_DIMS} integers, got {shape!r}")
    if any(s < 0 for s in shape):
        raise ValueError(f"{where}: negative size in shape {shape}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        raise ValueError(f"{where}: data_offsets must be [begin, end] integers, got {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise ValueError(f"{where}: data_offsets {offsets} must satisfy 0 <= begin <= end")
    if end > data_len:
        raise ValueError(f"{where}: data_offsets {offsets} run past the {data_len}-byte data section: truncated?")
    fmt = _FORMATS[dtype]
    nbytes = math.prod(shape) * fmt.numpy.itemsize
    if end - begin != nbytes:
        raise ValueError(f"{where}: shape {shape} of {dtype} takes {nbytes} bytes but data_offsets {offsets} hold "
                         f"{end - begin}")
    return _Entry(name, fmt, tuple(shape), begin, end)


def _check_layout(entries, data_len, source):
    """Data regions must tile the data section exactly: no overlap, no gap, nothing left over."""
    covered, last = 0, None
    for e in sorted(entries, key=lambda e: (e.begin, e.end)):
        if e.begin < covered:
            raise ValueError(f"{source}: tensors {last.name!r} and {e.name!r} overlap (data_offsets "
                             f"[{last.begin}, {last.end}] and [{e.begin}, {e.end}])")
        if e.begin > covered:
            raise ValueError(f"{source}: {e.begin - covered} unused bytes before tensor {e.name!r}: data regions "
                             "must be contiguous")
        covered, last = e.end, e
    if covered != data_len:
        raise ValueError(f"{source}: the data section has {data_len} bytes but the tensors cover {covered}")


def _parse(buf, source):
    header, data_start = _read_header(buf, source)
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (isinstance(metadata, dict) and
                                     all(isinstance(v, str) for v in metadata.values())):
        raise ValueError(f"{source}: __metadata__ must be an object of str -> str")
    entries = [_entry(name, info, len(buf) - data_start, source) for name, info in header.items()]
    _check_layout(entries, len(buf) - data_start, source)
    for e in entries:  # bool elements other than 0/1 would be undefined behaviour in the kernels
        if e.format.dtype == _dt.bool and e.end > e.begin and \
                np.frombuffer(buf, np.uint8, e.end - e.begin, data_start + e.begin).max() > 1:
            raise ValueError(f"{source}: tensor {e.name!r} is BOOL but holds bytes other than 0 and 1")
    return entries, data_start


# ---- loading -------------------------------------------------------------------------------------------
def _tensors(buf, entries, data_start):
    out = {}
    for e in entries:
        if math.prod(e.shape) == 0:
            out[e.name] = _C._ops.empty(list(e.shape), dtype=e.format.dtype)
            continue
        offset = data_start + e.begin
        arr = np.frombuffer(buf, e.format.numpy, math.prod(e.shape), offset)
        if offset % e.format.numpy.itemsize:  # misaligned for its type: kernels get a private aligned copy
            arr = arr.copy()
        arr.flags.writeable = False
        t = from_numpy(arr.reshape(e.shape))
        out[e.name] = t.view(_dt.bfloat16) if e.format.dtype == _dt.bfloat16 else t
    return out


def load(data):
    """Tensors from safetensors bytes: read-only views of ``data`` (bytes, bytearray, memoryview)."""
    buf = memoryview(data).cast("B")
    entries, data_start = _parse(buf, "safetensors data")
    return _tensors(buf, entries, data_start)


def _is_cpu(device):
    return str(device).split(":")[0] == "cpu"


def load_file(path, device="cpu"):
    """The tensors of a safetensors file, read-only views of its memory map (on another device: copies)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:  # mmap cannot map an empty file; say what is wrong instead
            raise ValueError(f"{path}: truncated: {size} bytes, shorter than the 8-byte header length")
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        entries, data_start = _parse(mapped, path)
    except BaseException:
        mapped.close()
        raise
    tensors = _tensors(mapped, entries, data_start)  # their numpy bases keep `mapped` open
    return tensors if _is_cpu(device) else {k: t.to(device) for k, t in tensors.items()}


def read_metadata(path):
    """The file's ``__metadata__`` (str -> str, {} when absent), validated like load_file's header."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise ValueError(f"{path}: truncated: {size} bytes, shorter than the 8-byte header length")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            header, _ = _read_header(mapped, path)
    metadata = header.get("__metadata__") or {}
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise ValueError(f"{path}: __metadata__ must be an object of str -> str")
    return metadata


__all__ = ["save_file", "load_file", "save", "load", "read_metadata"]
