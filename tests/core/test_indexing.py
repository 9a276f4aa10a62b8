"""x[idx], x[idx] = v and the indexing ops (index, index_put, gather, scatter, scatter_add, index_select,
index_add, masked_select, nonzero, embedding, one_hot) against numpy references and torch.

References: numpy fancy indexing for x[idx] (PyTorch's rules match numpy's wherever the test uses them),
np.take_along_axis / np.put_along_axis, np.add.at for accumulation, np.take, np.argwhere.
"""
import numpy as np
import pytest

import vibetensor as vt
from helpers import (ALL_DTYPES, FLOAT_DTYPES, INT_DTYPES, assert_close, make, random_array, rng, to_numpy64, torch,
                     torch_call, torch_to_numpy)

SHAPE = (4, 5, 6)
LAYOUTS = ["contiguous", "transposed", "strided"]
NUMERIC = [vt.float32, vt.float64, vt.float16, vt.bfloat16, vt.int64, vt.int32, vt.int16, vt.int8, vt.uint8]


def _vt_index(spec):
    """The same index for vibetensor: numpy arrays become tensors; everything else passes unchanged."""
    if isinstance(spec, tuple):
        return tuple(_vt_index(s) for s in spec)
    if isinstance(spec, np.ndarray):
        return vt.from_numpy(spec.copy())
    return spec


def _torch_index(spec):
    if isinstance(spec, tuple):
        return tuple(_torch_index(s) for s in spec)
    if isinstance(spec, np.ndarray):
        return torch.from_numpy(spec.copy())
    return spec


def _index_cases():
    g = np.random.default_rng(7)
    a = np.array
    return {
        "int": 2, "neg_int": -1, "slice_step": slice(1, None, 2), "neg_slice": slice(-3, None),
        "none": (None, 1), "ellipsis": (Ellipsis, 2), "basic_mix": (1, Ellipsis, None, slice(None, None, 3)),
        "true": True, "false": False, "int_and_true": (0, True),
        "int_tensor": a([3, 0, -2, 1]), "int_tensor_2d": a([[0, 3], [-2, 1]]), "int32": a([1, -3], np.int32),
        "mask_1d": g.integers(0, 2, 4).astype(bool), "mask_2d": g.integers(0, 2, (4, 5)).astype(bool),
        "mask_3d": g.integers(0, 2, SHAPE).astype(bool), "mask_after_slice": (slice(None), a([1, 0, 1, 1, 0], bool)),
        "all_false": np.zeros(4, bool), "list": [0, 2], "list_bool": [True, False, True, True], "nested_list": [[0, 1], [3, 2]],
        "adjacent": (slice(None), a([0, 4, 2]), a([5, 1, 0])), "nonadjacent": (a([0, 3]), slice(1, 3), a([5, 1])),
        "broadcast": (a([[0], [3]]), a([1, 2, 4])), "ellipsis_adv": (Ellipsis, a([0, 5])),
        "slice_adv": (slice(1, None, 2), a([[0, 1]])), "none_adv": (None, a([1, 0]), None),
        "int_adv_split": (a([0, 2]), slice(None), 1), "empty_int": a([], np.int64), "mask_and_int": (a([1, 0, 1, 1], bool), 2),
    }


CASES = _index_cases()


# ---- x[idx] ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_getitem_matches_numpy(case, layout):
    ref = random_array(SHAPE, vt.float64, rng())
    x = make(ref, vt.float64, layout)
    assert_close(x[_vt_index(CASES[case])], ref[CASES[case]])


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("case", ["int_tensor_2d", "mask_2d", "nonadjacent", "broadcast"])
def test_getitem_dtypes(case, dtype):
    ref = random_array(SHAPE, dtype, rng())
    got = make(ref, dtype, "transposed")[_vt_index(CASES[case])]
    assert got.dtype == dtype
    assert_close(got, ref[CASES[case]], dtype)


