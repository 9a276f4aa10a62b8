"""Ahead-of-time compilation of a CuTe DSL host function to one cubin for a named GPU architecture.

CuTe DSL (nvidia-cutlass-dsl 4.3.5) compiles for the architecture in `cute.compile`'s `--gpu-arch` option,
with no GPU present: its MLIR pipeline carries NVVM and ptxas inside the package. With `--keep-ptx
--keep-cubin --dump-dir D` it writes `<host function>.<arch>.{ptx,cubin}` into D and reads them back into the
compiled object's `artifacts` (`__ptx__`, `__cubin__`). The kernel's entry name is the one key of
`kernel_info`. We compile each specialisation in its own temporary folder (the file names depend only on the
host function's name, so a shared folder would mix specialisations up) and keep the cubins on disk under the
kernel cache, keyed by the sources and the package version, so a process pays the ~1 s compile once per
machine rather than once per process.

One quirk: when the requested arch equals the DSL's default (CUTE_DSL_ARCH, else the detected GPU's), 4.3.5
also JIT-links the host side into an execution engine, which needs libcuda.so (absent in CI) and which we never
call. We hold the default apart from the requested arch while compiling, so the DSL only compiles.
"""
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass

from ..cache import cache_dir


@dataclass(frozen=True)
class Compiled:
    entry: str   # the cubin's .entry name
    cubin: bytes
    ptx: str     # kept for the tests (and a reader with ncu); not needed to launch


def arch_of(major, minor):
    """CuTe DSL's arch name for a compute capability: the `a` targets (sm_90a, sm_100a) where they exist."""
    return f"sm_{major}{minor}a" if major >= 9 else f"sm_{major}{minor}"


_lock = threading.Lock()  # the DSL is a process-wide singleton with per-compile state (its kernel count)


def compile_host(fn, args, arch):
    """Compiles `fn(*args)` (a `cute.jit` function launching exactly one kernel) for `arch`."""
    import cutlass.cute as cute
    from cutlass.cutlass_dsl import CuTeDSL

    envar = CuTeDSL._get_dsl().envar
    with _lock, tempfile.TemporaryDirectory(prefix="vt-cute-") as d:
        default, envar.arch = envar.arch, "sm_90" if arch != "sm_90" else "sm_100"  # any arch but `arch`
        try:
            c = cute.compile(fn, *args, options=f"--gpu-arch {arch} --keep-ptx --keep-cubin --dump-dir {d}")
        finally:
            envar.arch = default
        ptx, cubin = c.__ptx__, c.__cubin__
    if not isinstance(cubin, bytes) or not isinstance(ptx, str):
        raise RuntimeError(f"CuTe DSL left no cubin/PTX for {fn.__name__} on {arch}")
    if len(c.kernel_info) != 1:
        raise RuntimeError(f"{fn.__name__} launches {len(c.kernel_info)} kernels; expected one")
    return Compiled(next(iter(c.kernel_info)), cubin, ptx.rstrip("\0"))  # the PTX file ends in a NUL


def _version_tag(sources):
    import cutlass

    h = hashlib.sha256(getattr(cutlass, "__version__", "?").encode())
    for path in sources:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def cached(key, arch, sources, build):
    """The cubin for `key` on `arch` from the disk cache, else `build()` (a Compiled), stored for next time."""
    folder = os.path.join(cache_dir(), "cute")
    stem = os.path.join(folder, f"{key.replace('|', '_')}.{arch}.{_version_tag(sources)}")
    try:
        with open(stem + ".json") as f:
            meta = json.load(f)
        with open(stem + ".cubin", "rb") as f:
            return Compiled(meta["entry"], f.read(), "")
    except (OSError, ValueError, KeyError):
        pass
    c = build()
    os.makedirs(folder, exist_ok=True)
    # cubin first, then the json that vouches for it, each by rename: a reader never sees half a file.
    for suffix, data, mode in ((".cubin", c.cubin, "wb"), (".json", json.dumps({"entry": c.entry}), "w")):
        tmp = f"{stem}{suffix}.{os.getpid()}"
        with open(tmp, mode) as f:
            f.write(data)
        os.replace(tmp, stem + suffix)
    return c
