"""The autocast table and each category against torch.autocast on the same call (CPU here; the CUDA
cases run where a GPU is), values against float64; Python's operators with a number on one side."""
import contextlib

import numpy as np
import pytest

import vibetensor as vt
import vibetensor.nn.functional as F
from helpers import TOLERANCES, rng, torch
from vibetensor.amp import policy

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")

# ---- the table against torch's own autocast registrations ---------------------------------------------------

# vibetensor names whose torch op is spelled differently, and rows where torch reaches the category through
# the ops its Python function decomposes into (F.cross_entropy: log_softmax + nll_loss; F.normalize: the
# fp32 vector norm) rather than a registration of its own.
_TORCH_NAME = {"cross_entropy": "cross_entropy_loss"}
_DECOMPOSED_IN_TORCH = {("cross_entropy", "cuda"), ("normalize", "cuda")}


def _vt_names():
    ops = {d["name"] for d in vt.library.op_table()}
    functional = {n for n in dir(F) if not n.startswith("_") and callable(getattr(F, n))}
    return ops, functional


def _ours(name, device_type):
    return policy.POLICIES.get(name, (None, None))[1 if device_type == "cpu" else 0] is not None


def _theirs(name, device_type):
    key = "AutocastCPU" if device_type == "cpu" else "AutocastCUDA"
    registered = {n.split("::")[1].split(".")[0] for n in torch._C._dispatch_get_registrations_for_dispatch_key(key)}
    return _TORCH_NAME.get(name, name) in registered or (name, device_type) in _DECOMPOSED_IN_TORCH


@needs_torch
@pytest.mark.skipif(torch is not None and not torch.__version__.startswith("2.13"),
                    reason="the table follows the pinned torch 2.13's lists")
@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
def test_table_lists_what_torch_autocasts(device_type):
    ops, functional = _vt_names()
    for name in sorted(ops | functional):
        ours, theirs = _ours(name, device_type), _theirs(name, device_type)
        assert ours == theirs, f"{name} on {device_type}: table says {ours}, torch autocasts it: {theirs}"


def test_every_row_is_a_dispatcher_op_or_a_marked_function():
    ops, functional = _vt_names()
    for name, (cuda, cpu) in policy.POLICIES.items():
        if name in ops:
            assert vt._C._autocast_policy(name, "cpu").name == (cpu or "none")
            assert vt._C._autocast_policy(name, "cuda").name == (cuda or "none")
        else:
            assert getattr(getattr(F, name, None), "__autocast_op__", False), f"{name}: no op, no @autocast_op"


# ---- each category on the same call, vibetensor and torch -------------------------------------------------------

# name: (call(m, F, *inputs), input specs). m is vibetensor or torch (their spellings agree); a spec is
# (shape, dtype, low, high) with dtype "f32", "bf16" or "f64", or (shape, "i64", high). Mixed float
# inputs show the casts: without autocast most of these calls would fail or promote.
def _native_layer_norm(m, F, x, w, b):
    return (m.ops if m is vt else m).native_layer_norm(x, [8], w, b, 1e-5)[0]