@pytest.mark.parametrize("spec", [(slice(None), np.array([0, 2]), slice(None), 1), (np.array([[1], [0]]), Ellipsis, 0),
                                  (1, np.array([0, 2]), np.array([3, 1])), (None, np.array([True, False, True]), None)])
def test_getitem_torch_parity(spec):
    """Where torch's rules are not numpy's (ints select first, so they never separate advanced indices)."""
    if torch is None:
        pytest.skip("torch is not installed")
    ref = random_array((3, 4, 5, 6), vt.float32, rng())
    x = make(ref, vt.float32)
    np.testing.assert_array_equal(x[_vt_index(spec)].numpy(), torch.from_numpy(ref.astype(np.float32))[_torch_index(spec)].numpy())


def test_getitem_0d_and_empty():
    s = vt.full([], 3.5)
    assert s[None].shape == (1,) and s[True].tolist() == [3.5] and s[False].shape == (0,)
    assert s[...].shape == () and s[vt.full([], True)].shape == (1,)
    e = vt.zeros(0, 3)
    assert e[vt.tensor([], dtype=vt.int64)].shape == (0, 3)
    assert vt.zeros(2, 0)[vt.tensor([1, 0, 1])].shape == (3, 0)
    ref = random_array((5,), vt.float64, rng())
    assert_close(make(ref, vt.float64)[vt.full([], -2, dtype=vt.int64)], ref[-2])


def test_getitem_large_multithreaded():
    g = rng()
    ref = random_array((1000,), vt.float32, g)
    idx = g.integers(-1000, 1000, 200_000)
    assert_close(make(ref, vt.float32)[vt.from_numpy(idx)], ref[idx])
    ref2 = random_array((300, 257), vt.float64, g)
    idx2 = g.integers(0, 300, 700)
    assert_close(make(ref2, vt.float64, "transposed")[vt.from_numpy(idx2)], ref2[idx2])


# ---- x[idx] = v ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["scalar", "full", "row"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_setitem_matches_numpy(case, value):
    g = rng()
    ref = random_array(SHAPE, vt.float64, g)
    x = make(ref, vt.float64, "strided")
    spec = CASES[case]
    result_shape = ref[spec].shape
    if value == "scalar":
        v = float(g.uniform(-4, 4))
        x[_vt_index(spec)] = v
    else:
        shape = result_shape if value == "full" else result_shape[-1:]
        v = random_array(shape, vt.float64, g)
        x[_vt_index(spec)] = make(v, vt.float64)
    ref[spec] = v
    assert_close(x, ref)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_setitem_dtypes(dtype):
    g = rng()
    ref = random_array(SHAPE, dtype, g)
    x = make(ref, dtype, "transposed")
    mask, idx = CASES["mask_2d"], np.array([2, 0])
    v = random_array(ref[mask].shape, dtype, g)
    x[vt.from_numpy(mask)] = make(v, dtype)
    ref[mask] = v
    w = random_array((2, 1, 6), dtype, g)  # broadcasts over dim 1
    x[vt.from_numpy(idx)] = make(w, dtype)
    ref[idx] = w
    assert_close(x, ref, dtype)


def test_setitem_value_with_leading_ones_and_torch_parity():
    ref = random_array((3, 4), vt.float32, rng())
    x = make(ref, vt.float32)
    v = random_array((1, 2, 4), vt.float32, rng(1))
    x[vt.tensor([2, 0])] = make(v, vt.float32)
    if torch is not None:
        t = torch.from_numpy(ref.astype(np.float32))
        t[torch.tensor([2, 0])] = torch.from_numpy(v.astype(np.float32))
        np.testing.assert_array_equal(x.numpy(), t.numpy())


