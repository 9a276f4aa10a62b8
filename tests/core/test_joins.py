"""cat, stack and the shape-copy ops (flip, roll, repeat, tril/triu) against numpy and torch."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import ALL_DTYPES, make, random_array, rng, to_numpy64, torch_call, torch_to_numpy


def tensor_of(arr, dtype, layout="contiguous"):
    """make(), keeping 0-d arrays 0-d."""
    return make(arr, dtype, layout).reshape(arr.shape)


def assert_same(out, expected, dtype):
    assert out.dtype == dtype
    np.testing.assert_array_equal(to_numpy64(out), np.asarray(expected).astype(to_numpy64(out).dtype))


def assert_torch_same(out, name, *args, **kwargs):
    expected = torch_call(name, *args, **kwargs)
    assert tuple(out.shape) == tuple(expected.shape)
    assert out.dtype.name == str(expected.dtype).replace("torch.", "")
    np.testing.assert_array_equal(to_numpy64(out), torch_to_numpy(expected).astype(to_numpy64(out).dtype))


# ---- cat ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_matches_numpy(dtype, dim):
    gen = rng()
    arrays = [random_array(s, dtype, gen) for s in [(3, 4, 5), (3, 4, 5)]]
    shape = list(arrays[0].shape)
    shape[dim] = 2
    arrays.append(random_array(shape, dtype, gen))
    for layouts in [("contiguous",) * 3, ("transposed", "strided", "contiguous")]:
        ts = [make(a, dtype, lay) for a, lay in zip(arrays, layouts)]
        assert_same(vt.cat(ts, dim), np.concatenate(arrays, dim), dtype)
    assert_torch_same(vt.cat(ts, dim), "cat", ts, dim)


@pytest.mark.parametrize("dtypes", [(vt.int8, vt.uint8), (vt.bool, vt.uint8), (vt.float16, vt.bfloat16),
                                    (vt.int32, vt.float64), (vt.bool, vt.int64, vt.float16)], ids=str)
def test_cat_promotes_types(dtypes):
    gen = rng()
    ts = [make(random_array((2, 3), d, gen), d) for d in dtypes]
    out = vt.cat(ts, 1)
    assert_torch_same(out, "cat", ts, 1)


def test_cat_skips_legacy_empty_1d_tensors():
    gen = rng()
    a = make(random_array((2, 3), vt.float32, gen), vt.float32)
    empty64 = vt.ones(0, dtype=vt.float64)
    out = vt.cat([empty64, a, vt.ones(0)], 1)  # dim 1 is valid for `a` only; the (0,)-tensors are ignored...
    assert out.dtype == vt.float64  # ...except in type promotion
    np.testing.assert_array_equal(out.numpy(), a.numpy())
    assert vt.cat([vt.ones(0), vt.ones(0)], 5).shape == (0,)  # all skipped: the dim is not even checked
    out = vt.cat([vt.ones(0, 3), a[:0], make(random_array((2, 3), vt.float32, gen), vt.float32)], 0)
    assert out.shape == (2, 3)  # a (0, 3) tensor is not skipped, but adds no rows


def test_cat_large_and_many_inputs():
    gen = rng()
    arrays = [random_array((200, 1 + 37 * i), vt.float32, gen) for i in range(6)]  # ~1.1 MB output, threaded
    ts = [make(a, vt.float32) for a in arrays]
    assert_same(vt.cat(ts, 1), np.concatenate(arrays, 1), vt.float32)
    assert_same(vt.cat(ts[:1] * 3, 0), np.concatenate(arrays[:1] * 3, 0), vt.float32)


def test_cat_bad_inputs():
    with pytest.raises(ValueError, match="expected a non-empty list of Tensors"):
        vt.cat([])
    with pytest.raises(ValueError, match="Sizes of tensors must match except in dimension 1. Expected size 2 but got "
                                         "size 3 for tensor number 1 in the list."):
        vt.cat([vt.ones(2, 2), vt.ones(3, 3)], 1)
    with pytest.raises(ValueError, match="Tensors must have same number of dimensions: got 2 and 3"):
        vt.cat([vt.ones(2, 2), vt.ones(2, 2, 2)])
    with pytest.raises(ValueError, match=r"zero-dimensional tensor \(at position 1\) cannot be concatenated"):
        vt.cat([vt.ones(2), vt.ones([])])
    with pytest.raises(IndexError, match="out of range"):
        vt.cat([vt.ones(2, 2), vt.ones(2, 2)], 2)


# ---- stack -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack(dim):
    gen = rng()
    arrays = [random_array((3, 4), vt.int16, gen) for _ in range(3)]
    ts = [make(a, vt.int16, lay) for a, lay in zip(arrays, ["contiguous", "transposed", "strided"])]
    out = vt.stack(ts, dim)
    assert_same(out, np.stack(arrays, dim), vt.int16)
    assert_torch_same(out, "stack", ts, dim)
    assert_same(vt.stack([vt.ones([]), vt.zeros([])]), [1, 0], vt.float32)  # 0-d inputs make a vector


def test_stack_bad_inputs():
    with pytest.raises(ValueError, match="stack expects a non-empty TensorList"):
        vt.stack([])
    with pytest.raises(ValueError, match=r"stack expects each tensor to be equal size, but got \[2, 3\] at entry 0 and "
                                         r"\[2, 4\] at entry 1"):
        vt.stack([vt.ones(2, 3), vt.ones(2, 4)])
    with pytest.raises(IndexError):
        vt.stack([vt.ones(2, 3), vt.ones(2, 3)], 3)


# ---- flip --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("dims", [[0], [2], [-1, 0], [0, 1, 2], []], ids=str)
def test_flip(dtype, dims):
    a = random_array((3, 4, 5), dtype, rng())
    for layout in ["contiguous", "transposed", "strided"]:
        t = make(a, dtype, layout)
        assert_same(vt.flip(t, dims), np.flip(a, dims) if dims else a, dtype)
    assert_torch_same(t.flip(dims), "flip", t, dims)


def test_flip_edge_cases():
    assert vt.flip(vt.ones([]) * 3, [0]).item() == 3
    assert vt.flip(vt.ones(0, 3), [0, 1]).shape == (0, 3)
    big = np.arange(300 * 301, dtype=np.float32).reshape(300, 301)  # threaded
    assert_same(vt.flip(vt.tensor(big), [1]), big[:, ::-1], vt.float32)
    with pytest.raises(ValueError, match="dim 0 appears multiple times in the list of dims"):
        vt.flip(vt.ones(2, 3), [0, -2])
    with pytest.raises(IndexError):
        vt.flip(vt.ones(2, 3), [2])


# ---- roll --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.int8, vt.bool], ids=str)
@pytest.mark.parametrize("shifts,dims", [(1, 0), (-2, 1), (7, -1), ([1, -3], [0, 2]), ([2, 2], [1, 1]),
                                         ([5], []), (-13, None), ([0, 4], [0, 1])], ids=str)
def test_roll(dtype, shifts, dims):
    a = random_array((3, 4, 5), dtype, rng())
    for layout in ["contiguous", "transposed"]:
        t = make(a, dtype, layout)
        out = vt.roll(t, shifts) if dims is None else vt.roll(t, shifts, dims)
        np_shift = shifts if dims is None or dims != [] else shifts[0]
        assert_same(out, np.roll(a, np_shift, None if not dims and dims != 0 else dims), dtype)
    args = (shifts,) if dims is None else (shifts, dims)
    assert_torch_same(out, "roll", t, *args)


def test_roll_edge_cases():
    assert vt.roll(vt.ones([]) * 3, 1).item() == 3
    assert vt.roll(vt.ones(0, 3), 1, 0).shape == (0, 3)
    with pytest.raises(ValueError, match="shifts and dimensions must align. shifts: 2, dims:1"):
        vt.roll(vt.ones(2, 3), [1, 2], [0])
    with pytest.raises(ValueError, match="shifts and dimensions must align. shifts: 2, dims:0"):
        vt.roll(vt.ones(2, 3), [1, 2])
    with pytest.raises(ValueError, match="`shifts` required"):
        vt.roll(vt.ones(2, 3), [], [])
    with pytest.raises(IndexError):
        vt.roll(vt.ones(2, 3), 1, 2)
    with pytest.raises(IndexError, match="has no dimensions"):
        vt.roll(vt.ones([]), 1, 0)


# ---- repeat ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [vt.float64, vt.float16, vt.uint8, vt.bool], ids=str)
@pytest.mark.parametrize("repeats", [(1, 1), (2, 3), (3, 1, 2), (2, 0), (2, 1, 1, 2)], ids=str)
def test_repeat(dtype, repeats):
    a = random_array((2, 3), dtype, rng())
    t = make(a, dtype, "transposed")
    out = t.repeat(*repeats)
    assert_same(out, np.tile(a, repeats), dtype)
    assert_torch_same(out, ".repeat", t, *repeats)


def test_repeat_edge_cases():
    scalar = vt.ones([]) * 3
    assert scalar.repeat([]).shape == () and scalar.repeat([]).item() == 3
    assert_same(scalar.repeat(2, 2), np.full((2, 2), 3.0), vt.float32)
    with pytest.raises(ValueError, match="Number of dimensions of repeat dims can not be smaller"):
        vt.ones(2, 3).repeat(2)
    with pytest.raises(ValueError, match=r"negative dimension -1: \[4, -3\]"):
        vt.ones(2, 3).repeat(2, -1)


# ---- tril / triu -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("op", ["tril", "triu"])
def test_tril_triu(dtype, op):
    a = random_array((2, 4, 5), dtype, rng())
    for layout in ["contiguous", "transposed", "strided"]:
        t = make(a, dtype, layout)
        for diagonal in [-5, -1, 0, 2, 9]:
            out = getattr(vt, op)(t, diagonal)
            assert_same(out, getattr(np, op)(a, diagonal), dtype)
    assert_torch_same(getattr(t, op)(-1), op, t, -1)


@pytest.mark.parametrize("op", ["tril", "triu"])
def test_tril_triu_in_place_on_a_view(op):
    gen = rng()
    base = random_array((6, 7), vt.float32, gen)
    tb = make(base, vt.float32)
    view = tb[1:5, ::2]  # non-contiguous, offset
    returned = getattr(view, op + "_")(1)
    assert returned is view or returned.data_ptr() == view.data_ptr()
    expected = base.copy()
    expected[1:5, ::2] = getattr(np, op)(base[1:5, ::2], 1)
    assert_same(tb, expected, vt.float32)  # only the view's elements changed


def test_tril_triu_edge_cases():
    assert vt.tril(vt.ones(3, 0, 4)).shape == (3, 0, 4)
    big = np.arange(1.0, 1 + 260 * 270).reshape(260, 270)  # threaded
    assert_same(vt.triu(vt.tensor(big), 3), np.triu(big, 3), vt.float64)
    with pytest.raises(ValueError, match="tril: input tensor must have at least 2 dimensions"):
        vt.tril(vt.ones(3))
    with pytest.raises(ValueError, match="triu: input tensor must have at least 2 dimensions"):
        vt.triu(vt.ones([]))
    with pytest.raises((ValueError, RuntimeError)):
        vt.ones(2, 3).expand(2, 2, 3).tril_()  # elements share memory: an in-place result would be ambiguous