X, W = ((4, 8), "bf16", 0.5, 2.0), ((8, 8), "f32", 0.5, 2.0)
POS = ((4, 8), "bf16", 0.1, 0.9)
CASES = {
    "mm": (lambda m, F, a, b: m.mm(a, b), [((4, 8), "f32", 0.5, 2.0), ((8, 4), "bf16", 0.5, 2.0)]),
    "bmm": (lambda m, F, a, b: m.bmm(a, b), [((2, 4, 8), "f32", 0.5, 2.0), ((2, 8, 3), "f32", 0.5, 2.0)]),
    "matmul": (lambda m, F, a, b: a @ b, [((3, 4, 8), "f32", 0.5, 2.0), ((8, 5), "bf16", 0.5, 2.0)]),
    "addmm": (lambda m, F, c, a, b: m.addmm(c, a, b), [((4, 4), "f32", 0.5, 2.0), ((4, 8), "bf16", 0.5, 2.0),
                                                    ((8, 4), "f32", 0.5, 2.0)]),
    "linear": (lambda m, F, x, w, b: F.linear(x, w, b), [X, W, ((8,), "f32", 0.5, 2.0)]),
    "scaled_dot_product_attention": (lambda m, F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                                     [((1, 2, 4, 8), "f32", 0.5, 2.0)] * 3),
    "acos": (lambda m, F, x: m.acos(x), [POS]),
    "asin": (lambda m, F, x: m.asin(x), [POS]),
    "cosh": (lambda m, F, x: m.cosh(x), [X]),
    "sinh": (lambda m, F, x: m.sinh(x), [X]),
    "tan": (lambda m, F, x: m.tan(x), [POS]),
    "erfinv": (lambda m, F, x: m.erfinv(x), [POS]),
    "exp": (lambda m, F, x: m.exp(x), [X]),
    "expm1": (lambda m, F, x: m.expm1(x), [X]),
    "log": (lambda m, F, x: m.log(x), [X]),
    "log2": (lambda m, F, x: m.log2(x), [X]),
    "log10": (lambda m, F, x: m.log10(x), [X]),
    "log1p": (lambda m, F, x: m.log1p(x), [X]),
    "reciprocal": (lambda m, F, x: m.reciprocal(x), [X]),
    "rsqrt": (lambda m, F, x: m.rsqrt(x), [X]),
    "pow": (lambda m, F, x: x ** 2.5, [X]),
    "softplus": (lambda m, F, x: F.softplus(x), [X]),
    "logsumexp": (lambda m, F, x: m.logsumexp(x, 1), [X]),
    "layer_norm": (lambda m, F, x, w, b: F.layer_norm(x, (8,), w, b), [X, ((8,), "f32", 0.5, 2.0),
                                                                        ((8,), "f32", 0.5, 2.0)]),
    "native_layer_norm": (_native_layer_norm, [X, ((8,), "bf16", 0.5, 2.0), ((8,), "bf16", 0.5, 2.0)]),
    "rms_norm": (lambda m, F, x, w: F.rms_norm(x, (8,), w, 1e-6), [X, ((8,), "bf16", 0.5, 2.0)]),
    "normalize": (lambda m, F, x: F.normalize(x), [X]),
    "mse_loss": (lambda m, F, a, b: F.mse_loss(a, b), [X, X]),
    "l1_loss": (lambda m, F, a, b: F.l1_loss(a, b), [X, X]),
    "smooth_l1_loss": (lambda m, F, a, b: F.smooth_l1_loss(a, b), [X, ((4, 8), "bf16", 0.0, 3.0)]),
    "binary_cross_entropy_with_logits": (lambda m, F, a, t: F.binary_cross_entropy_with_logits(a, t), [X, POS]),
    "nll_loss": (lambda m, F, x, t: F.nll_loss(x, t), [X, ((4,), "i64", 8)]),
    "cross_entropy": (lambda m, F, x, t: F.cross_entropy(x, t), [X, ((4,), "i64", 8)]),
    "prod": (lambda m, F, x: m.prod(x, 1), [X]),
    "softmax": (lambda m, F, x: m.softmax(x, 1), [X]),
    "log_softmax": (lambda m, F, x: m.log_softmax(x, 1), [X]),
    "sum": (lambda m, F, x: x.sum(1), [X]),
    "cumsum": (lambda m, F, x: m.cumsum(x, 1), [X]),
    "cumprod": (lambda m, F, x: m.cumprod(x, 1), [X]),
    "norm": (lambda m, F, x: x.norm(2, 1), [X]),
    "addcdiv": (lambda m, F, a, b, c: m.addcdiv(a, b, c), [X, ((4, 8), "f32", 0.5, 2.0), X]),
    "addcmul": (lambda m, F, a, b, c: m.addcmul(a, b, c), [X, X, ((4, 8), "f32", 0.5, 2.0)]),
    "atan2": (lambda m, F, a, b: m.atan2(a, b), [X, ((4, 8), "f32", 0.5, 2.0)]),
    "dot": (lambda m, F, a, b: m.dot(a, b), [((8,), "bf16", 0.5, 2.0), ((8,), "bf16", 0.5, 2.0)]),
    "index_put": (lambda m, F, a, i, v: a.index_put((i,), v), [X, ((3,), "i64", 4), ((3, 8), "f32", 0.5, 2.0)]),
    "scatter_add": (lambda m, F, a, i, s: a.scatter_add(1, i, s), [X, ((4, 3), "i64", 8), ((4, 3), "f32", 0.5, 2.0)]),
    "cat": (lambda m, F, a, b: m.cat([a, b]), [X, ((2, 8), "f32", 0.5, 2.0)]),
    "stack": (lambda m, F, a, b: m.stack([a, b]), [X, X]),
}
# Ops outside the table run on the dtypes that reach them, under autocast as without it.
UNLISTED = {
    "add": (lambda m, F, a, b: a + b, [X, ((4, 8), "f32", 0.5, 2.0)]),
    "gelu": (lambda m, F, x: F.gelu(x), [((4, 8), "f32", 0.5, 2.0)]),
    "mean": (lambda m, F, x: x.mean(1), [X]),
    "embedding": (lambda m, F, i, w: F.embedding(i, w), [((5,), "i64", 8), W]),
    "mm_float64": (lambda m, F, a, b: m.mm(a, b), [((4, 8), "f64", 0.5, 2.0), ((8, 4), "f64", 0.5, 2.0)]),
}