# ---- bad indices -----------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, exc, msg", [
    (5, IndexError, "out of bounds"), ((0, -7), IndexError, "out of bounds"),
    (np.array([1, 4]), IndexError, "index 4 is out of bounds for dimension 0 with size 4"),
    ((slice(None), np.array([-6])), IndexError, "index -6 is out of bounds for dimension 1 with size 5"),
    (np.array([1.0]), IndexError, "tensors used as indices"), (np.array([1], np.int16), IndexError, "indices"),
    (np.array([True, False]), IndexError, "shape of the mask"), ((0, 0, 0, 0), IndexError, "too many indices"),
    ((Ellipsis, Ellipsis), IndexError, "single ellipsis"), ("a", IndexError, "only integers"),
    ((np.array([0, 1]), np.array([0, 1, 2])), IndexError, "shape mismatch"),
])
def test_bad_indices(spec, exc, msg):
    x = vt.zeros(*SHAPE)
    with pytest.raises(exc, match=msg):
        x[_vt_index(spec)]
    with pytest.raises(exc, match=msg):
        x[_vt_index(spec)] = 1.0


def test_setitem_checks_every_index_before_writing():
    x = vt.arange(4.0)
    with pytest.raises(IndexError, match="index 9 is out of bounds"):
        x[vt.tensor([0, 1, 9])] = 7.0
    with pytest.raises(IndexError, match="out of bounds"):
        vt.index_put(x, (vt.tensor([1, -5]),), vt.tensor(2.0), accumulate=True)
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="shape mismatch"):
        x[vt.tensor([0, 1])] = vt.ones(3)
    with pytest.raises(TypeError, match="dtypes match"):
        x.index_put_((vt.tensor([0]),), vt.ones(1, dtype=vt.float64))
    with pytest.raises(RuntimeError, match="more than one element"):
        vt.zeros(1).expand(3).index_put_((vt.tensor([0]),), vt.ones(1))


# ---- the index / index_put ops directly -------------------------------------------------------------
@pytest.mark.parametrize("mask_dtype", [vt.bool, vt.uint8])
def test_index_op_with_masks_and_nones(mask_dtype):
    g = rng()
    ref = random_array(SHAPE, vt.float32, g)
    x = make(ref, vt.float32, "transposed")
    m = g.integers(0, 2, (5, 6)).astype(bool)
    mt = vt.from_numpy(m).to(mask_dtype)
    assert_close(vt._C._ops.index(x, [None, mt]), ref[:, m])
    assert_close(vt._C._ops.index(x, [vt.full([], True)]), ref[None])
    i = np.array([[2], [0]], np.int32)
    assert_close(vt._C._ops.index(x, [vt.from_numpy(i), None, vt.tensor([5, 1, 0])]), ref[i, :, [5, 1, 0]])
    assert_close(vt._C._ops.index(x, [None]), ref)
    with pytest.raises(IndexError, match="at least one index"):
        vt._C._ops.index(x, [])


@pytest.mark.parametrize("dtype", NUMERIC)
def test_index_put_accumulate_sums_duplicates(dtype):
    g = rng()
    ref = random_array((6, 3), dtype, g)
    idx = g.integers(-6, 6, 40)
    v = random_array((40, 3), dtype, g, low=-1, high=1)
    out = vt.index_put(make(ref, dtype, "transposed"), (vt.from_numpy(idx),), make(v, dtype), accumulate=True)
    expect = ref.astype(np.float64)
    np.add.at(expect, idx, v.astype(np.float64))
    if dtype.is_floating_point:
        assert_close(out, expect, dtype, atol={vt.float16: 0.05, vt.bfloat16: 0.3}.get(dtype))
    else:  # integer sums wrap like the dtype does
        np.testing.assert_array_equal(out.numpy(), expect.astype(np.int64).astype(out.numpy().dtype))
    if dtype in (vt.float32, vt.int32):
        t = torch_call("index_put", make(ref, dtype), (vt.from_numpy(idx),), make(v, dtype), accumulate=True)
        np.testing.assert_allclose(out.numpy(), torch_to_numpy(t), rtol=1e-5)


