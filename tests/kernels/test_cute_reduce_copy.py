"""The CuTe DSL reduce-copy kernel, compiled for sm_90a with no GPU: its PTX, its ABI, and the launcher's checks.

Compiling all 18 specialisations takes ~20 s on two cores; each compiles once per session (lru_cache).
"""
import functools
import re

import pytest

pytest.importorskip("cutlass.cute")

import vibetensor as vt  # noqa: E402
from vibetensor.fabric.collectives.api import ReduceOp  # noqa: E402
from vibetensor.kernels import cute  # noqa: E402
from vibetensor.kernels.cute import aot, reduce_copy_kernel  # noqa: E402
from vibetensor.kernels.cute import reduce_copy as rc  # noqa: E402

ARCH = "sm_90a"
SPECS = [(d, o, v) for d in rc.DTYPES for o in ("sum", "max", "min") for v in (True, False)]
PARAM_BYTES = {"u64": 8, "b64": 8, "s64": 8, "u32": 4, "b32": 4, "s32": 4}
ARG_BYTES = {"ptr": 8, "i32": 4, "i64": 8, "f32": 4}


@functools.lru_cache(maxsize=None)
def compiled(dtype, op, vector):
    return reduce_copy_kernel.build(dtype, op, vector, ARCH)


def entry_params(ptx, entry):
    m = re.search(rf"\.entry\s+{re.escape(entry)}\s*\((.*?)\)", ptx, re.S)
    assert m, f"no .entry {entry} in the PTX"
    return re.findall(r"\.param\s+\.(\w+)", m.group(1))


def global_accesses(ptx):
    return re.findall(r"\b(?:ld|st)\.global(?:\.\w+)*", ptx)


@pytest.mark.parametrize("dtype,op,vector", SPECS, ids=lambda x: str(x) if not isinstance(x, bool) else "vs"[not x])
def test_specialisation_compiles_to_the_abi(dtype, op, vector):
    c = compiled(dtype, op, vector)
    assert c.cubin[:4] == b"\x7fELF" and c.entry.encode() in c.cubin
    assert re.search(r"^\.target\s+sm_90a\b", c.ptx, re.M)
    # What the launcher passes must be, one for one, what the entry declares.
    params = entry_params(c.ptx, c.entry)
    args = rc.launch_args(16, 32, 48, 7)
    assert [PARAM_BYTES[p] for p in params] == [ARG_BYTES[kind] for kind, _ in args]
    # The core launches 32 * num_warps threads; the kernel demands exactly rc.THREADS.
    assert re.search(rf"\.reqntid\s+{rc.THREADS}\s*,\s*1\s*,\s*1", c.ptx)
    acc = global_accesses(c.ptx)
    wide = [a for a in acc if ".v4" in a or ".v2.u64" in a or ".v2.b64" in a]
    if vector:  # the full-tile path: 2 * UNROLL 128-bit loads and UNROLL 128-bit stores, at least
        assert sum(a.startswith("ld") for a in wide) >= 2 * rc.UNROLL
        assert sum(a.startswith("st") for a in wide) >= rc.UNROLL
    else:  # element-aligned pointers: any vector access could fault, so there must be none
        assert not [a for a in acc if ".v" in a], acc
        assert acc


def test_vector_form_keeps_a_scalar_tail():
    """n not a multiple of the vector width: the straddling piece is finished with element accesses."""
    acc = global_accesses(compiled("bfloat16", "sum", True).ptx)
    assert any(a.startswith("ld") and ".v" not in a for a in acc)


@pytest.mark.parametrize("dtype,half", [("bfloat16", "bf16"), ("float16", "f16")])
def test_half_sum_is_one_correctly_rounded_add(dtype, half):
    """fp32 add then one cvt.rn, or NVVM's equivalent native add: float32 has 24 >= 2p + 2 bits for both
    16-bit types, so rounding through float32 equals rounding once. Never an approximate or flushing add."""
    ptx = compiled(dtype, "sum", True).ptx
    assert re.search(rf"\badd(\.rn)?\.{half}x2\b", ptx) or ("add.f32" in ptx and f"cvt.rn.{half}" in ptx)
    assert not re.search(r"\badd\.\S*(ftz|approx|sat)", ptx)


