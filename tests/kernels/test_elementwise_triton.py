"""The generated elementwise Triton kernels, run by Triton's interpreter on CPU tensors against numpy.

The same generator feeds the GPU (kernels/compile.py); here every expression, layout and dtype conversion
is checked without one.
"""
import math

import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels import interpret
from vibetensor.kernels.triton import elementwise as ew
from helpers import random_array, rng

triton = pytest.importorskip("triton")

erf = np.vectorize(math.erf)
# op -> (numpy reference on float64 inputs, domain of the inputs, params)
FLOAT_REFS = {
    "exp": (np.exp, "any", ()), "exp2": (np.exp2, "any", ()), "expm1": (np.expm1, "any", ()),
    "log": (np.log, "pos", ()), "log2": (np.log2, "pos", ()), "log10": (np.log10, "pos", ()),
    "log1p": (np.log1p, "pos", ()), "sqrt": (np.sqrt, "pos", ()), "rsqrt": (lambda x: 1 / np.sqrt(x), "pos", ()),
    "sin": (np.sin, "any", ()), "cos": (np.cos, "any", ()), "tan": (np.tan, "unit", ()),
    "asin": (np.arcsin, "unit", ()), "acos": (np.arccos, "unit", ()), "atan": (np.arctan, "any", ()),
    "sinh": (np.sinh, "any", ()), "cosh": (np.cosh, "any", ()), "tanh": (np.tanh, "any", ()),
    "asinh": (np.arcsinh, "any", ()), "acosh": (np.arccosh, "ge1", ()), "atanh": (np.arctanh, "unit", ()),
    "erf": (erf, "any", ()), "erfc": (np.vectorize(math.erfc), "any", ()),
    "lgamma": (np.vectorize(math.lgamma), "pos", ()), "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), "any", ()),
    "reciprocal": (lambda x: 1 / x, "any", ()), "silu": (lambda x: x / (1 + np.exp(-x)), "any", ()),
    "mish": (lambda x: x * np.tanh(np.log1p(np.exp(x))), "any", ()),
    "gelu": (lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))), "any", ()),
    "gelu_tanh": (lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))), "any", ()),
    "softplus": (lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2), "any", (2.0, 3.0)),
    "elu": (lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)), "any", (0.5,)),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.1 * x), "any", (0.1,)),
    "hardtanh": (lambda x: np.clip(x, -1, 1.5), "any", (-1.0, 1.5)),
    "neg": (np.negative, "any", ()), "abs": (np.abs, "any", ()), "square": (np.square, "any", ()),
    "relu": (lambda x: np.maximum(x, 0), "any", ()), "sign": (np.sign, "any", ()), "floor": (np.floor, "any", ()),
    "ceil": (np.ceil, "any", ()), "trunc": (np.trunc, "any", ()), "frac": (lambda x: x - np.trunc(x), "any", ()),
    "round": (np.rint, "any", ()), "copy": (lambda x: x, "any", ()),
}
BINARY_REFS = {
    "add": (lambda a, b: a + 2.5 * b, (2.5,)), "add1": (np.add, ()), "sub": (lambda a, b: a - 0.5 * b, (0.5,)),
    "mul": (np.multiply, ()), "div": (np.divide, ()), "div_trunc": (lambda a, b: np.trunc(a / b), ()),
    "div_floor": (lambda a, b: np.floor(a / b), ()), "remainder": (np.mod, ()), "fmod": (np.fmod, ()),
    "pow": (np.power, ()), "atan2": (np.arctan2, ()), "maximum": (np.maximum, ()),
    "minimum": (np.minimum, ()), "fmax": (np.fmax, ()), "fmin": (np.fmin, ()), "hypot": (np.hypot, ()),
    "copysign": (np.copysign, ()), "logaddexp": (np.logaddexp, ()),
}
COMPARE_REFS = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
                "ge": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or,
                "logical_xor": np.logical_xor}


