"""Reductions and scans: sum, mean, prod, max/min (all forms), amax/amin, argmax/argmin, var/std, norm,
logsumexp, any/all, cumsum/cumprod, against float64 numpy on fresh random inputs and against torch."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import (FLOAT_DTYPES, INT_DTYPES, assert_close, make, random_array, rng, to_numpy64, torch,
                     torch_call, torch_to_numpy)

SHAPE = (3, 4, 5)
DIMS = [None, 0, -1, (0, 2), (2, 0, 1), ()]
LAYOUTS = ["contiguous", "transposed", "strided"]


def np_dims(dim, ndim):
    """numpy's axis for our dim argument (None and () both mean every dim, as in torch)."""
    if dim is None or dim == ():
        return tuple(range(ndim))
    return dim


def logsumexp_ref(a, axis, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    r = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return r if keepdims else np.squeeze(r, axis=axis)


def norm_ref(a, p, axis, keepdims=False):
    a = np.abs(a)
    if p == np.inf:
        return np.max(a, axis=axis, keepdims=keepdims)
    if p == -np.inf:
        return np.min(a, axis=axis, keepdims=keepdims)
    if p == 0:
        return np.sum(a != 0, axis=axis, keepdims=keepdims).astype(np.float64)
    with np.errstate(divide="ignore"):  # 0 ** negative p is inf, as intended
        return np.sum(a ** p, axis=axis, keepdims=keepdims) ** (1.0 / p)


def check_torch(result, name, *args, **kwargs):
    """Same call in torch: same shape, dtype and (within the dtype's tolerance) values."""
    expected = torch_call(name, *args, **kwargs)
    assert str(expected.dtype) == "torch." + result.dtype.name
    assert_close(result, torch_to_numpy(expected).astype(np.float64 if result.dtype.is_floating_point else None))


def zero_d(value, dtype):
    return vt.tensor([value]).to(dtype).reshape(())


# ---- sum / mean / prod ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + [vt.int32, vt.uint8, vt.bool])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_sum_mean_dims_layouts(dtype, layout):
    g = rng()
    a = random_array(SHAPE, dtype, g)
    x = make(a, dtype, layout)
    for dim in DIMS:
        for keepdim in (False, True):
            ax = np_dims(dim, 3)
            r = x.sum(dim=dim, keepdim=keepdim) if dim is not None else x.sum()
            if keepdim and dim is None:
                continue
            exp = np.sum(a.astype(np.float64 if dtype.is_floating_point else np.int64), axis=ax, keepdims=keepdim)
            assert r.dtype == (dtype if dtype.is_floating_point else vt.int64)
            assert_close(r, exp, dtype=r.dtype)
            if dtype.is_floating_point:
                m = vt.mean(x, dim, keepdim) if dim is not None else x.mean()
                assert m.dtype == dtype
                assert_close(m, np.mean(a, axis=ax, keepdims=keepdim))


def test_sum_torch_parity():
    g = rng()
    for dtype in [vt.float32, vt.float16, vt.int8, vt.bool]:
        x = make(random_array(SHAPE, dtype, g), dtype, "transposed")
        check_torch(x.sum(), "sum", x)
        check_torch(x.sum((0, 2), keepdim=True), "sum", x, (0, 2), keepdim=True)
        check_torch(x.sum(-1, dtype=vt.float64), "sum", x, -1, dtype=vt.float64)
        check_torch(x.prod(1), "prod", x, 1)
        check_torch(x.sum(dim=[]), "sum", x, dim=[])
    f = make(random_array(SHAPE, vt.float32, g), vt.float32)
    check_torch(f.mean((1, 2)), "mean", f, (1, 2))
    check_torch(f.sum(0, dtype=vt.int32), "sum", f, 0, dtype=vt.int32)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + [vt.bool])
