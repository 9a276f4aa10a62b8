"""softmax and log_softmax along a dim, against float64 numpy on fresh random inputs and against torch."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import FLOAT_DTYPES, assert_close, make, random_array, rng, torch_call, torch_to_numpy

SHAPE = (3, 4, 5)


def softmax_ref(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_ref(a, axis):
    s = a - a.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_softmax_every_dim(dtype, layout):
    g = rng()
    a = random_array(SHAPE, dtype, g, low=-20, high=20)
    x = make(a, dtype, layout)
    for dim in [0, 1, 2, -1, -3]:
        s = x.softmax(dim)
        assert s.dtype == dtype and s.shape == SHAPE
        assert_close(s, softmax_ref(a, dim))
        assert_close(vt.log_softmax(x, dim), log_softmax_ref(a, dim))


def test_torch_parity():
    g = rng()
    for dtype in [vt.float32, vt.bfloat16]:
        x = make(random_array(SHAPE, dtype, g), dtype, "transposed")
        for name in ["softmax", "log_softmax"]:
            for dim in [0, -1]:
                r = getattr(x, name)(dim)
                t = torch_call(name, x, dim)
                assert str(t.dtype) == "torch." + r.dtype.name
                assert_close(r, torch_to_numpy(t).astype(np.float64))
    y = vt.tensor([1, 2, 3])
    t = torch_call("softmax", y, 0, dtype=vt.float64)
    assert_close(y.softmax(0, dtype=vt.float64), t.numpy())


def test_large_lines_threaded():
    """Big enough to split over threads; long lines along the inner dim and sweeps across the outer one."""
    g = rng()
    a = random_array((64, 1000), vt.float32, g, low=-50, high=50)
    x = vt.tensor(a)
    assert_close(x.softmax(1), softmax_ref(a.astype(np.float64), 1))
    assert_close(x.log_softmax(0), log_softmax_ref(a.astype(np.float64), 0))
    assert_close(x.t().softmax(0), softmax_ref(a.T.astype(np.float64), 0))


def test_dtype_argument_casts_first():
    x = vt.tensor([1.0, 2.0, 3.0], dtype=vt.float16)
    r = x.softmax(0, dtype=vt.float32)
    assert r.dtype == vt.float32
    assert_close(r, softmax_ref(np.array([1.0, 2.0, 3.0]), 0))
    assert vt.log_softmax(vt.tensor([1.0, 2.0], dtype=vt.float64), 0, dtype=vt.float32).dtype == vt.float32
    assert vt.tensor([1, 2]).softmax(0, dtype=vt.float32).dtype == vt.float32


def test_numerically_stable_and_special_values():
    big = vt.tensor([1000.0, 1000.0, -1000.0])
    assert_close(big.softmax(0), np.array([0.5, 0.5, 0.0]))
    assert_close(big.log_softmax(0), np.array([-np.log(2), -np.log(2), -2000 - np.log(2)]))
    m = vt.tensor([[0.0, -np.inf], [np.nan, 1.0], [-np.inf, -np.inf], [np.inf, 1.0]])
    s = m.softmax(1).numpy()
    assert s[0].tolist() == [1.0, 0.0]
    assert np.isnan(s[1:]).all()  # NaN poisons its line; all -inf and +inf give 0/0 and inf/inf, as in torch
    t = torch_call("softmax", m, 1)
    np.testing.assert_array_equal(np.isnan(s), np.isnan(t.numpy()))
    assert np.isnan(m.t().log_softmax(0).numpy()[:, 1:]).all()
    across = m.t().contiguous()  # lines along dim 0 sit side by side in memory: swept row by row
    np.testing.assert_array_equal(across.softmax(0).t().numpy(), s)
    np.testing.assert_array_equal(np.isnan(across.log_softmax(0).t().numpy()), np.isnan(s))


def test_zero_d_and_empty():
    x = vt.tensor([2.5]).reshape(())
    assert x.softmax(0).shape == () and x.softmax(0).item() == 1.0
    assert x.log_softmax(-1).item() == 0.0
    e = vt.zeros(0, 3)
    assert e.softmax(0).shape == (0, 3) and e.log_softmax(1).shape == (0, 3)


def test_bad_input():
    x = vt.zeros(2, 3)
    with pytest.raises(IndexError, match="softmax: dimension out of range"):
        x.softmax(2)
    with pytest.raises(IndexError, match="dimension out of range"):
        x.log_softmax(-3)
    with pytest.raises(TypeError, match="softmax\\(\\): expected a floating point input, got int64"):
        vt.tensor([1, 2]).softmax(0)
    with pytest.raises(TypeError, match="floating point"):
        vt.tensor([1.0]).log_softmax(0, dtype=vt.int32)