def domain(name, shape, gen):
    if name == "pos":
        return random_array(shape, vt.float64, gen, positive=True)
    if name == "unit":
        return random_array(shape, vt.float64, gen, low=-0.9, high=0.9)
    if name == "ge1":
        return random_array(shape, vt.float64, gen, low=1.1, high=4)
    return random_array(shape, vt.float64, gen)


def test_every_expression_has_a_test():
    tested = set(FLOAT_REFS) | set(BINARY_REFS) | set(COMPARE_REFS) | {
        "fill", "isnan", "isinf", "isfinite", "logical_not", "bitwise_not", "round_decimals", "erfinv", "where",
        "masked_fill", "clamp", "clamp_min", "clamp_max", "lerp", "addcmul", "addcdiv", "xlogy", "bool_add",
        "idiv_trunc", "idiv_floor", "iremainder", "ifmod", "bitwise_and", "bitwise_or", "bitwise_xor", "lshift",
        "rshift", "round_decimals_neg", "nan_to_num", "signbit", "digamma",
        "gelu_backward", "gelu_tanh_backward", "silu_backward",  # these three: test_fused_act_triton.py
        "masked_scale"}  # test_random_triton.py
    assert set(ew.OPS) <= tested, sorted(set(ew.OPS) - tested)


@pytest.mark.parametrize("op", sorted(FLOAT_REFS))
@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16])
def test_unary(op, dtype):
    ref, dom, params = FLOAT_REFS[op]
    a = domain(dom, (37,), rng())
    x = vt.tensor(a).to(dtype)
    out = vt.empty(37, dtype=dtype)
    interpret.run_elementwise(op, out, [x], params)
    expect = ref(x.to(vt.float64).numpy())
    tol = 1e-5 if dtype == vt.float32 else 2e-2
    np.testing.assert_allclose(out.to(vt.float64).numpy(), expect, rtol=tol, atol=tol)


