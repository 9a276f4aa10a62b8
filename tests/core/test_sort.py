"""sort, argsort and topk against numpy's stable sorts (NaN ordered above every number) and torch."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import ALL_DTYPES, assert_close, make, random_array, rng, torch, torch_call, torch_to_numpy

SORTABLE = ALL_DTYPES
TOPK_DTYPES = [d for d in ALL_DTYPES if d != vt.bool]


def _ref_argsort(a, dim, descending):
    """Stable order along dim, NaN largest: last ascending, first descending (ties keep input order)."""
    x = a.astype(np.float64)
    if not descending:
        return np.argsort(x, axis=dim, kind="stable")
    nan = np.isnan(x)
    return np.lexsort((-np.where(nan, 0.0, x), ~nan), axis=dim)


def _with_ties_and_nans(dtype, shape, g):
    a = random_array(shape, dtype, g)
    if dtype.is_floating_point:
        a = np.round(a)  # repeated values exercise stability
        a[g.random(shape) < 0.1] = np.nan
    return a


@pytest.mark.parametrize("dtype", SORTABLE)
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_stable_numpy(dtype, dim, descending):
    g = rng()
    a = _with_ties_and_nans(dtype, (6, 7, 5), g)
    idx = _ref_argsort(a, dim, descending)
    for layout in ["contiguous", "transposed", "strided"]:
        values, indices = vt.sort(make(a, dtype, layout), dim=dim, descending=descending, stable=True)
        assert indices.dtype == vt.int64 and values.dtype == dtype
        np.testing.assert_array_equal(indices.numpy(), idx)
        assert_close(values, np.take_along_axis(a, idx, dim), dtype)
    np.testing.assert_array_equal(vt.argsort(make(a, dtype), dim=dim, descending=descending).numpy(), idx)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dtype", [vt.float32, vt.int32, vt.bool, vt.bfloat16])
def test_sort_torch_parity(dtype, descending):
    g = rng()
    a = _with_ties_and_nans(dtype, (5, 8), g)
    v, i = vt.sort(make(a, dtype), 1, descending, stable=True)
    tv, ti = torch_call("sort", make(a, dtype), dim=1, descending=descending, stable=True)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_array_equal(v.float().numpy() if dtype == vt.bfloat16 else v.numpy(), torch_to_numpy(tv))
    ta = torch_call("argsort", make(a, dtype), dim=0, descending=descending, stable=True)
    np.testing.assert_array_equal(vt.argsort(make(a, dtype), 0, descending).numpy(), ta.numpy())


def test_sort_special_values_0d_empty_large():
    x = vt.tensor([1.0, float("nan"), -float("inf"), float("inf"), -0.0, 0.0])
    assert vt.sort(x).indices.tolist() == [2, 4, 5, 0, 3, 1]
    assert vt.sort(x, descending=True).indices.tolist() == [1, 3, 0, 4, 5, 2]
    v, i = vt.sort(vt.full([], 2.5))
    assert v.shape == () and v.item() == 2.5 and i.item() == 0
    assert vt.sort(vt.zeros(0, 3), dim=0).values.shape == (0, 3)
    assert vt.argsort(vt.zeros(3, 0)).shape == (3, 0)
    g = rng()
    big = random_array((300, 200), vt.float32, g)  # rows spread over threads, both row layouts
    for dim in (0, 1):
        v, i = vt.sort(make(big, vt.float32), dim=dim)
        np.testing.assert_array_equal(i.numpy(), np.argsort(big, axis=dim, kind="stable"))
    with pytest.raises(IndexError, match="dimension out of range"):
        vt.sort(x, dim=1)


@pytest.mark.parametrize("dtype", TOPK_DTYPES)
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("k, length", [(0, 9), (1, 9), (3, 9), (9, 9), (2, 200), (12, 200)])
def test_topk_matches_sorted_prefix(dtype, largest, k, length):
    """topk breaks ties by position, so its k winners are exactly the stable sort's first k (long rows with
    small k take the heap path, the others nth_element)."""
    g = rng()
    a = _with_ties_and_nans(dtype, (4, length, 3), g)
    ref = np.take(_ref_argsort(a, 1, largest), np.arange(k), axis=1)
    x = make(a, dtype, "transposed")
    values, indices = vt.topk(x, k, dim=1, largest=largest)
    np.testing.assert_array_equal(indices.numpy(), ref)
    assert_close(values, np.take_along_axis(a, ref, 1), dtype)
    # sorted=False: the same winners, in some order
    uv, ui = vt.topk(x, k, dim=1, largest=largest, sorted=False)
    np.testing.assert_array_equal(np.sort(ui.numpy(), axis=1), np.sort(ref, axis=1))
    assert_close(uv, np.take_along_axis(a, ui.numpy(), 1), dtype)


@pytest.mark.parametrize("largest", [True, False])
def test_topk_torch_parity_and_large(largest):
    g = rng()
    a = g.permutation(40 * 500).reshape(40, 500).astype(np.float32)  # distinct values: torch's order is defined
    v, i = vt.topk(vt.from_numpy(a), 7, largest=largest)
    tv, ti = torch_call("topk", vt.from_numpy(a), 7, largest=largest)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    v0, i0 = vt.topk(vt.from_numpy(a), 5, dim=0, largest=largest)
    np.testing.assert_array_equal(i0.numpy(), np.argsort(-a if largest else a, axis=0, kind="stable")[:5])


def test_topk_nan_0d_and_errors():
    x = vt.tensor([1.0, float("nan"), -float("inf"), float("inf")])
    assert vt.topk(x, 2).indices.tolist() == [1, 3]
    assert vt.topk(x, 2, largest=False).indices.tolist() == [2, 0]
    v, i = vt.topk(vt.full([], 3.0), 1)
    assert v.shape == () and v.item() == 3.0 and i.item() == 0
    assert vt.topk(vt.ones(3, 0), 0, dim=1).values.shape == (3, 0)
    with pytest.raises(IndexError, match="k out of range"):
        vt.topk(x, 5)
    with pytest.raises(IndexError, match="k out of range"):
        vt.topk(x, -1)
    with pytest.raises(TypeError, match="bool"):
        vt.topk(vt.tensor([True, False]), 1)
    with pytest.raises(IndexError, match="dimension out of range"):
        vt.topk(x, 1, dim=2)