def test_prod(dtype):
    g = rng()
    if dtype.is_floating_point:
        a = np.asarray(random_array(SHAPE, dtype, g, low=0.6, high=1.4))
    else:
        a = random_array(SHAPE, dtype, g) % 3 if dtype != vt.bool else random_array(SHAPE, dtype, g)
        a = a.astype(np.int64) + (dtype != vt.bool)
        a = a.astype(np.bool_ if dtype == vt.bool else {vt.uint8: np.uint8}.get(dtype, np.int64))
    x = make(a, dtype, "strided")
    ref = np.prod(a.astype(np.float64 if dtype.is_floating_point else np.int64), axis=1)
    r = x.prod(1)
    assert r.dtype == (dtype if dtype.is_floating_point else vt.int64)
    assert_close(r, ref, dtype=r.dtype)
    assert_close(x.prod(), np.prod(ref), dtype=r.dtype)
    assert_close(x.prod(-1, keepdim=True), np.prod(a.astype(np.float64 if dtype.is_floating_point else np.int64),
                                                   axis=-1, keepdims=True), dtype=r.dtype)


def test_integer_sums_wrap_like_int64():
    big = np.array([2**62, 2**62, 2**62], np.int64)
    assert vt.tensor(big).sum().item() == int(np.sum(big))  # numpy wraps the same way
    assert vt.tensor(np.array([2**40, 2**40], np.int64)).prod().item() == int(np.prod(np.array([2**40, 2**40])))


def test_dtype_argument_casts_first():
    x = vt.tensor([1.5, 2.5, 3.7])
    assert x.sum(dtype=vt.int32).item() == 6 and x.sum(dtype=vt.int32).dtype == vt.int32
    assert x.sum(dtype=vt.float64).dtype == vt.float64
    assert vt.tensor([1, 2, 3], dtype=vt.int32).sum(dtype=vt.int16).dtype == vt.int16
    assert vt.tensor([1, 2], dtype=vt.int64).mean(dtype=vt.float64).item() == 1.5
    assert vt.tensor([0.0, 2.0]).sum(dtype=vt.bool).item() is True


def test_mean_rejects_integers():
    with pytest.raises(TypeError, match="mean\\(\\): could not infer output dtype. Input dtype must be either a "
                                        "floating point or complex dtype. Got: Long"):
        vt.tensor([1, 2]).mean()
    with pytest.raises(TypeError, match="Optional dtype must be either a floating point"):
        vt.tensor([1.0, 2.0]).mean(dtype=vt.int64)


@pytest.mark.parametrize("outer", [False, True])
def test_float32_sum_of_a_million_is_accurate(outer):
    g = np.random.default_rng(7)
    a = g.uniform(0.0, 1.0, size=(1000, 1000)).astype(np.float32)  # same sign: no cancellation to hide in
    x = vt.tensor(a)
    exp = a.astype(np.float64).sum()
    assert abs(x.sum().item() - exp) / exp < 2e-6
    # columns (outer reduction, vectorised over lanes) and rows (inner runs) of 1e6 elements
    col = vt.tensor(a.reshape(-1, 1) if outer else a.reshape(1, -1)).sum(0 if outer else 1)
    assert abs(col.item() - exp) / exp < 2e-6
    h = vt.tensor(a).to(vt.float16).sum(dtype=vt.float32)  # half inputs accumulate in float
    assert abs(h.item() - x.to(vt.float16).to(vt.float64).sum().item()) / exp < 2e-6


@pytest.mark.parametrize("shape,dim", [((300, 300), 0), ((300, 300), 1), ((3, 40000), 1), ((40000, 3), 0),
                                       ((40000, 3), 1), ((200, 10, 30), (0, 2))])
def test_large_reductions_split_over_threads(shape, dim):
    """Large enough to run threaded: splits over outputs, or over the reduced range with partial results."""
    g = rng()
    a = random_array(shape, vt.float64, g)
    x = vt.tensor(a)
    assert_close(x.sum(dim), a.sum(axis=dim))
    assert_close(x.amax(dim), a.max(axis=dim))
    assert_close(x.var(dim), a.var(axis=dim, ddof=1))
    assert_close(x.logsumexp(dim), logsumexp_ref(a, dim))
    if isinstance(dim, int):
        v, i = x.max(dim)
        np.testing.assert_array_equal(i.numpy(), a.argmax(axis=dim))
        np.testing.assert_array_equal(x.argmin(dim).numpy(), a.argmin(axis=dim))
    rev = tuple(reversed(range(a.ndim)))
    xt = vt.tensor(np.ascontiguousarray(a.transpose(rev))).permute(*rev)  # same values, other memory order
    assert_close(xt.sum(dim), a.sum(axis=dim))