def test_index_put_two_indices_accumulate_and_inplace():
    g = rng()
    ref = random_array((5, 4, 3), vt.float64, g)
    i0, i1 = g.integers(0, 5, (7, 1)), g.integers(-4, 4, 9)  # broadcast to (7, 9), with repeats
    v = random_array((7, 9, 3), vt.float64, g)
    x = make(ref, vt.float64, "strided")
    assert x.index_put_((vt.from_numpy(i0), vt.from_numpy(i1)), make(v, vt.float64), accumulate=True) is x
    np.add.at(ref, (i0, i1), v)
    assert_close(x, ref)
    b = vt.tensor([True, False, True])
    assert vt.index_put(vt.zeros(3, dtype=vt.bool), (vt.tensor([0, 0]),), vt.ones(2, dtype=vt.bool), True).tolist() == [True, False, False]
    y = vt.index_put(vt.zeros(3), (b,), 2.5)  # a Python number as the value, a mask as the index
    assert y.tolist() == [2.5, 0.0, 2.5]


def test_index_put_accumulate_large_multithreaded():
    g = rng()
    ref = random_array((50, 600), vt.float64, g)
    idx = g.integers(0, 50, 3000)
    v = random_array((3000, 600), vt.float64, g)
    out = vt.index_put(make(ref, vt.float64), (vt.from_numpy(idx),), make(v, vt.float64), accumulate=True)
    np.add.at(ref, idx, v)
    assert_close(out, ref)


# ---- gather / scatter -----------------------------------------------------------------------------
def _gather_ref(a, dim, idx):
    """np.take_along_axis on `a` cut down to the index's size in every other dim (PyTorch allows smaller)."""
    a = a[tuple(slice(0, n) if d != dim else slice(None) for d, n in enumerate(idx.shape))]
    return np.take_along_axis(a, idx, dim)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(dtype, dim):
    g = rng()
    ref = random_array((4, 5, 3), dtype, g)
    d = dim % 3
    ishape = [3, 4, 2]
    ishape[d] = 7
    idx = g.integers(0, ref.shape[d], ishape)
    for layout in ["contiguous", "transposed"]:
        got = vt.gather(make(ref, dtype, layout), dim, make(idx, vt.int64, "strided" if layout != "contiguous" else layout))
        assert_close(got, _gather_ref(ref, d, idx), dtype)
    if dtype == vt.float32:
        t = torch_call("gather", make(ref, dtype), dim, vt.from_numpy(idx))
        np.testing.assert_array_equal(got.numpy(), torch_to_numpy(t))


def test_gather_0d_empty_and_errors():
    assert vt.gather(vt.full([], 3.0), 0, vt.full([], 0, dtype=vt.int64)).tolist() == 3.0
    assert vt.gather(vt.full([], 3.0), 0, vt.zeros(2, dtype=vt.int64)).tolist() == [3.0, 3.0]
    assert vt.gather(vt.ones(3, 4), 1, vt.zeros(3, 0, dtype=vt.int64)).shape == (3, 0)
    x = vt.ones(3, 4)
    with pytest.raises(TypeError, match="Expected dtype int64 for index"):
        vt.gather(x, 0, vt.zeros(1, 4, dtype=vt.int32))
    with pytest.raises(ValueError, match="same number of dimensions"):
        vt.gather(x, 0, vt.zeros(4, dtype=vt.int64))
    with pytest.raises(ValueError, match="no larger than self"):
        vt.gather(x, 0, vt.zeros(1, 5, dtype=vt.int64))
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 1 with size 4"):
        vt.gather(x, 1, vt.tensor([[0, 4]]))
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        vt.gather(x, 1, vt.tensor([[-1]]))
    with pytest.raises(IndexError, match="dimension out of range"):
        vt.gather(x, 2, vt.tensor([[0]]))


def _scatter_ref(a, dim, idx, src, reduce=None):
    """The definition, one index position at a time."""
    out = a.astype(np.float64).copy()
    for pos in np.ndindex(*idx.shape):
        target = pos[:dim] + (idx[pos],) + pos[dim + 1:]
        v = src if np.isscalar(src) else src[pos]
        out[target] = v if reduce is None else out[target] + v if reduce == "add" else out[target] * v
    return out


