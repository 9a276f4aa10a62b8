"""The generated indexing Triton kernels (rows, gather/scatter, compaction), run by Triton's interpreter
against numpy, with the arguments the native launcher passes (csrc/cuda/index_launch.cpp)."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import random_array, rng
from vibetensor.kernels import interpret_index as ii

triton = pytest.importorskip("triton")

INDEX_SELECT, INDEX, INDEX_PUT, INDEX_ADD, GATHER, SCATTER, SCATTER_ADD = 1, 3, 4, 5, 6, 7, 8


def code(op, dim):
    return (op << 32) | dim


@pytest.fixture(autouse=True, params=["f", "64-bit"])
def coordinates(request, monkeypatch):
    """Every test runs both forms the launcher picks between: 32-bit coordinates by int_divider (key suffix
    "f", below 2^31 positions) and 64-bit division (beyond)."""
    fast = request.param == "f"
    for name in ("run_rows", "run_gather"):
        run = getattr(ii, name)
        monkeypatch.setattr(ii, name, lambda *a, _run=run, **kw: _run(*a, fast=fast, **kw))


def f64(t):
    return t.to(vt.float64).numpy()


def assert_no_error(err):
    assert err.numpy().tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("idx_dtype", [vt.int64, vt.int32])
@pytest.mark.parametrize("dim", [0, 1])
def test_rows_get_is_index_select(idx_dtype, dim):
    gen = rng()
    a = random_array((5, 7), vt.float32, gen)
    x = vt.tensor(a)
    ind = gen.integers(0, a.shape[dim], size=9)
    idx = vt.tensor(ind).to(idx_dtype)
    shape = list(a.shape)
    shape[dim] = 9
    out = vt.empty(shape, dtype=vt.float32)
    err = ii.new_error_word()
    other = 1 - dim  # R: the one dim not indexed
    ii.run_rows("get", out, x, [(idx, a.shape[dim], x.stride()[dim], code(INDEX_SELECT, dim), [1])], [9],
                [out.stride()[dim]], [a.shape[other]], [out.stride()[other]], [x.stride()[other]], err)
    np.testing.assert_array_equal(out.numpy(), np.take(a, ind, axis=dim))
    assert_no_error(err)


def test_rows_get_two_broadcast_indices_with_negative_wrap():
    """x[i, j] with i (3, 1) and j (4,) broadcasting to B = (3, 4), over a transposed source."""
    gen = rng()
    a = random_array((6, 5, 3), vt.float32, gen)
    x = vt.tensor(a.transpose(1, 0, 2).copy()).permute(1, 0, 2)  # non-contiguous view of a
    i = gen.integers(-6, 6, size=(3, 1))
    j = gen.integers(-5, 5, size=(4,))
    out = vt.empty([3, 4, 3], dtype=vt.float32)
    err = ii.new_error_word()
    ii.run_rows("get", out, x, [(vt.tensor(i), 6, x.stride()[0], code(INDEX, 0), [1, 0]),
                                (vt.tensor(j), 5, x.stride()[1], code(INDEX, 1), [0, 1])],
                [3, 4], [out.stride()[0], out.stride()[1]], [3], [out.stride()[2]], [x.stride()[2]], err,
                wrap_negative=True)
    np.testing.assert_array_equal(out.numpy(), a[i, j])
    assert_no_error(err)


def test_rows_put_and_bad_index_is_skipped_and_recorded():
    gen = rng()
    a = random_array((6, 4), vt.float32, gen)
    v = random_array((3, 4), vt.float32, gen)
    x = vt.tensor(a)
    err = ii.new_error_word()
    ii.run_rows("put", x, vt.tensor(v), [(vt.tensor(np.array([5, 9, 1])), 6, 4, code(INDEX_PUT, 0), [1])], [3],
                [4], [4], [1], [1], err)
    want = a.copy()
    want[[5, 1]] = v[[0, 2]]  # index 9 skipped: nothing written out of bounds
    np.testing.assert_array_equal(x.numpy(), want)
    assert err.numpy().tolist() == [1, 9, 6, code(INDEX_PUT, 0)]


def test_rows_get_bad_index_reads_zero():
    x = vt.tensor(np.arange(1, 7, dtype=np.float32))
    out = vt.empty([3], dtype=vt.float32)
    err = ii.new_error_word()
    ii.run_rows("get", out, x, [(vt.tensor(np.array([2, -1, 6])), 6, 1, code(INDEX_SELECT, 0), [1])], [3], [1], [],
                [], [], err)
    np.testing.assert_array_equal(out.numpy(), [3, 0, 0])
    assert err.numpy()[0] == 1 and err.numpy()[1] in (-1, 6) and err.numpy()[2] == 6


@pytest.mark.parametrize("src_dtype,acc_dtype", [(vt.float32, vt.float32), (vt.float16, vt.float32),
                                                 (vt.int32, vt.int32), (vt.int64, vt.int64), (vt.int8, vt.int32)])
def test_rows_add_accumulates_duplicates(src_dtype, acc_dtype):
    """index_put(accumulate=True) / index_add with repeated indices: atomics into an accumulator."""
    gen = rng()
    base = random_array((4, 3), src_dtype, gen)
    v = random_array((10, 3), src_dtype, gen)
    ind = np.array([1, 3, 1, 1, 0, 3, 2, 1, 0, 1])
    acc = vt.tensor(base).to(acc_dtype)
    err = ii.new_error_word()
    alpha = 2 if src_dtype != vt.float16 else 0.5
    ii.run_rows("add", acc, vt.tensor(v).to(src_dtype), [(vt.tensor(ind), 4, 3, code(INDEX_ADD, 0), [1])], [10], [3],
                [3], [1], [1], err, alpha=alpha)
    want = base.astype(np.float64)
    np.add.at(want, ind, alpha * v.astype(np.float64))
    np.testing.assert_allclose(f64(acc), want, rtol=1e-6)
    assert_no_error(err)


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.int16, vt.bool])
def test_gather_along_each_dim(dtype):
    gen = rng()
    a = random_array((4, 5), dtype, gen)
    x = vt.tensor(a).to(dtype)
    for dim in (0, 1):
        ind = gen.integers(0, a.shape[dim], size=(3, 4) if dim == 0 else (4, 6))
        idx = vt.tensor(ind)
        out = vt.empty(list(ind.shape), dtype=dtype)
        sst = list(x.stride())
        sst[dim] = 0
        err = ii.new_error_word()
        ii.run_gather("gather", x, out, idx, list(ind.shape), sst, list(idx.stride()), list(out.stride()), 1, 0, 0,
                      a.shape[dim], x.stride()[dim], code(GATHER, dim), err)
        cut = a[:, :ind.shape[1]] if dim == 0 else a[:ind.shape[0]]  # PyTorch allows a smaller index
        np.testing.assert_array_equal(f64(out), np.take_along_axis(cut, ind, axis=dim).astype(np.float64))
        assert_no_error(err)


def _scatter_line_args(idx, dim):
    """Positions with `dim` squashed, and the steps along it (how the launcher walks lines)."""
    shape = list(idx.shape)
    length = shape[dim]
    shape[dim] = 1
    return shape, length, idx.stride()[dim]


@pytest.mark.parametrize("mode", ["set", "add", "mul"])
@pytest.mark.parametrize("dtype", [vt.float32, vt.float16, vt.int32, vt.bool])
def test_scatter_lines_apply_in_order(mode, dtype):
    gen = rng()
    a = random_array((5, 6), dtype, gen)
    s = random_array((7, 4), dtype, gen)
    ind = gen.integers(0, 5, size=(7, 4))  # duplicates along dim 0: applied in order, the last set wins
    x, src, idx = vt.tensor(a).to(dtype), vt.tensor(s).to(dtype), vt.tensor(ind)
    pshape, length, istep = _scatter_line_args(idx, 0)
    sst = list(x.stride())
    sst[0] = 0
    err = ii.new_error_word()
    ii.run_gather(mode, x, src, idx, pshape, sst, list(idx.stride()), list(src.stride()), length, istep,
                  src.stride()[0], 5, x.stride()[0], code(SCATTER, 0), err)
    want = a.copy()
    for i in range(7):
        for j in range(4):
            k = ind[i, j]
            if mode == "set":
                want[k, j] = s[i, j]
            elif mode == "add":
                want[k, j] = (want[k, j] | s[i, j]) if dtype == vt.bool else want[k, j] + s[i, j]
            else:
                want[k, j] = (want[k, j] & s[i, j]) if dtype == vt.bool else want[k, j] * s[i, j]
    tol = 2e-3 if dtype == vt.float16 else 1e-6
    np.testing.assert_allclose(f64(x), want.astype(np.float64), rtol=tol, atol=tol)
    assert_no_error(err)


def test_scatter_scalar_value_and_atomic_add():
    gen = rng()
    x = vt.zeros([3, 8], dtype=vt.float32)
    ind = gen.integers(0, 8, size=(3, 40))
    idx = vt.tensor(ind)
    err = ii.new_error_word()
    # atomic scatter_add of a Python number along dim 1 (every index position at once)
    ii.run_gather("atomic", x, 1.5, idx, [3, 40], [8, 0], list(idx.stride()), [0, 0], 1, 0, 0, 8, 1,
                  code(SCATTER_ADD, 1), err)
    want = np.zeros((3, 8))
    for r in range(3):
        np.add.at(want[r], ind[r], 1.5)
    np.testing.assert_allclose(x.numpy(), want)
    # set with a value by value, one line per row
    y = vt.zeros([3, 8], dtype=vt.int64)
    ii.run_gather("set", y, 7, idx, [3, 1], [8, 0], list(idx.stride()), [0, 0], 40, 1, 0, 8, 1, code(SCATTER, 1), err)
    want = np.zeros((3, 8), dtype=np.int64)
    for r in range(3):
        want[r, ind[r]] = 7
    np.testing.assert_array_equal(y.numpy(), want)
    assert_no_error(err)


def test_scatter_bad_index_is_recorded_once():
    x = vt.zeros([4], dtype=vt.float32)
    idx = vt.tensor(np.array([0, 4, 2, -3]))
    err = ii.new_error_word()
    ii.run_gather("set", x, vt.tensor(np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)), idx, [1], [0], [1], [1], 4,
                  1, 1, 4, 1, code(SCATTER, 0), err)
    np.testing.assert_array_equal(x.numpy(), [1, 0, 3, 0])
    e = err.numpy().tolist()
    assert e[0] == 1 and e[1] == 4 and e[2] == 4 and e[3] == code(SCATTER, 0)


@pytest.mark.parametrize("shape", [(0,), (7,), (3, 900), (2, 3, 401)])
@pytest.mark.parametrize("dtype", [vt.float32, vt.int8, vt.bool])
def test_nonzero_and_masked_select_across_blocks(shape, dtype):
    gen = rng()
    a = random_array(shape, dtype, gen)
    if dtype != vt.bool:
        a[gen.random(shape) < 0.6] = 0
    x = vt.tensor(a).to(dtype)
    np.testing.assert_array_equal(ii.run_nonzero(x).numpy().reshape(-1, len(shape)), np.argwhere(a))
    mask = gen.random(shape) < 0.3
    got = ii.run_masked_select(x, vt.tensor(mask))
    np.testing.assert_array_equal(f64(got), a[mask].astype(np.float64))
