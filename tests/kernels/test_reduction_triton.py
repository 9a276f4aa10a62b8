"""The generated reduction and softmax Triton kernels, run by Triton's interpreter against numpy."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels import interpret
from helpers import random_array, rng

triton = pytest.importorskip("triton")

REFS = {"sum": np.sum, "sumsq": lambda a, axis: (a * a).sum(axis), "sumabs": lambda a, axis: np.abs(a).sum(axis),
        "prod": np.prod, "amax": np.max, "amin": np.min, "absmax": lambda a, axis: np.abs(a).max(axis),
        "any": lambda a, axis: (a != 0).any(axis), "all": lambda a, axis: (a != 0).all(axis),
        "nonzero": lambda a, axis: (a != 0).sum(axis)}


def views(a):
    """The [O, R, I] views the native side uses: trailing rows, leading columns and a middle block."""
    o, r, i = a.shape
    t = vt.tensor(a, dtype=vt.float32)
    return [(t.reshape(o * r * i), ((1, o * r * i, 1), (0, 1, 0)), a.reshape(1, -1, 1)),
            (t.reshape(o, r * i), ((o, r * i, 1), (r * i, 1, 0)), a.reshape(o, r * i, 1)),
            (t.reshape(o * r, i), ((1, o * r, i), (0, i, 1)), a.reshape(1, o * r, i)),
            (t, ((o, r, i), (r * i, i, 1)), a)]


@pytest.mark.parametrize("op", sorted(REFS))
def test_reductions_over_every_view(op):
    a = random_array((3, 70, 5), vt.float32, rng())
    if op == "prod":
        a = 1 + a / 40
    if op in ("any", "all", "nonzero"):
        a[a > 2] = 0
    for t, view, a3 in views(a):
        for splits in (1, 3):
            vals, _ = interpret.run_reduction(op, t, view, vt.float32, vt.float32, splits=splits, block_r=16)
            got = vals.numpy()
            if op in ("sum", "sumsq", "sumabs", "nonzero", "any"):
                got = got.sum(0) if op != "any" else got.max(0)
            elif op == "prod":
                got = got.prod(0)
            elif op in ("amax", "absmax"):
                got = got.max(0)
            elif op in ("amin", "all"):
                got = got.min(0)
            np.testing.assert_allclose(got, REFS[op](a3, axis=1), rtol=2e-5, atol=1e-4)


def test_argmax_argmin_ties_and_nans():
    a = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, float("nan"), 5.0, float("nan")], [-4.0, -4.0, 0.0, 7.0]])
    t = vt.tensor(a, dtype=vt.float32)
    view = ((3, 4, 1), (4, 1, 0))
    for op, expect_v, expect_i in [("argmax", [3.0, np.nan, 7.0], [1, 1, 3]), ("argmin", [-1.0, np.nan, -4.0], [3, 1, 0])]:
        v, i = interpret.run_reduction(op, t, view, vt.float32, vt.float32, block_r=2)
        np.testing.assert_array_equal(v.numpy().reshape(-1), np.array(expect_v, np.float32))
        assert i.numpy().reshape(-1).tolist() == expect_i, op


@pytest.mark.parametrize("mode", ["w", "s"])
def test_row_softmax_and_log_softmax(mode):
    run_softmax = lambda op, x, out_dtype=None: interpret.run_softmax(op, x, out_dtype, mode=mode)  # noqa: E731
    gen = rng()
    x = gen.normal(size=(5, 1500)).astype(np.float32) * 4
    x[0, :] = -np.inf
    x[0, 3] = 2.0  # a row with one finite entry
    t = vt.tensor(x)
    e = np.exp(x - x.max(1, keepdims=True))
    ref = e / e.sum(1, keepdims=True)
    np.testing.assert_allclose(run_softmax("softmax", t).numpy(), ref, rtol=1e-5, atol=1e-7)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(run_softmax("log_softmax", t).numpy()[1:], np.log(ref)[1:], rtol=1e-5,
                                   atol=1e-5)
    tb = t.to(vt.bfloat16)
    xb = tb.float().numpy()  # the reference sees the same rounded inputs
    eb = np.exp(xb - xb.max(1, keepdims=True))
    h = run_softmax("softmax", tb, vt.bfloat16)
    np.testing.assert_allclose(h.float().numpy(), eb / eb.sum(1, keepdims=True), rtol=1e-2, atol=1e-4)


def fold_splits(op, vals):
    """The fold of a [splits, O, I] result of `op` (what the native side's second launch computes)."""
    if op in ("amax", "absmax", "any"):
        return vals.max(0)
    if op in ("amin", "absmin", "all"):
        return vals.min(0)
    return vals.prod(0) if op == "prod" else vals.sum(0)


def aligned_views(a):
    """The [O, R, I] views of a (O, R, I) array that the aligned layouts read (reduction.LAYOUTS), with the
    tiles and splits that exercise their edges: several rows per program with the last block of rows and of
    R partly masked ('r'), an I block half past I ('i'), and splits of whole tiles or ending mid-tile."""
    o, r, i = a.shape
    t = vt.tensor(a)
    rows = t.reshape(o * i, r) if i == 1 else None
    cases = []
    if i == 1:
        for splits, per_split in ((1, None), (3, 16), (2, 24)):
            cases.append(("r", rows, ((o, r, 1), (r, 1, 0)), a.reshape(o, r, 1),
                          dict(block_o=4, block_r=16, splits=splits, per_split=per_split)))
    else:
        for splits, per_split in ((1, None), (3, 8), (2, 12)):
            cases.append(("i", t, ((o, r, i), (r * i, i, 1)), a,
                          dict(block_i=16, block_r=8, splits=splits, per_split=per_split)))
    return cases


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16])
@pytest.mark.parametrize("op", sorted(REFS))
def test_aligned_layouts_every_op(op, dtype):
    """Row ('r', O=6 rows of R=40) and column ('i', O=2, R=21, I=24) layouts; R, I and O are whole vectors
    (8 bfloat16 / 4 float32) but not whole tiles. bfloat16 inputs accumulate in float32."""
    for shape in ((6, 40, 1), (2, 21, 24)):
        a = random_array(shape, vt.float32, rng())
        if op == "prod":
            a = 1 + a / 40
        if op in ("any", "all", "nonzero"):
            a[a > 2] = 0
        a = vt.tensor(a).to(dtype).float().numpy()  # the values the kernel sees
        for layout, t, view, a3, kw in aligned_views(a):
            vals, _ = interpret.run_reduction(op, t.to(dtype), view, vt.float32, vt.float32, layout=layout, **kw)
            got = fold_splits(op, vals.numpy())
            np.testing.assert_allclose(got, REFS[op](a3, axis=1), rtol=2e-5, atol=1e-4, err_msg=f"{layout} {kw}")