def test_launcher_constants_match_the_kernel():
    assert (rc.THREADS, rc.UNROLL) == (reduce_copy_kernel.THREADS, reduce_copy_kernel.UNROLL)
    assert set(rc.DTYPES) == set(reduce_copy_kernel.TYPES)
    assert rc.tile("float32", True) == 4096 and rc.tile("bfloat16", True) == 8192 and rc.tile("float16", False) == 1024
    assert rc.MAX_LAUNCH % rc.tile("float32", True) == 0  # later launches keep the 16-byte alignment


def test_keys_round_trip_and_bad_keys_are_refused():
    for d, o, v in SPECS:
        assert rc.parse_key(rc.key(d, o, v)) == (d, o, v)
    for bad in ("cute|rc|float64|sum|v", "cute|rc|float32|prod|v", "cute|rc|float32|sum|x", "cute|rc|float32|sum"):
        with pytest.raises(ValueError, match="not a reduce-copy kernel key"):
            rc.parse_key(bad)
    with pytest.raises(KeyError, match="no CuTe DSL kernel family"):
        cute.compile_key("cute|gemm|float32")


def test_launch_plan():
    assert rc.plan((0, 256, 4096), 10, 4) == [(True, 0, 10)]
    assert rc.plan((4, 260, 4100), 7, 4) == [(False, 0, 7)]
    assert rc.plan((0, 4, 0), 9000, 4) == [(False, 0, 9000)]
    assert rc.plan((0, 16, 32), 0, 2) == []
    n = 2 * rc.MAX_LAUNCH + 5  # later launches start MAX_LAUNCH elements on: still 16-byte aligned
    assert rc.plan((0, 16, 32), n, 2) == [(True, 0, rc.MAX_LAUNCH), (True, rc.MAX_LAUNCH, rc.MAX_LAUNCH),
                                          (True, 2 * rc.MAX_LAUNCH, 5)]


def test_kernel_keys_name_both_forms():
    assert rc.kernel_keys(vt.bfloat16, ReduceOp.AVG) == ["cute|rc|bfloat16|sum|v", "cute|rc|bfloat16|sum|s"]
    assert rc.kernel_keys(vt.float32, "max") == ["cute|rc|float32|max|v", "cute|rc|float32|max|s"]


def test_arch_names():
    assert aot.arch_of(9, 0) == "sm_90a" and aot.arch_of(10, 0) == "sm_100a" and aot.arch_of(8, 0) == "sm_80"


def test_disk_cache_builds_once(tmp_path, monkeypatch):
    monkeypatch.setenv("VIBETENSOR_KERNEL_CACHE", str(tmp_path))
    c = compiled("float32", "sum", True)
    builds = []

    def build():
        builds.append(1)
        return c

    first = aot.cached("cute|rc|float32|sum|v", ARCH, [reduce_copy_kernel.__file__], build)
    again = aot.cached("cute|rc|float32|sum|v", ARCH, [reduce_copy_kernel.__file__], build)
    assert len(builds) == 1 and (again.entry, again.cubin) == (first.entry, first.cubin) == (c.entry, c.cubin)
    assert aot.cached("cute|rc|float32|sum|v", "sm_100a", [reduce_copy_kernel.__file__], build) and len(builds) == 2


def test_bad_arguments_raise_clear_errors():
    x = vt.ones(8)
    with pytest.raises(ValueError, match="unknown reduce op"):
        rc.reduce_copy(x, x, x, "prod")
    with pytest.raises(TypeError, match="a must be a tensor"):
        rc.reduce_copy(x, [1.0] * 8, x)
    with pytest.raises(ValueError, match="1-D and contiguous"):
        rc.reduce_copy(x, vt.ones(2, 4), x)
    with pytest.raises(ValueError, match="1-D and contiguous"):
        rc.reduce_copy(x, vt.ones(16)[::2], x)
    with pytest.raises(TypeError, match="dtypes differ"):
        rc.reduce_copy(x, x.to(vt.bfloat16), x)
    with pytest.raises(TypeError, match="float64 is not supported"):
        y = vt.ones(8, dtype=vt.float64)
        rc.reduce_copy(y, y, y)
    with pytest.raises(ValueError, match="lengths differ"):
        rc.reduce_copy(x, vt.ones(9), x)
    if not vt.cuda.is_available():
        with pytest.raises(ValueError, match="dst must be a CUDA tensor"):
            rc.reduce_copy(x, x, x, ReduceOp.MAX)