def test_full_argmax_threaded_keeps_first_index():
    a = np.zeros(100_000)
    a[[70_000, 90_000]] = 5.0
    assert vt.tensor(a).argmax().item() == 70_000
    a[[20_000, 80_000]] = np.nan
    assert vt.tensor(a).argmax().item() == 20_000


# ---- max / min / amax / amin / argmax / argmin ------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + [vt.int16, vt.uint8])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_extremes(dtype, layout):
    g = rng()
    a = random_array(SHAPE, dtype, g)
    x = make(a, dtype, layout)
    ref = a.astype(np.float64) if dtype.is_floating_point else a
    assert_close(x.max(), ref.max())
    assert_close(vt.min(x), ref.min())
    for dim in [0, -1, (0, 2), ()]:
        for keepdim in (False, True):
            ax = np_dims(dim, 3)
            assert_close(x.amax(dim, keepdim), ref.max(axis=ax, keepdims=keepdim))
            assert_close(vt.amin(x, dim=dim, keepdim=keepdim), ref.min(axis=ax, keepdims=keepdim))
    for dim in [0, 1, -1]:
        v, i = x.max(dim)
        assert_close(v, ref.max(axis=dim))
        np.testing.assert_array_equal(i.numpy(), ref.argmax(axis=dim))
        v, i = vt.min(x, dim, keepdim=True)
        assert_close(v, ref.min(axis=dim, keepdims=True))
        np.testing.assert_array_equal(i.numpy(), np.expand_dims(ref.argmin(axis=dim), dim))
        np.testing.assert_array_equal(x.argmax(dim).numpy(), ref.argmax(axis=dim))
        np.testing.assert_array_equal(x.argmin(dim, keepdim=True).numpy(), np.expand_dims(ref.argmin(axis=dim), dim))
    assert x.argmax().item() == ref.argmax() and x.argmin().item() == ref.argmin()
    assert x.argmax(keepdim=True).shape == (1, 1, 1)


def test_max_dim_named_tuple_and_torch_parity():
    g = rng()
    x = make(random_array(SHAPE, vt.float32, g), vt.float32, "transposed")
    r = x.max(1)
    assert r.values.dtype == vt.float32 and r.indices.dtype == vt.int64
    t = torch_call("max", x, 1)
    np.testing.assert_array_equal(r.indices.numpy(), t.indices.numpy())
    assert_close(r.values, t.values.numpy())
    check_torch(x.argmin(-1, keepdim=True), "argmin", x, -1, keepdim=True)
    check_torch(x.amax((0, 1)), "amax", x, (0, 1))
    b = make(random_array((4, 5), vt.bool, g), vt.bool)
    check_torch(b.max(), "max", b)
    check_torch(b.amin(0), "amin", b, 0)
    check_torch(b.max(0).indices, "argmax", vt.tensor(to_numpy64(b).astype(np.int64)), 0)


def test_max_min_other_are_elementwise():
    g = rng()
    a, b = random_array((3, 4), vt.float32, g), random_array((4,), vt.float32, g)
    a[0, 0] = np.nan
    x, y = vt.tensor(a), vt.tensor(b)
    assert_close(vt.max(x, y), np.maximum(a, b))
    assert_close(x.min(y), np.minimum(a, b))
    check_torch(vt.max(x, y), "max", x, y)


def test_nan_propagates_and_first_index_wins():
    a = np.array([[1.0, np.nan, 7.0, np.nan], [3.0, 3.0, 1.0, 3.0]])
    x = vt.tensor(a)
    assert np.isnan(x.max().item()) and np.isnan(x.amin().item())
    v, i = x.max(1)
    assert np.isnan(v[0].item()) and i.tolist() == [1, 0]
    assert x.argmin(1).tolist() == [1, 2]
    assert x.argmax().item() == 1
    assert np.isnan(x.t().amax(0)[0].item())  # the lanes (outer-reduction) path too
    assert x.t().max(0).indices.tolist() == [1, 0]
    assert vt.tensor([-np.inf, -np.inf]).argmax().item() == 0
    for name in ["max", "argmax", "argmin"]:
        check_torch(getattr(x, name)(1) if name != "max" else x.max(1).indices, name if name != "max" else "argmax",
                    x, 1)


