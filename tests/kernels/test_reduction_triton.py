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
