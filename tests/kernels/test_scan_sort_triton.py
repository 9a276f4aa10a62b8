"""The generated scan, sort, tril/triu and var/logsumexp kernels, run by Triton's interpreter against numpy
(float64 references), on small blocks so that the multi-block paths (split carries, merge passes) run."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels import interpret, interpret_scan
from helpers import random_array, rng

triton = pytest.importorskip("triton")


def view3(t):
    """(shape, strides) of a 3-D tensor as the kernels take them."""
    return tuple(t.shape), tuple(t.stride())


# ---- var / std / logsumexp (the reduction kernels' aux operand and final step) ---------------------------
@pytest.mark.parametrize("splits", [1, 3])
def test_var_std_two_pass(splits):
    a = random_array((3, 70, 5), vt.float32, rng()) + 1000  # a large mean: E[x^2] - E[x]^2 would cancel
    t = vt.tensor(a, dtype=vt.float32)
    ref_mean = a.mean(1)
    mean, _ = interpret.run_reduction("sumdiv", t, view3(t), vt.float32, vt.float32, param=70.0, block_r=16)
    np.testing.assert_allclose(mean.numpy()[0], ref_mean, rtol=1e-6)
    for op, ref in [("var", a.var(1, ddof=1)), ("std", a.std(1, ddof=1))]:
        if splits == 1:
            got, _ = interpret.run_reduction(op, t, view3(t), vt.float32, vt.float32, param=69.0, block_r=16,
                                             aux=mean[0])
            got = got.numpy()[0]
        else:  # the partial form per split, then the fold with the final step
            part, _ = interpret.run_reduction("sqdev", t, view3(t), vt.float32, vt.float32, splits=splits,
                                              block_r=16, aux=mean[0])
            fold = "sumdiv" if op == "var" else "sumdiv_sqrt"
            p = part.reshape(1, splits, 15)
            got, _ = interpret.run_reduction(fold, p, view3(p), vt.float32, vt.float32, param=69.0)
            got = got.numpy().reshape(3, 5)
        np.testing.assert_allclose(got, ref, rtol=1e-4)


def test_logsumexp_stable_with_infinite_rows():
    gen = rng()
    x = gen.normal(size=(4, 40, 3)) * 30 + 200  # exp would overflow float32 without the shift
    x[0, :, 0] = -np.inf
    x[1, 7, 1] = np.inf
    x[2, 3, 2] = np.nan
    t = vt.tensor(x, dtype=vt.float32)
    x = t.to(vt.float64).numpy()
    m, _ = interpret.run_reduction("amax", t, view3(t), vt.float32, vt.float32, block_r=16)
    got, _ = interpret.run_reduction("lse", t, view3(t), vt.float32, vt.float32, block_r=16, aux=m[0])
    with np.errstate(all="ignore"):
        mx = x.max(1)
        shift = np.where(np.isinf(mx), 0, mx)
        ref = np.log(np.exp(x - shift[:, None]).sum(1)) + shift
    assert got.numpy()[0][0, 0] == -np.inf and got.numpy()[0][1, 1] == np.inf and np.isnan(got.numpy()[0][2, 2])
    np.testing.assert_allclose(got.numpy()[0], ref, rtol=1e-6)


# ---- cumsum / cumprod -----------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["sum", "prod"])
@pytest.mark.parametrize("splits", [1, 3])
def test_scan_layouts_and_splits(op, splits):
    gen = rng()
    a = random_array((3, 45, 5), vt.float64, gen)
    if op == "prod":
        a = 1 + a / 40
    ref = np.cumsum(a, 1) if op == "sum" else np.cumprod(a, 1)
    t = vt.tensor(a, dtype=vt.float32)
    for x3, want in [(t, ref), (t.permute(2, 1, 0).contiguous().permute(2, 1, 0), ref),  # I-major memory
                     (t[:, :, 1:2], ref[:, :, 1:2])]:  # one column, strided rows
        out = interpret_scan.run_scan(op, x3, vt.float32, vt.float32, splits=splits, block_n=8)
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [vt.int32, vt.uint8, vt.bool, vt.int64])
def test_integer_scans_accumulate_in_int64(dtype):
    a = random_array((2, 50, 1), dtype, rng())
    t = vt.tensor(a).to(dtype)
    out = interpret_scan.run_scan("sum", t, vt.int64, vt.int64, block_n=16)
    assert out.dtype == vt.int64
    np.testing.assert_array_equal(out.numpy(), np.cumsum(a.astype(np.int64), 1))
    big = vt.tensor(np.full((1, 40, 1), 2**40, np.int64))  # exact beyond float precision
    np.testing.assert_array_equal(interpret_scan.run_scan("sum", big, vt.int64, vt.int64, splits=2).numpy().ravel(),
                                  2**40 * np.arange(1, 41))


def test_half_scan_accumulates_in_float():
    a = np.full((1, 300, 1), 0.1)
    t = vt.tensor(a).to(vt.float16)
    out = interpret_scan.run_scan("sum", t, vt.float16, vt.float32, block_n=32)
    ref = np.cumsum(np.full(300, np.float64(np.float16(0.1))))
    np.testing.assert_allclose(out.to(vt.float64).numpy().ravel(), ref, rtol=1e-3)


# ---- sort / argsort / topk ------------------------------------------------------------------------------
def reference_sort(a, descending):
    """Stable sort along axis 1 with NaN largest (and -0 == +0), like PyTorch."""
    key = np.where(np.isnan(a), np.inf, a).astype(np.float64) if a.dtype.kind == "f" else a.astype(np.float64)
    nan = np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
    # lexsort sorts by the last key first: NaN flag, then the value, ties by position (stable)
    order = np.empty(a.shape, np.int64)
    for o in range(a.shape[0]):
        for i in range(a.shape[2]):
            k, n = key[o, :, i], nan[o, :, i]
            if descending:
                idx = np.lexsort((np.arange(len(k)), -k, ~n))
            else:
                idx = np.lexsort((np.arange(len(k)), k, n))
            order[o, :, i] = idx
    return order


SORT_DTYPES = [vt.float32, vt.float64, vt.float16, vt.bfloat16, vt.int64, vt.int32, vt.int16, vt.int8, vt.uint8,
               vt.bool]


@pytest.mark.parametrize("dtype", SORT_DTYPES)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_one_block_stable_nan_largest(dtype, descending):
    gen = rng()
    a = random_array((3, 13, 2), dtype, gen)
    if dtype.is_floating_point:
        a = np.round(a)  # duplicates, to check stability
        a[0, 3, 0] = a[1, 0, 1] = np.nan
        a[1, 5, 1], a[1, 6, 1], a[2, 2, 0] = -0.0, 0.0, -np.inf
    t = vt.tensor(a).to(dtype)
    a = t.to(vt.float64).numpy() if dtype.is_floating_point else t.numpy()
    order = reference_sort(a, descending)
    for tile in (1024, 16) if dtype == vt.float32 else (1024,):  # several rows per program, and one
        vals, idx = interpret_scan.run_sort(t, descending, tile=tile)
        np.testing.assert_array_equal(idx.numpy(), order)
        got = vals.to(vt.float64).numpy() if dtype.is_floating_point else vals.numpy()
        np.testing.assert_array_equal(got, np.take_along_axis(a, order, 1))
    vals, idx = interpret_scan.run_sort(t, descending, k=4)  # topk: the first k of the stable order
    np.testing.assert_array_equal(idx.numpy(), order[:, :4])


@pytest.mark.parametrize("dtype", [vt.float32, vt.float64])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_rows_longer_than_a_block_merge(dtype, descending):
    gen = rng()
    a = gen.integers(0, 12, size=(2, 37, 2)).astype(np.float64)  # many ties across runs
    a[0, 7, 0] = a[1, 30, 1] = np.nan
    t = vt.tensor(a).to(dtype)
    order = reference_sort(a, descending)
    x3 = t.permute(2, 1, 0).contiguous().permute(2, 1, 0)  # rows strided in memory
    vals, idx = interpret_scan.run_sort(x3, descending, one_block=8, merge_block=64)
    np.testing.assert_array_equal(idx.numpy(), order)
    np.testing.assert_array_equal(vals.to(vt.float64).numpy(), np.take_along_axis(a, order, 1))
    _, idx = interpret_scan.run_sort(t, descending, k=9, one_block=16, merge_block=16)  # blocks of a pass
    np.testing.assert_array_equal(idx.numpy(), order[:, :9])
    for k in (1, 3, 4):  # topk's tournament: 37 -> 3 blocks of 8 -> 3k ... -> one block
        vals, idx = interpret_scan.run_sort(t, descending, k=k, one_block=8)
        np.testing.assert_array_equal(idx.numpy(), order[:, :k])
        np.testing.assert_array_equal(vals.to(vt.float64).numpy(), np.take_along_axis(a, order[:, :k], 1))


# ---- tril / triu ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [vt.float32, vt.float16, vt.int64, vt.bool])
def test_triangles(dtype):
    a = random_array((3, 5, 7), dtype, rng())
    t = vt.tensor(a).to(dtype)
    a = t.numpy() if dtype != vt.float16 else t.to(vt.float64).numpy()
    for diag in (-2, 0, 1, 9, -9):
        got = interpret_scan.run_triangle(t, True, diag)
        np.testing.assert_array_equal(got.to(vt.float64).numpy(), np.tril(a, diag).astype(np.float64))
        tt = t.transpose(1, 2)
        got = interpret_scan.run_triangle(tt, False, diag)
        want = np.triu(np.swapaxes(a, 1, 2), diag).astype(np.float64)
        np.testing.assert_array_equal(got.to(vt.float64).numpy(), want)
        c = t.clone()
        interpret_scan.run_triangle(c, False, diag, out=c)  # in place: only the zeroed part is written
        np.testing.assert_array_equal(c.to(vt.float64).numpy(), np.triu(a, diag).astype(np.float64))