@pytest.mark.parametrize("op", sorted(BINARY_REFS))
def test_binary_layouts(op):
    ref, params = BINARY_REFS[op]
    gen = rng()
    a = random_array((4, 6), vt.float32, gen, positive=op == "pow")
    b = random_array((4, 6), vt.float32, gen, positive=op in ("pow", "div_floor", "div_trunc", "remainder", "fmod"))
    x, y = vt.tensor(a, dtype=vt.float32), vt.tensor(b, dtype=vt.float32)
    cases = [
        (x.reshape(-1), y.reshape(-1), ref(a, b).reshape(-1)),          # contiguous
        (x.reshape(-1), y[0, :1].reshape(()), ref(a, b[0, 0]).reshape(-1)),  # tensor with a scalar
        (x.t(), y.t(), ref(a, b).T),                                     # general strides
        (x[:, ::2], y[:, 1::2], ref(a[:, ::2], b[:, 1::2])),
    ]
    for xi, yi, expect in cases:
        out = vt.empty(*expect.shape)
        interpret.run_elementwise(op, out, [xi, yi], params)
        np.testing.assert_allclose(out.numpy(), expect, rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("op", sorted(COMPARE_REFS))
def test_comparisons(op):
    gen = rng()
    a = gen.integers(-3, 3, size=20).astype(np.float32)
    b = gen.integers(-3, 3, size=20).astype(np.float32)
    out = vt.empty(20, dtype=vt.bool)
    interpret.run_elementwise(op, out, [vt.tensor(a), vt.tensor(b)])
    assert out.tolist() == COMPARE_REFS[op](a, b).tolist()


def test_integer_division_and_remainders_follow_python():
    a = np.array([7, -7, 7, -7, 6, 0], np.int64)
    b = np.array([2, 2, -2, -2, 3, 5], np.int64)
    x, y = vt.tensor(a), vt.tensor(b)
    for op, ref in [("idiv_floor", np.floor_divide), ("iremainder", np.mod),
                    ("idiv_trunc", lambda p, q: np.trunc(p / q).astype(np.int64)),
                    ("ifmod", np.fmod)]:
        out = vt.empty(6, dtype=vt.int64)
        interpret.run_elementwise(op, out, [x, y])
        assert out.tolist() == ref(a, b).tolist(), op


def test_predicates_bitwise_and_ternaries():
    v = vt.tensor([float("nan"), float("inf"), -1.0, 0.0])
    for op, expect in [("isnan", [True, False, False, False]), ("isinf", [False, True, False, False]),
                       ("isfinite", [False, False, True, True]), ("logical_not", [False, False, False, True])]:
        out = vt.empty(4, dtype=vt.bool)
        interpret.run_elementwise(op, out, [v])
        assert out.tolist() == expect, op
    i, j = vt.tensor([12, 10, -3], dtype=vt.int32), vt.tensor([10, 3, 1], dtype=vt.int32)
    for op, ref in [("bitwise_and", np.bitwise_and), ("bitwise_or", np.bitwise_or), ("bitwise_xor", np.bitwise_xor),
                    ("lshift", np.left_shift), ("rshift", np.right_shift)]:
        out = vt.empty(3, dtype=vt.int32)
        interpret.run_elementwise(op, out, [i, j])
        assert out.tolist() == ref(i.numpy(), j.numpy()).tolist(), op
    out = vt.empty(3, dtype=vt.int32)
    interpret.run_elementwise("bitwise_not", out, [i])
    assert out.tolist() == (~i.numpy()).tolist()
    c = vt.tensor([True, False, True])
    a, b = vt.tensor([1.0, 2.0, 3.0]), vt.tensor([-1.0, -2.0, -3.0])
    out = vt.empty(3)
    interpret.run_elementwise("where", out, [c, a, b])
    assert out.tolist() == [1.0, -2.0, 3.0]
    interpret.run_elementwise("masked_fill", out, [a, c], (9.0,))
    assert out.tolist() == [9.0, 2.0, 9.0]
    interpret.run_elementwise("clamp", out, [a, vt.tensor(1.5), vt.tensor(2.5)])
    assert out.tolist() == [1.5, 2.0, 2.5]
    interpret.run_elementwise("clamp_min", out, [a, vt.tensor(2.5)])
    assert out.tolist() == [2.5, 2.5, 3.0]
    interpret.run_elementwise("clamp_max", out, [a, vt.tensor(2.5)])
    assert out.tolist() == [1.0, 2.0, 2.5]
    interpret.run_elementwise("lerp", out, [a, b, vt.tensor(0.25)])
    np.testing.assert_allclose(out.numpy(), a.numpy() + 0.25 * (b.numpy() - a.numpy()), rtol=1e-6)
    interpret.run_elementwise("addcmul", out, [a, b, b], (0.5,))
    np.testing.assert_allclose(out.numpy(), a.numpy() + 0.5 * b.numpy() ** 2, rtol=1e-6)
    interpret.run_elementwise("addcdiv", out, [a, b, a], (2.0,))
    np.testing.assert_allclose(out.numpy(), a.numpy() + 2 * b.numpy() / a.numpy(), rtol=1e-6)
    interpret.run_elementwise("xlogy", out, [vt.tensor([0.0, 2.0, 1.0]), vt.tensor([0.0, 3.0, 1.0])])
    np.testing.assert_allclose(out.numpy(), [0.0, 2 * math.log(3), 0.0], rtol=1e-6)
    interpret.run_elementwise("round_decimals", out, [vt.tensor([1.2345, 2.5, -0.125])], (100.0,))
    np.testing.assert_allclose(out.numpy(), [1.23, 2.5, -0.12], rtol=1e-6)
    interpret.run_elementwise("erfinv", out, [vt.tensor([0.0, 0.5, -0.9])])
    np.testing.assert_allclose(out.numpy(), [0.0, 0.4769362762, -1.1630871537], rtol=1e-5)
    interpret.run_elementwise("fill", out, [], (4.5,))
    assert out.tolist() == [4.5] * 3
    bo = vt.empty(3, dtype=vt.bool)
    interpret.run_elementwise("bool_add", bo, [vt.tensor([True, False, False]), vt.tensor([False, True, False])], (1.0,))
    assert bo.tolist() == [True, True, False]


def test_casting_copies():
    x = vt.tensor([1.7, -2.2, 300.5])
    for dtype, expect in [(vt.int32, [1, -2, 300]), (vt.float16, [1.7001953125, -2.19921875, 300.5]),
                          (vt.bool, [True, True, True])]:
        out = vt.empty(3, dtype=dtype)
        interpret.run_elementwise("copy", out, [x])
        assert out.to(vt.float64).tolist() == pytest.approx([float(v) for v in expect])


def test_host_scalars_by_value():
    """What `x * 2.5` sends to the GPU: the scalar as a kernel argument, not a pointer to host memory."""
    x = vt.tensor([1.0, -2.0, 3.0])
    out = vt.empty(3)
    interpret.run_elementwise("mul", out, [x, 2.5])
    assert out.tolist() == [2.5, -5.0, 7.5]
    interpret.run_elementwise("sub", out, [x.view(3, 1).expand(3, 2)[:, 0], 1.0], (2.0,))
    assert out.tolist() == [-1.0, -4.0, 1.0]
    o2 = vt.empty(2, 3)
    interpret.run_elementwise("add1", o2, [x.view(1, 3).expand(2, 3).t().t(), 10.0])
    assert o2.tolist() == [[11.0, 8.0, 13.0]] * 2
    oi = vt.empty(3, dtype=vt.int64)
    interpret.run_elementwise("idiv_floor", oi, [vt.tensor([7, -7, 9]), 2])
    assert oi.tolist() == [3, -4, 4]


def test_fills_compute_in_the_output_type():
    for dtype, value in [(vt.int64, 7.0), (vt.int32, -3.0), (vt.float16, 2.5), (vt.bool, 1.0)]:
        out = vt.empty(4, dtype=dtype)
        interpret.run_elementwise("fill", out, [], (value,))
        assert out.to(vt.float64).tolist() == [float(dtype != vt.bool and value or 1.0)] * 4


def test_digamma_nan_to_num_signbit():
    from scipy.special import digamma
    x = vt.tensor([0.25, 1.0, 3.7, 12.5, -0.5, -2.3, 1e-3, 0.0, -3.0], dtype=vt.float64)
    out = vt.empty(9, dtype=vt.float64)
    interpret.run_elementwise("digamma", out, [x])
    got, want = out.numpy(), digamma(x.numpy())
    want[7] = -np.inf  # torch's value at the pole 0 (scipy says nan); negative integers are nan in both
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7)
    v = vt.tensor([float("nan"), float("inf"), -float("inf"), -1.5])
    out = vt.empty(4)
    interpret.run_elementwise("nan_to_num", out, [v], (0.5, 9.0, -9.0))
    assert out.tolist() == [0.5, 9.0, -9.0, -1.5]
    s = vt.tensor([-0.0, 0.0, -2.0, float("inf"), -float("nan")])
    bo = vt.empty(5, dtype=vt.bool)
    interpret.run_elementwise("signbit", bo, [s])
    assert bo.tolist() == np.signbit(s.numpy()).tolist()
    interpret.run_elementwise("round_decimals_neg", out, [vt.tensor([1234.0, -2750.0, 49.0, 51.0])], (100.0,))
    assert out.tolist() == [1200.0, -2800.0, 0.0, 100.0]


