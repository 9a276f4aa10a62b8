"""The CuTe DSL reduce-copy kernel on the GPU against a float64 host reference: every dtype and op, lengths
around the vector width and the tile, aligned and misaligned views, dst aliasing b, and through the fabric's
plugin registry."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import assert_close, random_array, rng, round_to

pytestmark = pytest.mark.cuda
pytest.importorskip("cutlass.cute")

from vibetensor.fabric.collectives import reduce_copy as registry  # noqa: E402
from vibetensor.kernels.cute import reduce_copy as rc  # noqa: E402

DTYPES = [vt.float32, vt.bfloat16, vt.float16]
OPS = ["sum", "max", "min"]
REF = {"sum": np.add, "max": np.maximum, "min": np.minimum}
LENGTHS = [1, 7, 4096 + 3, 1 << 20]


@pytest.fixture(autouse=True, scope="module")
def needs_sm90():
    if not rc.available():
        pytest.skip("the CuTe DSL plugin needs an sm_90+ GPU")


def on_gpu(values, dtype, offset):
    """A CUDA tensor holding `values`, starting `offset` elements into a fresh buffer (offset 1: misaligned)."""
    buf = vt.tensor(np.concatenate([np.full(offset, 1.5), values])).to(dtype).cuda()
    return buf[offset:]


def inputs(n, dtype, gen):
    return random_array((n,), dtype, gen), random_array((n,), dtype, gen)


def expected(x, y, op, dtype):
    return round_to(REF[op](x, y), dtype)  # float64, one rounding to dtype: what the kernel promises


def check(got, want, op, dtype):
    got = got.cpu()
    if op == "sum":
        assert_close(got, want, dtype)
    else:  # max and min are exact
        np.testing.assert_array_equal(got.to(vt.float64).numpy(), want)


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
# aligned: the vector form; any pointer off the 16-byte boundary: the scalar form
@pytest.mark.parametrize("offsets", [(0, 0, 0), (1, 1, 1), (0, 1, 0)], ids=["aligned", "misaligned", "a-misaligned"])
def test_matches_float64_reference(dtype, op, n, offsets):
    gen = rng()
    x, y = inputs(n, dtype, gen)
    dst = on_gpu(np.full(n, -3.25), dtype, offsets[0])
    a, b = on_gpu(x, dtype, offsets[1]), on_gpu(y, dtype, offsets[2])
    rc.reduce_copy(dst, a, b, op)
    check(dst, expected(x, y, op, dtype), op, dtype)
    np.testing.assert_array_equal(a.cpu().to(vt.float64).numpy(), x)  # the inputs are left alone
    np.testing.assert_array_equal(b.cpu().to(vt.float64).numpy(), y)


@pytest.mark.parametrize("misaligned", [False, True])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_dst_may_alias_b(dtype, op, misaligned):
    gen = rng()
    n = 3 * rc.tile(dtype.name, True) + 5
    x, y = inputs(n, dtype, gen)
    a, b = on_gpu(x, dtype, int(misaligned)), on_gpu(y, dtype, int(misaligned))
    rc.reduce_copy(b, a, b, op)
    check(b, expected(x, y, op, dtype), op, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_through_the_fabric_registry(dtype):
    gen = rng()
    n = 4096 + 3
    for op in ("sum", "avg", "max", "min"):
        x, y = inputs(n, dtype, gen)
        a, b = on_gpu(x, dtype, 0), on_gpu(y, dtype, 0)
        registry.reduce_copy(b, a, b, op, name="cute")
        ref_op = "sum" if op == "avg" else op  # the ring sums; the collective divides once at the end
        check(b, expected(x, y, ref_op, dtype), ref_op, dtype)


def test_long_buffers_split_into_launches(monkeypatch):
    """Past MAX_LAUNCH elements the launcher steps along the buffer (lowered here so the test stays small)."""
    monkeypatch.setattr(rc, "MAX_LAUNCH", 2 * rc.tile("float32", True))
    gen = rng()
    n = 5 * rc.MAX_LAUNCH + 11
    x, y = inputs(n, vt.float32, gen)
    dst = on_gpu(np.zeros(n), vt.float32, 0)
    rc.reduce_copy(dst, on_gpu(x, vt.float32, 0), on_gpu(y, vt.float32, 0), "max")
    check(dst, expected(x, y, "max", vt.float32), "max", vt.float32)


def test_empty_is_a_no_op():
    e = vt.empty(0, device="cuda")
    rc.reduce_copy(e, e, e, "sum")