def _unique_lines(g, shape, dim, size):
    """An index with no repeats along `dim` (so plain scatter has one answer)."""
    idx = np.argsort(g.random(shape[:dim] + (size,) + shape[dim + 1:]), axis=dim)
    return np.ascontiguousarray(np.take(idx, np.arange(shape[dim]), axis=dim))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_matches_put_along_axis(dtype, dim):
    g = rng()
    ref = random_array((5, 6), dtype, g)
    src = random_array((5, 7), dtype, g)
    ishape = (3, 4) if dim == 0 else (4, 5)
    idx = _unique_lines(g, ishape, dim, ref.shape[dim])
    got = vt.scatter(make(ref, dtype, "transposed"), dim, make(idx, vt.int64, "transposed"), make(src, dtype, "strided"))
    expect = ref.copy()
    sub = expect[tuple(slice(0, n) if d != dim else slice(None) for d, n in enumerate(ishape))]
    np.put_along_axis(sub, idx, src[:ishape[0], :ishape[1]], dim)
    assert_close(got, expect, dtype)
    assert_close(got, _scatter_ref(ref, dim, idx, src), dtype)


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("reduce", ["add", "multiply"])
@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
def test_scatter_reduce_and_scatter_add_with_repeats(dtype, reduce):
    g = rng()
    ref = random_array((4, 6), dtype, g, low=-2, high=2)
    # small integers keep repeated products exact in the float64 reference
    src = random_array((9, 6), dtype, g, low=-1.5, high=1.5) if dtype.is_floating_point else g.integers(1, 4, (9, 6))
    idx = g.integers(0, 4, (9, 5))
    x = make(ref, dtype, "transposed")
    got = x.scatter(0, vt.from_numpy(idx), make(src, dtype), reduce=reduce)
    expect = _scatter_ref(ref, 0, idx, src, reduce)
    tol = dict(atol=0.3, rtol=0.05) if dtype in (vt.float16, vt.bfloat16) else {}
    if dtype.is_floating_point:
        assert_close(got, expect, dtype, **tol)
    else:
        np.testing.assert_array_equal(got.numpy(), expect.astype(np.int64).astype(got.numpy().dtype))
    if reduce == "add":
        assert_close(vt.scatter_add(x, 0, vt.from_numpy(idx), make(src, dtype)), to_numpy64(got), dtype)
    if dtype == vt.float64:
        t = torch_call("scatter", make(ref, dtype), 0, vt.from_numpy(idx), make(src, dtype), reduce=reduce)
        np.testing.assert_allclose(got.numpy(), torch_to_numpy(t))


def test_scatter_value_inplace_0d_and_empty():
    x = vt.zeros(3, 4)
    idx = vt.tensor([[0, 2, 1, 0]])
    assert x.scatter_(0, idx, 2.5) is x
    assert_close(x, _scatter_ref(np.zeros((3, 4)), 0, idx.numpy(), 2.5))
    x.scatter_(0, idx, 2.0, reduce="multiply")
    assert_close(x, _scatter_ref(np.zeros((3, 4)), 0, idx.numpy(), 5.0))
    x.scatter_add_(1, vt.tensor([[3, 3]]), vt.ones(1, 2))
    assert x[0, 3].item() == 7.0  # 5.0 from the scatters above, plus 1 twice
    s = vt.full([], 1.0)
    assert vt.scatter(s, 0, vt.full([], 0, dtype=vt.int64), vt.full([], 5.0)).tolist() == 5.0
    assert vt.scatter_add(x, 0, vt.zeros(0, 4, dtype=vt.int64), vt.ones(1, 4)).tolist() == x.tolist()