def test_aligned_layouts_arg_reductions_ties_and_nans():
    """argmax/argmin in both aligned layouts: a NaN wins, ties go to the first index, across tile steps."""
    a = random_array((3, 40), vt.float32, rng())
    a[0, 5] = a[0, 37] = 9.0  # a tie across two tiles of 16
    a[1, 30] = np.nan
    a[2, 3] = a[2, 20] = -9.0
    t = vt.tensor(a.astype(np.float32))
    ref = {"argmax": (np.array([5, 30, int(a[2].argmax())]), np.nanmax),
           "argmin": (np.array([int(a[0].argmin()), 30, 3]), np.nanmin)}
    for op, (want_i, _) in ref.items():
        v, i = interpret.run_reduction(op, t, ((3, 40, 1), (40, 1, 0)), vt.float32, vt.float32, layout="r",
                                       block_o=2, block_r=16)
        assert i.numpy().reshape(-1).tolist() == want_i.tolist(), op
        assert np.isnan(v.numpy().reshape(-1)[1])
        # the same columns read as I ('i': columns of the transposed copy)
        tt = vt.tensor(np.ascontiguousarray(a.T).astype(np.float32))
        v, i = interpret.run_reduction(op, tt, ((1, 40, 3), (0, 3, 1)), vt.float32, vt.float32, layout="i",
                                       block_i=4, block_r=8)
        assert i.numpy().reshape(-1)[:3].tolist() == want_i.tolist(), op


def test_aligned_layouts_two_pass_var_and_logsumexp():
    """var (mean as the per-output operand, squared deviations split in 3, folded with the division) and
    logsumexp (max, then the shifted sum) over columns in the 'i' layout, bfloat16 in, bfloat16 out."""
    a = vt.tensor(random_array((37, 24), vt.float32, rng())).to(vt.bfloat16)
    x = a.float().numpy()
    view = ((1, 37, 24), (0, 24, 1))
    kw = dict(layout="i", block_i=16, block_r=8)
    mean, _ = interpret.run_reduction("sumdiv", a, view, vt.float32, vt.float32, param=37.0, **kw)
    part, _ = interpret.run_reduction("sqdev", a, view, vt.float32, vt.float32, splits=3, per_split=16,
                                      aux=mean[0], **kw)
    var, _ = interpret.run_reduction("sumdiv", part, ((1, 3, 24), (0, 24, 1)), vt.bfloat16, vt.float32,
                                     param=36.0, **kw)
    np.testing.assert_allclose(var.float().numpy()[0, 0], x.var(0, ddof=1), rtol=1e-2)
    m, _ = interpret.run_reduction("amax", a, view, vt.float32, vt.float32, **kw)
    lse, _ = interpret.run_reduction("lse", a, view, vt.bfloat16, vt.float32, aux=m[0], **kw)
    ref = np.log(np.exp(x - x.max(0)).sum(0)) + x.max(0)
    np.testing.assert_allclose(lse.float().numpy()[0, 0], ref, rtol=1e-2)


def test_aligned_row_layout_bool_any_all():
    """Bytes (16 to a vector): any/all of bool rows with an int32 accumulator, bool out."""
    a = rng().integers(0, 2, size=(5, 48)).astype(np.bool_)
    a[0] = True
    a[1] = False
    t = vt.tensor(a)
    for op, ref in (("any", a.any(1)), ("all", a.all(1))):
        v, _ = interpret.run_reduction(op, t, ((5, 48, 1), (48, 1, 0)), vt.bool, vt.int32, layout="r", block_o=2,
                                       block_r=32)
        assert v.numpy().reshape(-1).tolist() == ref.tolist(), op


@pytest.mark.parametrize("op", ["amax", "amin", "absmax", "absmin"])
def test_max_min_propagate_nans(op):
    # a NaN anywhere in a row wins over every number (PyTorch's amax/amin), wherever it sits in the tile
    a = random_array((4, 40, 1), vt.float32, rng())
    a[1, 0, 0] = a[2, 39, 0] = a[3, 17, 0] = np.nan
    t = vt.tensor(a, dtype=vt.float32).reshape(4, 40)
    vals, _ = interpret.run_reduction(op, t, ((4, 40, 1), (40, 1, 0)), vt.float32, vt.float32, block_r=16)
    ref = {"amax": np.max, "amin": np.min, "absmax": lambda x, axis: np.abs(x).max(axis),
           "absmin": lambda x, axis: np.abs(x).min(axis)}[op](a, axis=1)
    np.testing.assert_array_equal(np.isnan(vals.numpy()[0]), [[False], [True], [True], [True]])
    np.testing.assert_allclose(vals.numpy()[0], ref, rtol=1e-6)