def test_extremes_of_integers_at_their_limits():
    a = np.array([np.iinfo(np.int64).min] * 3, np.int64)
    assert vt.tensor(a).argmax().item() == 0 and vt.tensor(a).max().item() == a[0]
    assert vt.tensor(np.array([255, 0, 255], np.uint8)).argmax().item() == 0


# ---- var / std --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_var_std(dtype, layout):
    g = rng()
    a = random_array(SHAPE, dtype, g)
    x = make(a, dtype, layout)
    for dim in DIMS:
        ax = np_dims(dim, 3)
        for kw, ddof in [({}, 1), ({"unbiased": False}, 0), ({"correction": 2}, 2), ({"correction": 0.5}, 0.5)]:
            assert_close(x.var(dim, keepdim=True, **kw), np.var(a, axis=ax, ddof=ddof, keepdims=True))
            assert_close(vt.std(x, dim, **kw), np.std(a, axis=ax, ddof=ddof))


def test_var_edge_cases_match_torch():
    x = vt.tensor([1.0, 2.0])
    assert np.isinf(x.var(correction=3).item())
    assert np.isnan(vt.tensor([1.0]).var().item())
    assert np.isnan(vt.zeros(0).std().item())
    assert vt.tensor([1.0, 2.0, 3.0]).var(correction=-1).item() == pytest.approx(0.5)
    y = make(random_array((4, 6), vt.float64, rng()), vt.float64, "transposed")
    check_torch(y.var(1, correction=0), "var", y, 1, correction=0)
    check_torch(y.std(0, keepdim=True), "std", y, 0, keepdim=True)
    check_torch(y.to(vt.bfloat16).var(1), "var", y.to(vt.bfloat16), 1)


def test_var_is_accurate_with_a_large_mean():
    a = 1e4 + np.random.default_rng(3).uniform(0, 1, 50_000).astype(np.float32)
    x = vt.tensor(a)
    exp = np.var(a.astype(np.float64), ddof=1)
    assert abs(x.var().item() - exp) / exp < 1e-5
    assert abs(vt.tensor(a.reshape(-1, 1)).var(0).item() - exp) / exp < 1e-5  # Welford lanes


def test_var_rejects_integers_and_double_spec():
    with pytest.raises(TypeError, match="std and var only support floating point"):
        vt.tensor([1, 2]).var()
    with pytest.raises(TypeError, match="either unbiased or correction"):
        vt.tensor([1.0, 2.0]).std(unbiased=True, correction=1)


# ---- norm -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [2, 1, 0, np.inf, -np.inf, 3, 0.5, -1.5])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_norm(p, dtype):
    g = rng()
    a = random_array(SHAPE, dtype, g)
    a.flat[::7] = 0  # exact zeros matter for p = 0 and p < 0
    x = make(a, dtype, "transposed")
    for dim in [None, 1, (0, 2)]:
        ax = np_dims(dim, 3)
        assert_close(x.norm(p, dim, keepdim=True), norm_ref(a, p, ax, keepdims=True))
    assert_close(vt.norm(x, p=p, dim=-1), norm_ref(a, p, -1))
    check_torch(x.norm(p, 1), "norm", x, p, 1)


def test_norm_dtype_and_range():
    x = vt.tensor([3.0, 4.0])
    assert x.norm().item() == 5.0 and x.norm(None).item() == 5.0
    assert x.to(vt.float16).norm(dtype=vt.float32).dtype == vt.float32
    assert vt.tensor([1e20, 1e20]).norm().item() == pytest.approx(np.sqrt(2) * 1e20, rel=1e-6)  # no overflow
    assert vt.zeros(0, 3).norm(dim=0).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(TypeError, match="without narrowing"):
        x.norm(dtype=vt.float16)
    with pytest.raises(TypeError, match="floating point"):
        vt.tensor([1, 2]).norm()
    with pytest.raises(ValueError, match="inf norm"):
        vt.zeros(0, 3).norm(np.inf, 0)