def _inputs(specs, lib, device, gen):
    out = []
    for spec in specs:
        if spec[1] == "i64":
            a = gen.integers(0, spec[2], size=spec[0])
            out.append(lib.tensor(a, device=device))
            continue
        shape, kind, lo, hi = spec
        a = gen.uniform(lo, hi, size=shape)
        dtype = {"f32": lib.float32, "bf16": lib.bfloat16, "f16": lib.float16, "f64": lib.float64}[kind]
        out.append(lib.tensor(a, dtype=lib.float32, device=device).to(dtype))
    return out


def _to_np(t):
    return t.detach().cpu().double().numpy()


def _run_case(call, specs, device_type, dtype):
    """Runs the call under autocast in vibetensor and torch and under float64 in torch (on the values the
    low-precision inputs hold): returns the three results as float64 arrays and the two output dtypes, or
    None when torch refuses the call (an op outside this device's list given mixed dtypes)."""
    gen_seed = rng().integers(1 << 30)
    vx = _inputs(specs, vt, device_type, np.random.default_rng(gen_seed))
    tx = _inputs(specs, torch, device_type, np.random.default_rng(gen_seed))
    try:
        with torch.autocast(device_type, dtype=getattr(torch, dtype)):
            to = call(torch, torch.nn.functional, *tx)
    except RuntimeError:
        with pytest.raises((TypeError, ValueError, RuntimeError)), vt.autocast(device_type, dtype=getattr(vt, dtype)):
            call(vt, F, *vx)
        return None
    with vt.autocast(device_type, dtype=getattr(vt, dtype)):
        vo = call(vt, F, *vx)
    ref = call(torch, torch.nn.functional, *[t.double() if t.is_floating_point() else t for t in tx])
    return _to_np(vo), _to_np(to), ref.double().cpu().numpy(), vo.dtype, to.dtype


def _check_case(name, call, specs, device_type, dtype):
    result = _run_case(call, specs, device_type, dtype)
    if result is None:
        return  # both refused it
    v, t, ref, vdt, tdt = result
    assert vdt.name == str(tdt).split(".")[1], f"{name}: vibetensor gives {vdt}, torch {tdt}"
    # Values: against float64 within the tolerance of the lowest precision the inputs passed through
    # (a bf16 matmul's inputs are rounded too, hence twice the output's); torch's autocast result likewise.
    rtol, atol = TOLERANCES[getattr(vt, dtype)]
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(v, ref, rtol=2 * rtol, atol=2 * atol * scale, err_msg=name)
    np.testing.assert_allclose(v, t, rtol=2 * rtol, atol=2 * atol * scale, err_msg=name)