def test_scatter_add_large_multithreaded():
    g = rng()
    ref = random_array((200, 300), vt.float64, g)
    idx = g.integers(0, 200, (400, 300))
    src = random_array((400, 300), vt.float64, g)
    got = vt.scatter_add(make(ref, vt.float64), 0, vt.from_numpy(idx), make(src, vt.float64))
    np.add.at(ref, (idx, np.arange(300)[None, :]), src)
    assert_close(got, ref)


def test_scatter_errors_leave_self_unchanged():
    x = vt.zeros(3, 4)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x.scatter_(0, vt.tensor([[0, 1, 2, 3]]), vt.ones(1, 4))
    assert x.tolist() == vt.zeros(*x.shape).tolist()
    with pytest.raises(ValueError, match="reduce argument must be either add or multiply"):
        x.scatter_(0, vt.tensor([[0]]), vt.ones(1, 1), reduce="max")
    with pytest.raises(TypeError, match="self.dtype to be equal to src.dtype"):
        x.scatter_(0, vt.tensor([[0]]), vt.ones(1, 1, dtype=vt.float64))
    with pytest.raises(TypeError, match="Expected dtype int64 for index"):
        x.scatter_add_(0, vt.tensor([[0]], dtype=vt.int32), vt.ones(1, 1))
    with pytest.raises(ValueError, match="same number of dimensions as src"):
        x.scatter_(0, vt.tensor([[0]]), vt.ones(1))
    with pytest.raises(ValueError, match="no larger size than src"):
        x.scatter_(0, vt.tensor([[0, 1]]), vt.ones(1, 1))
    with pytest.raises(ValueError, match="no larger than self"):
        x.scatter_(1, vt.zeros(4, 1, dtype=vt.int64), vt.ones(4, 1))
    with pytest.raises(RuntimeError, match="more than one element"):
        vt.zeros(1, 4).expand(3, 4).scatter_(0, vt.tensor([[0]]), vt.ones(1, 1))


# ---- index_select / index_add / embedding ----------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select(dtype, dim):
    g = rng()
    ref = random_array((4, 5, 3), dtype, g)
    idx = g.integers(0, ref.shape[dim], 7)
    for itype, layout in [(vt.int64, "contiguous"), (vt.int32, "transposed")]:
        got = vt.index_select(make(ref, dtype, layout), dim, make(idx, vt.int64).to(itype))
        assert_close(got, np.take(ref, idx, axis=dim), dtype)
    if dtype == vt.float32:
        t = torch_call("index_select", make(ref, dtype), dim, vt.from_numpy(idx))
        np.testing.assert_array_equal(got.numpy(), torch_to_numpy(t))


def test_index_select_shapes_and_errors():
    x = vt.arange(12.0).reshape(3, 4)
    assert x.index_select(0, vt.full([], 2, dtype=vt.int64)).tolist() == [[8.0, 9.0, 10.0, 11.0]]
    assert x.index_select(1, vt.tensor([], dtype=vt.int64)).shape == (3, 0)
    assert vt.index_select(vt.full([], 3.0), 0, vt.tensor([0])).shape == ()
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x.index_select(0, vt.tensor([0, 3]))
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        x.index_select(0, vt.tensor([-1]))
    with pytest.raises(IndexError, match="supposed to be a vector"):
        x.index_select(0, vt.tensor([[0]]))
    with pytest.raises(TypeError, match="int32 or int64"):
        x.index_select(0, vt.tensor([0.0]))


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("dim", [0, 1])
def test_index_add(dtype, dim):
    g = rng()
    ref = random_array((5, 4), dtype, g, low=-2, high=2)
    idx = g.integers(0, ref.shape[dim], 9)
    sshape = (9, 4) if dim == 0 else (5, 9)
    src = random_array(sshape, dtype, g, low=-2, high=2)
    alpha = 2 if not dtype.is_floating_point else 0.5
    x = make(ref, dtype, "transposed")
    got = vt.index_add(x, dim, make(idx, vt.int64).to(vt.int32), make(src, dtype, "strided"), alpha=alpha)
    expect = ref.astype(np.float64)
    for k, i in enumerate(idx):
        if dim == 0:
            expect[i] += alpha * src[k].astype(np.float64)
        else:
            expect[:, i] += alpha * src[:, k].astype(np.float64)
    if dtype.is_floating_point:
        assert_close(got, expect, dtype, atol=0.1 if dtype in (vt.float16, vt.bfloat16) else None)
    else:
        np.testing.assert_array_equal(got.numpy(), expect.astype(np.int64).astype(got.numpy().dtype))
    assert_close(x, ref, dtype)  # the out-of-place op left self alone
    assert x.index_add_(dim, vt.from_numpy(idx), make(src, dtype), alpha=alpha) is x
    assert_close(x, to_numpy64(got), dtype)
    if dtype == vt.float64:
        t = torch_call("index_add", make(ref, dtype), dim, vt.from_numpy(idx), make(src, dtype), alpha=alpha)
        np.testing.assert_allclose(got.numpy(), torch_to_numpy(t))