def test_integer_forms():
    """Rounding an integer is the identity; no integer is NaN, infinite or negative zero."""
    i = vt.tensor([-3, 0, 7], dtype=vt.int32)
    for op, want in [("floor", [-3, 0, 7]), ("ceil", [-3, 0, 7]), ("trunc", [-3, 0, 7]), ("round", [-3, 0, 7])]:
        out = vt.empty(3, dtype=vt.int32)
        interpret.run_elementwise(op, out, [i])
        assert out.tolist() == want, op
    for op, want in [("isnan", [False] * 3), ("isinf", [False] * 3), ("isfinite", [True] * 3),
                     ("signbit", [True, False, False])]:
        out = vt.empty(3, dtype=vt.bool)
        interpret.run_elementwise(op, out, [i])
        assert out.tolist() == want, op


@pytest.mark.parametrize("strided", ["f", "g"])
def test_strided_layouts_split_indices_alike(strided):
    # "f" splits each index by int_divider's multiply-and-shift in 32 bits, "g" by 64-bit division: both must
    # address every element of odd-sized, transposed, broadcast and sliced operands
    gen = rng()
    a = random_array((7, 13, 5), vt.float32, gen)
    b = random_array((13, 1), vt.float32, gen)
    x = vt.tensor(a, dtype=vt.float32).permute(2, 0, 1)          # [5, 7, 13], no dim contiguous in order
    y = vt.tensor(b, dtype=vt.float32).expand(13, 7).t()          # [7, 13] broadcast: a zero stride
    out = vt.empty(5, 7, 13)
    interpret.run_elementwise("mul", out, [x, y.expand(5, 7, 13)], strided=strided)
    np.testing.assert_allclose(out.numpy(), a.transpose(2, 0, 1) * b[:, 0][None, None, :], rtol=1e-6)
    out2 = vt.empty(3, 7)
    interpret.run_elementwise("add1", out2, [x[1:4, :, 2], vt.tensor(a[:, 3, 1].astype(np.float32))], strided=strided)
    np.testing.assert_allclose(out2.numpy(), a.transpose(2, 0, 1)[1:4, :, 2] + a[:, 3, 1], rtol=1e-6)