@needs_torch
@pytest.mark.parametrize("name", sorted(CASES) + sorted(UNLISTED))
def test_category_matches_torch_on_cpu(name):
    call, specs = CASES.get(name) or UNLISTED[name]
    _check_case(name, call, specs, "cpu", "bfloat16")


@needs_torch
@pytest.mark.parametrize("name", ["mm", "linear", "cat", "prod", "mse_loss", "scaled_dot_product_attention"])
def test_category_matches_torch_on_cpu_float16(name):
    call, specs = CASES[name]
    _check_case(name, call, _as_float16(specs), "cpu", "float16")


def _as_float16(specs):
    """The same inputs with the region's lower precision: float16 where the bfloat16 cases have bfloat16
    (torch's promote refuses a bf16 input in a float16 region; vibetensor promotes it as type promotion does)."""
    return [(s[0], "f16", *s[2:]) if s[1] == "bf16" else s for s in specs]


def test_cases_cover_the_table():
    assert set(CASES) == set(policy.POLICIES)


@pytest.mark.cuda
@needs_torch
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name", sorted(CASES) + sorted(UNLISTED))
def test_category_matches_torch_on_cuda(name, dtype):
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    if name in CASES and _ours(name, "cuda") != _theirs(name, "cuda"):
        pytest.skip(f"torch {torch.__version__} lists {name} differently from the pinned 2.13")
    call, specs = CASES.get(name) or UNLISTED[name]
    _check_case(name, call, specs if dtype == "bfloat16" else _as_float16(specs), "cuda", dtype)


_CATEGORY_DTYPE = {"lower_precision_fp": "bfloat16", "fp32": "float32", "fp32_set_opt_dtype": "float32"}


@contextlib.contextmanager
def _cuda_column_on_cpu(*names):
    """The CUDA list's categories given to CPU for these ops: what a CUDA region does, on CPU tensors."""
    for name in names:
        vt._C._set_autocast_policy(name, "cpu", policy.policies(name)[1])
    try:
        yield
    finally:
        for name in names:
            vt._C._set_autocast_policy(name, "cpu", policy.policies(name)[0])


@needs_torch
@pytest.mark.parametrize("name", sorted(n for n, (cuda, _) in policy.POLICIES.items()
                                        if cuda and n in {d["name"] for d in vt.library.op_table()}))
def test_cuda_column_on_cpu_tensors(name):
    """The CUDA list's categories, given to CPU for one op, on CPU tensors: without a GPU this is what checks
    fp32_set_opt_dtype and three-input promote (the CPU list has neither)."""
    cuda = policy.POLICIES[name][0]
    call, specs = CASES[name]
    seed = rng().integers(1 << 30)
    vx = _inputs(specs, vt, "cpu", np.random.default_rng(seed))
    tx = _inputs(specs, torch, "cpu", np.random.default_rng(seed))
    with _cuda_column_on_cpu(name), vt.autocast("cpu"):
        out = call(vt, F, *vx)
    ref = call(torch, torch.nn.functional, *[t.double() if t.is_floating_point() else t for t in tx]).numpy()
    # promote: the widest input (float32 here, but for dot's two bfloat16 vectors)
    assert out.dtype.name == _CATEGORY_DTYPE.get(cuda, "bfloat16" if name == "dot" else "float32")
    rtol, atol = TOLERANCES[out.dtype]
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(_to_np(out), ref, rtol=2 * rtol, atol=2 * atol * scale)


# ---- Python's operators with a number on one side ------------------------------------------------------------