# ---- logsumexp ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_logsumexp(dtype, layout):
    g = rng()
    a = random_array(SHAPE, dtype, g, low=-30, high=30)
    x = make(a, dtype, layout)
    for dim in [0, -1, (0, 2), (1, 2, 0)]:
        assert_close(x.logsumexp(dim), logsumexp_ref(a, dim))
        assert_close(vt.logsumexp(x, dim, keepdim=True), logsumexp_ref(a, dim, keepdims=True))
    check_torch(x.logsumexp((0, 1)), "logsumexp", x, (0, 1))


def test_logsumexp_extremes():
    inf, nan = np.inf, np.nan
    x = vt.tensor([[1000.0, 1000.0, -inf], [-inf, -inf, -inf], [inf, 1.0, -inf], [nan, 1.0, 2.0],
                   [-1000.0, -1001.0, -inf]])
    exp = [1000 + np.log(2), -inf, inf, nan, logsumexp_ref(np.array([-1000.0, -1001.0]), 0)]
    assert_close(x.logsumexp(1), np.array(exp))
    assert_close(x.t().logsumexp(0), np.array(exp))  # the lanes (online) path
    assert_close(vt.tensor([1, 2, 3]).logsumexp(0), logsumexp_ref(np.array([1.0, 2, 3]), 0))
    assert vt.tensor([1, 2]).logsumexp(0).dtype == vt.float32
    assert vt.zeros(0).logsumexp(0).item() == -inf
    check_torch(x.logsumexp(1), "logsumexp", x, 1)


# ---- any / all --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [vt.float32, vt.float16, vt.int32, vt.uint8, vt.bool])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_any_all(dtype, layout):
    g = rng()
    a = random_array(SHAPE, dtype, g)
    a = np.where(g.uniform(size=SHAPE) < 0.3, 0, a).astype(a.dtype)
    a[0] = 1  # a row with no zeros, so all() is true somewhere
    x = make(a, dtype, layout)
    out_dt = vt.uint8 if dtype == vt.uint8 else vt.bool
    for dim in [None, 0, 1, -1]:
        for keepdim in ([False] if dim is None else [False, True]):
            r_any = x.any(dim, keepdim) if dim is not None else x.any()
            r_all = vt.all(x, dim, keepdim=keepdim) if dim is not None else x.all()
            assert r_any.dtype == out_dt and r_all.dtype == out_dt
            ax = np_dims(dim, 3)
            np.testing.assert_array_equal(r_any.numpy().astype(bool), np.any(a != 0, axis=ax, keepdims=keepdim))
            np.testing.assert_array_equal(r_all.numpy().astype(bool), np.all(a != 0, axis=ax, keepdims=keepdim))
    check_torch(x.any(1), "any", x, 1)
    check_torch(x.all(), "all", x)


def test_any_all_nan_counts_as_true():
    x = vt.tensor([np.nan, 0.0])
    assert x.any().item() and not x.all().item() and vt.tensor([np.nan]).all().item()


# ---- cumsum / cumprod -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + [vt.int32, vt.uint8, vt.bool])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cumsum_cumprod(dtype, layout):
    g = rng()
    a = random_array(SHAPE, dtype, g, low=0.7, high=1.3) if dtype.is_floating_point else random_array(SHAPE, dtype, g)
    x = make(a, dtype, layout)
    ref = a.astype(np.float64 if dtype.is_floating_point else np.int64)
    out_dt = dtype if dtype.is_floating_point else vt.int64
    for dim in [0, 1, 2, -1]:
        r = x.cumsum(dim)
        assert r.dtype == out_dt and r.is_contiguous()
        assert_close(r, np.cumsum(ref, axis=dim), dtype=out_dt)
        if dtype.is_floating_point or dtype == vt.bool:
            assert_close(vt.cumprod(x, dim), np.cumprod(ref, axis=dim), dtype=out_dt)
    check_torch(x.cumsum(1), "cumsum", x, 1)
    check_torch(x.cumprod(0), "cumprod", x, 0)
    check_torch(x.cumsum(2, dtype=vt.float64), "cumsum", x, 2, dtype=vt.float64)