def test_int_divider_matches_floor_division():
    gen = np.random.default_rng(7)
    top = (1 << 31) - 1
    divisors = [1, 2, 3, 7, 255, 256, 257, 65535, 65536, 1 << 30, (1 << 30) + 1, top - 1, top,
                *gen.integers(1, top, 200).tolist()]
    for d in divisors:
        magic, shift = ew.int_divider(int(d))
        assert 0 < magic < 1 << 32 and 0 <= shift <= 31
        n = np.array([0, 1, d - 1, d, d + 1, top - 1, top, *gen.integers(0, top, 500).tolist()], dtype=np.uint64)
        n = n[n <= top]
        q = (((n * np.uint64(magic)) >> np.uint64(32)) + n) >> np.uint64(shift)
        np.testing.assert_array_equal(q, n // np.uint64(d))
    with pytest.raises(ValueError, match="out of"):
        ew.int_divider(0)


def test_strided_layout_f_on_random_views():
    # random ranks, sizes (1s included), permutations and slices for inputs and a non-contiguous output
    gen = np.random.default_rng(11)
    for _ in range(12):
        nd = int(gen.integers(1, 6))
        shape = tuple(int(s) for s in gen.integers(1, 6, nd))
        perm = gen.permutation(nd)
        a = gen.standard_normal([shape[p] for p in np.argsort(perm)] + [2]).astype(np.float32)
        x = vt.tensor(a)[..., 1].permute(*perm.tolist())          # strided, permuted view of shape `shape`
        y_np = gen.standard_normal(shape).astype(np.float32)
        y = vt.tensor(y_np)
        big = vt.zeros(*[s + 1 for s in shape])
        out = big[tuple(slice(1, None) for _ in shape)]             # a non-contiguous output
        interpret.run_elementwise("add1", out, [x, y], strided="f")
        want = a[..., 1].transpose(perm) + y_np
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-6)
        assert float(big.sum().item()) == pytest.approx(float(want.sum()), rel=1e-4, abs=1e-3)  # nothing else written