# Each operator and the torch op it reaches (torch/_tensor.py: `3 / x` is x.reciprocal() * 3, `2 ** x` is
# pow.Scalar, `3 - x` is rsub), whose autocast registration decides the result's dtype in a region.
SCALAR_OPERATORS = {
    "3 / x": (lambda x: 3 / x, "reciprocal"),
    "x / 3": (lambda x: x / 3, "div"),
    "3 - x": (lambda x: 3 - x, "rsub"),
    "x - 3": (lambda x: x - 3, "sub"),
    "3 + x": (lambda x: 3 + x, "add"),
    "3 * x": (lambda x: 3 * x, "mul"),
    "2 ** x": (lambda x: 2 ** x, "pow"),
    "x ** 2": (lambda x: x ** 2, "pow"),
    "3 // x": (lambda x: 3 // x, "floor_divide"),
    "3 % x": (lambda x: 3 % x, "remainder"),
}


def _operand(lib, device, requires_grad=False):
    a = rng().uniform(0.5, 2.0, size=(4, 8))
    return lib.tensor(a, device=device).to(lib.bfloat16).requires_grad_(requires_grad)


@needs_torch
@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize("expr", sorted(SCALAR_OPERATORS))
def test_scalar_operators_match_torch_on_cpu(expr, autocast):
    """The dtype, the values (bit for bit: `3 / x` rounds the reciprocal first, as torch's does) and the
    gradient's dtype, in and out of a region."""
    fn, torch_op = SCALAR_OPERATORS[expr]
    backward = torch_op not in ("floor_divide", "remainder")  # torch has no derivative for these
    results = {}
    for lib in (vt, torch):
        x = _operand(lib, "cpu", requires_grad=backward)
        with lib.autocast("cpu", dtype=lib.bfloat16, enabled=autocast):
            out = fn(x)
        if backward:
            out.float().sum().backward()
        results[lib] = out.dtype, _to_np(out), x.grad
    (vdt, v, vg), (tdt, t, tg) = results[vt], results[torch]
    assert vdt.name == str(tdt).split(".")[1]
    np.testing.assert_array_equal(v, t, err_msg=expr)
    if backward:
        assert vg.dtype == vt.bfloat16 and tg.dtype == torch.bfloat16
        np.testing.assert_allclose(_to_np(vg), _to_np(tg), rtol=1.6e-2, atol=1e-2, err_msg=expr)


@needs_torch
@pytest.mark.parametrize("expr", sorted(SCALAR_OPERATORS))
def test_scalar_operators_under_the_cuda_list(expr):
    """torch's CUDA list given to CPU for every op of the table: the dtype each operator gets in a CUDA region
    (float32 for `3 / x`, since torch's CUDA list has reciprocal), checkable without a GPU."""
    fn, torch_op = SCALAR_OPERATORS[expr]
    x = _operand(vt, "cpu")
    ops = [n for n in policy.POLICIES if n in {d["name"] for d in vt.library.op_table()}]
    with _cuda_column_on_cpu(*ops), vt.autocast("cpu", dtype=vt.bfloat16):
        out = fn(x)
    assert out.dtype == (vt.float32 if _theirs(torch_op, "cuda") else vt.bfloat16), expr


@pytest.mark.cuda
@needs_torch
@pytest.mark.parametrize("expr", sorted(SCALAR_OPERATORS))
def test_scalar_operators_on_cuda(expr):
    fn, torch_op = SCALAR_OPERATORS[expr]
    with vt.autocast("cuda", dtype=vt.bfloat16):
        out = fn(_operand(vt, "cuda"))
    assert out.is_cuda and out.dtype == (vt.float32 if _theirs(torch_op, "cuda") else vt.bfloat16), expr
    if torch.cuda.is_available():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            want = fn(_operand(torch, "cuda"))
        assert out.dtype.name == str(want.dtype).split(".")[1]
        np.testing.assert_allclose(_to_np(out), _to_np(want), rtol=1.6e-2, atol=1e-2, err_msg=expr)