def test_cumsum_large_and_special():
    g = rng()
    a = random_array((200, 300), vt.float64, g)
    for dim in (0, 1):
        assert_close(vt.tensor(a).cumsum(dim), np.cumsum(a, axis=dim))
        assert_close(vt.tensor(np.ascontiguousarray(a.T)).t().cumsum(dim), np.cumsum(a, axis=dim))
    assert zero_d(2.5, vt.float32).cumsum(0).shape == ()
    assert zero_d(2.5, vt.float32).cumprod(-1).item() == 2.5
    assert vt.zeros(0, 3).cumsum(0).shape == (0, 3)
    assert vt.tensor([1.5, 2.5]).cumsum(0, dtype=vt.int32).tolist() == [1, 3]
    with pytest.raises(IndexError, match="cumsum: dimension out of range"):
        vt.zeros(2, 3).cumsum(2)


# ---- shapes, 0-d and empty inputs, bad dims ---------------------------------------------------------
def test_zero_d_inputs():
    x = zero_d(2.5, vt.float32)
    for r in [x.sum(), x.sum(0), x.sum(-1, keepdim=True), x.mean(0), x.amax(0), x.max(), x.logsumexp(0),
              x.norm(dim=0), x.prod(0)]:
        assert r.shape == ()
    assert x.sum(0).item() == 2.5 and x.norm().item() == 2.5
    v, i = x.max(0)
    assert v.item() == 2.5 and i.item() == 0 and x.argmax(0).item() == 0 and x.argmax().shape == ()
    assert np.isnan(x.var().item()) and x.any(0).item() is True
    check_torch(x.sum(0), "sum", x, 0)


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is")
def test_empty_inputs():
    e = vt.zeros(0, 3)
    assert e.sum().item() == 0 and e.prod().item() == 1 and np.isnan(e.mean().item())
    assert e.sum(0).tolist() == [0.0] * 3 and e.prod(0).tolist() == [1.0] * 3
    assert e.sum(1).shape == (0,) and e.amax(1).shape == (0,) and e.max(1).indices.shape == (0,)
    assert e.any(0).tolist() == [False] * 3 and e.all(0).tolist() == [True] * 3
    assert e.logsumexp(0).tolist() == [-np.inf] * 3 and e.norm(dim=0).tolist() == [0.0] * 3
    assert vt.zeros(0, dtype=vt.int32).sum().dtype == vt.int64
    check_torch(e.var(0), "var", e, 0)
    for call, kind, msg in [
        (lambda: e.max(), RuntimeError, "max\\(\\): Expected reduction dim to be specified for input.numel\\(\\) == 0"),
        (lambda: e.amin(), RuntimeError, "amin\\(\\): Expected reduction dim to be specified"),
        (lambda: e.argmax(), RuntimeError, "argmax\\(\\): Expected reduction dim to be specified"),
        (lambda: e.max(0), IndexError, "max\\(\\): Expected reduction dim 0 to have non-zero size"),
        (lambda: e.amax(0), IndexError, "amax\\(\\): Expected reduction dim 0 to have non-zero size"),
        (lambda: e.argmin(0), IndexError, "argmin\\(\\): Expected reduction dim 0 to have non-zero size"),
    ]:
        with pytest.raises(kind, match=msg):
            call()


def test_bad_dims():
    x = vt.zeros(2, 3)
    for call in [lambda: x.sum(2), lambda: x.mean(-3), lambda: x.amax(5), lambda: x.max(2), lambda: x.argmax(2),
                 lambda: x.var(2), lambda: x.norm(dim=2), lambda: x.logsumexp(3), lambda: x.any(2),
                 lambda: x.prod(-3)]:
        with pytest.raises(IndexError, match="dimension out of range"):
            call()
    for call in [lambda: x.sum((0, 0)), lambda: x.sum((1, -1)), lambda: x.amax((0, -2)), lambda: x.var((1, 1))]:
        with pytest.raises(ValueError, match="appears multiple times"):
            call()
    with pytest.raises(TypeError, match="does not support bool"):
        vt.tensor([True, False]).argmax()