def test_index_add_errors():
    x = vt.zeros(3, 2)
    with pytest.raises(IndexError, match="out of bounds"):
        x.index_add_(0, vt.tensor([0, 3]), vt.ones(2, 2))
    assert x.tolist() == vt.zeros(*x.shape).tolist()
    with pytest.raises(ValueError, match="Number of indices"):
        x.index_add_(0, vt.tensor([0]), vt.ones(2, 2))
    with pytest.raises(ValueError, match="source tensor shape must match"):
        x.index_add_(0, vt.tensor([0]), vt.ones(1, 3))
    with pytest.raises(TypeError, match="same scalar type"):
        x.index_add_(0, vt.tensor([0]), vt.ones(1, 2, dtype=vt.float64))


@pytest.mark.parametrize("itype", [vt.int64, vt.int32])
def test_embedding(itype):
    g = rng()
    w = random_array((10, 6), vt.float32, g)
    idx = g.integers(0, 10, (3, 4))
    wt = make(w, vt.float32, "transposed")
    got = vt.embedding(wt, make(idx, vt.int64, "strided").to(itype))
    assert_close(got, w[idx])
    assert vt.embedding(wt, vt.full([], 2, dtype=itype)).shape == (6,)
    assert vt.embedding(wt, vt.tensor([], dtype=itype)).shape == (0, 6)
    t = torch_call("embedding", make(w, vt.float32), vt.from_numpy(idx))
    np.testing.assert_array_equal(got.numpy(), torch_to_numpy(t))
    with pytest.raises(IndexError, match="index 10 is out of bounds"):
        vt.embedding(wt, vt.tensor([10]).to(itype))
    with pytest.raises(ValueError, match="must be 2-D"):
        vt.embedding(vt.ones(3), vt.tensor([0]))
    with pytest.raises(TypeError, match="int64 or int32"):
        vt.embedding(wt, vt.tensor([0.0]))


# ---- masked_select / nonzero / one_hot -------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_masked_select_broadcasts(dtype):
    g = rng()
    ref = random_array((4, 1, 5), dtype, g)
    mask = g.integers(0, 2, (3, 5)).astype(bool)
    got = vt.masked_select(make(ref, dtype, "transposed"), make(mask, vt.bool, "strided"))
    shape = np.broadcast_shapes(ref.shape, mask.shape)
    assert_close(got, np.broadcast_to(ref, shape)[np.broadcast_to(mask, shape)], dtype)
    if dtype == vt.int32:
        t = torch_call("masked_select", make(ref, dtype), vt.from_numpy(mask))
        np.testing.assert_array_equal(got.numpy(), t.numpy())
    with pytest.raises(TypeError, match="expected BoolTensor"):
        vt.masked_select(make(ref, dtype), vt.ones(5, dtype=vt.uint8))


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_nonzero(dtype):
    g = rng()
    ref = random_array((5, 4, 3), dtype, g) * g.integers(0, 2, (5, 4, 3)).astype(ref_type(dtype))
    got = vt.nonzero(make(ref, dtype, "transposed"))
    assert got.dtype == vt.int64
    np.testing.assert_array_equal(got.numpy(), np.argwhere(ref))