def test_output_is_fresh_and_independent():
    x = vt.tensor(np.arange(6.0).reshape(2, 3))
    s = x.sum(1, keepdim=True)
    x.add_(1)
    assert s.tolist() == [[3.0], [12.0]]
    assert x.t().sum(1).is_contiguous()


@pytest.mark.parametrize("dtype", [vt.float32, vt.float64, vt.int32])
def test_every_run_length_and_stride(dtype):
    """Vector loops, their odd-length tails and strided gathers: each length folds every element once."""
    g = rng()
    a = random_array((4, 300), dtype, g, low=0.8, high=1.25) if dtype.is_floating_point else \
        random_array((4, 300), dtype, g) % 3 + 1
    ref = a.astype(np.float64 if dtype.is_floating_point else np.int64)
    big = make(a, dtype)
    for n in list(range(1, 40)) + [63, 64, 65, 129, 255, 256, 257]:
        for step in (1, 2):
            m = (n + step - 1) // step * step
            x, r = big[:, :m:step], ref[:, :m:step]
            assert_close(x.sum(1), r.sum(1), dtype=x.sum(1).dtype)
            assert_close(x.amax(1), r.max(1), dtype=dtype)
            assert_close(x.t().amin(0), r.min(1), dtype=dtype)
            np.testing.assert_array_equal(x.argmax(1).numpy(), r.argmax(1))
            if dtype.is_floating_point:
                assert_close(x.prod(1), r.prod(1), dtype=dtype)
                assert_close(x.t().sum(0), r.sum(1), dtype=dtype)


def test_random_geometries_match_numpy():
    """Random shapes, memory orders, slices and dim sets: every walk of the driver (runs, lanes, short runs
    folded as lanes, wide rows, threads splitting outputs or the reduced range) against numpy."""
    g = rng()
    for _ in range(25):
        nd = int(g.integers(1, 5))
        shape = [int(g.integers(1, 7)) for _ in range(nd)]
        if g.random() < 0.4:  # big enough to run threaded
            shape[int(g.integers(nd))] = int(g.integers(40000, 70000)) // max(1, int(np.prod(shape)) // 8)
        a = g.uniform(-3, 3, size=tuple(max(1, s) for s in shape))
        perm = g.permutation(nd)
        x = vt.tensor(np.ascontiguousarray(np.transpose(a, perm))).permute(*np.argsort(perm).tolist())
        if g.random() < 0.3:
            d = int(g.integers(nd))
            x = vt.tensor(np.repeat(a, 2, axis=d))[(slice(None),) * d + (slice(None, None, 2),)]
        dims = tuple(sorted(g.choice(nd, size=int(g.integers(1, nd + 1)), replace=False).tolist()))
        keep = bool(g.random() < 0.5)
        assert_close(x.sum(dims, keep), a.sum(axis=dims, keepdims=keep))
        assert_close(x.amin(dims, keep), a.min(axis=dims, keepdims=keep))
        assert_close(x.norm(2, dims, keep), np.sqrt((a * a).sum(axis=dims, keepdims=keep)))
        assert_close(x.logsumexp(dims, keep), logsumexp_ref(a, dims, keepdims=keep))
        if np.prod([a.shape[d] for d in dims]) > 1:
            assert_close(x.var(dims, keepdim=keep), a.var(axis=dims, ddof=1, keepdims=keep))
        d0 = dims[0]
        v, i = x.max(d0, keep)
        assert_close(v, a.max(axis=d0, keepdims=keep))
        np.testing.assert_array_equal(i.numpy(), np.expand_dims(a.argmax(axis=d0), d0) if keep else a.argmax(axis=d0))
        np.testing.assert_array_equal(x.float().argmin(d0).numpy(), a.astype(np.float32).argmin(axis=d0))
        assert_close((x * 0.1 + 1).prod(d0), np.prod(a * 0.1 + 1, axis=d0))
        np.testing.assert_array_equal(x.gt(2.5).any(d0).numpy(), (a > 2.5).any(axis=d0))
        assert_close(x.cumsum(d0), np.cumsum(a, axis=d0))