def ref_type(dtype):
    return np.bool_ if dtype == vt.bool else np.float64 if dtype.is_floating_point else np.int64


def test_nonzero_special_values_0d_empty_large():
    x = vt.tensor([0.0, -0.0, float("nan"), float("inf"), 1e-30])
    assert vt.nonzero(x).tolist() == [[2], [3], [4]]
    assert vt.nonzero(vt.full([], 2.0)).shape == (1, 0)
    assert vt.nonzero(vt.full([], 0.0)).shape == (0, 0)
    assert vt.nonzero(vt.zeros(0, 3)).shape == (0, 2)
    g = rng()
    big = g.integers(0, 2, (300, 400)).astype(bool)  # many chunks: the ordered parallel path
    np.testing.assert_array_equal(vt.nonzero(vt.from_numpy(big)).numpy(), np.argwhere(big))
    np.testing.assert_array_equal(vt.masked_select(vt.arange(120000.0).reshape(300, 400), vt.from_numpy(big)).numpy(),
                                  np.arange(120000.0).reshape(300, 400)[big])
    if torch is not None:
        r = random_array((6, 7), vt.float32, g) * g.integers(0, 2, (6, 7))
        np.testing.assert_array_equal(vt.nonzero(make(r, vt.float32)).numpy(), torch_call("nonzero", make(r, vt.float32)).numpy())


def test_one_hot():
    g = rng()
    idx = g.integers(0, 6, (3, 4))
    got = vt.one_hot(make(idx, vt.int64, "transposed"))
    assert got.dtype == vt.int64
    np.testing.assert_array_equal(got.numpy(), np.eye(idx.max() + 1, dtype=np.int64)[idx])
    np.testing.assert_array_equal(vt.one_hot(vt.from_numpy(idx), 9).numpy(), np.eye(9, dtype=np.int64)[idx])
    t = torch.nn.functional.one_hot(torch.from_numpy(idx), 9) if torch is not None else None
    if t is not None:
        np.testing.assert_array_equal(vt.one_hot(vt.from_numpy(idx), 9).numpy(), t.numpy())
    assert vt.one_hot(vt.full([], 1, dtype=vt.int64), 3).tolist() == [0, 1, 0]
    assert vt.one_hot(vt.tensor([], dtype=vt.int64), 3).shape == (0, 3)
    with pytest.raises(ValueError, match="Can not infer total number of classes"):
        vt.one_hot(vt.tensor([], dtype=vt.int64))
    with pytest.raises(ValueError, match="smaller than num_classes"):
        vt.one_hot(vt.tensor([1, 3]), 3)
    with pytest.raises(ValueError, match="non-negative"):
        vt.one_hot(vt.tensor([-1, 2]), 3)
    with pytest.raises(TypeError, match="LongTensor"):
        vt.one_hot(vt.tensor([1], dtype=vt.int32), 3)


def test_writes_read_a_snapshot_when_source_aliases_self():
    """A source that shares self's memory is read as it was before the op, like numpy's fancy assignment."""
    ref = np.arange(6.0)
    x = vt.from_numpy(ref.copy())
    x[vt.tensor([1, 2, 3])] = x[0:3]
    expect = ref.copy()
    expect[[1, 2, 3]] = ref[0:3]
    assert_close(x, expect)
    y = vt.arange(4.0)
    y.scatter_(0, vt.tensor([1, 2, 3]), y)
    assert y.tolist() == [0.0, 0.0, 1.0, 2.0]
    z = vt.arange(4.0)
    z.index_add_(0, vt.tensor([3, 2, 1, 0]), z)
    assert z.tolist() == [3.0, 3.0, 3.0, 3.0]
