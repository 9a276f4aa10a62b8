"""vt.autocast against torch.autocast: the table, each category on the same call, nesting, the decorator,
threads, the weight-cast cache and backward dtypes; a bf16 training loop against fp32."""
import threading
import warnings

import numpy as np
import pytest

import vibetensor as vt
import vibetensor.nn.functional as F
from helpers import TOLERANCES, rng, torch
from vibetensor.amp import autocast_mode, policy

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")
HAS_CUDA = vt.cuda.is_available()

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


# ---- regions: nesting, disable, decorator, threads -------------------------------------------------------------

def _mm_dtype():
    return (vt.ones(2, 2) @ vt.ones(2, 2)).dtype


def test_nesting_disable_and_restore():
    assert not vt.is_autocast_enabled("cpu") and _mm_dtype() == vt.float32
    with vt.autocast("cpu"):
        assert vt.is_autocast_enabled("cpu") and vt.get_autocast_dtype("cpu") == vt.bfloat16
        assert _mm_dtype() == vt.bfloat16
        with vt.autocast("cpu", enabled=False):
            assert not vt.is_autocast_enabled("cpu") and _mm_dtype() == vt.float32
        with vt.autocast("cpu", dtype=vt.float16):
            assert _mm_dtype() == vt.float16
        assert _mm_dtype() == vt.bfloat16 and vt.get_autocast_dtype("cpu") == vt.bfloat16
    assert not vt.is_autocast_enabled("cpu") and _mm_dtype() == vt.float32


def test_exit_restores_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with vt.autocast("cpu"):
            1 / 0
    assert not vt.is_autocast_enabled("cpu") and not autocast_mode._cache()


def test_decorator():
    @vt.autocast("cpu", dtype=vt.bfloat16)
    def f(a, b):
        assert vt.is_autocast_enabled("cpu")
        return a @ b

    assert f(vt.ones(2, 2), vt.ones(2, 2)).dtype == vt.bfloat16
    assert not vt.is_autocast_enabled("cpu")


def test_state_is_per_thread():
    seen = {}

    @vt.autocast("cpu")
    def in_region(i):
        seen[i] = _mm_dtype()

    def outside():
        seen["other"] = (_mm_dtype(), vt.is_autocast_enabled("cpu"))

    with vt.autocast("cpu"):
        t = threading.Thread(target=outside)
        t.start()
        t.join()
    assert seen["other"] == (vt.float32, False)
    threads = [threading.Thread(target=in_region, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(seen[i] == vt.bfloat16 for i in range(4)) and not vt.is_autocast_enabled("cpu")


def test_bad_arguments():
    with pytest.raises(RuntimeError, match="unsupported autocast device_type"):
        vt.autocast("tpu")
    with pytest.raises(ValueError, match="device_type"):
        vt.autocast(0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with vt.autocast("cpu", dtype=vt.float32):
            assert _mm_dtype() == vt.float32
        if not HAS_CUDA:
            with vt.autocast("cuda"):
                assert not vt.is_autocast_enabled("cuda")
    assert any("not supported" in str(x.message) for x in w)
    assert HAS_CUDA or any("CUDA is not available" in str(x.message) for x in w)


def test_torch_facade_names():
    import vibetensor.torch as vtorch
    from vibetensor.torch.cuda.amp import autocast as cuda_autocast
    assert vtorch.autocast is vt.autocast and vtorch.amp.autocast is vt.autocast
    assert vtorch.amp.GradScaler is vt.amp.GradScaler
    assert vtorch.is_autocast_enabled is vt.is_autocast_enabled and vtorch.get_autocast_dtype("cpu") == vt.bfloat16
    with vtorch.autocast(device_type="cpu", dtype=vtorch.bfloat16):
        assert vtorch.mm(vtorch.ones(2, 2), vtorch.ones(2, 2)).dtype == vtorch.bfloat16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cuda_autocast().device == "cuda" and vtorch.cuda.amp.GradScaler is not None


# ---- the weight-cast cache, and autograd through the casts ----------------------------------------------------------

def test_weight_cast_once_per_region_and_cleared_on_exit():
    lin = vt.nn.Linear(8, 8)
    x = vt.randn(4, 8)
    with vt.autocast("cpu"):
        y = lin(lin(x))  # the same weight twice
        cache = autocast_mode._cache()
        assert len(cache) == 2  # weight and bias, each cast once
        (w16,) = [c for c in cache.values() if c.dim() == 2]
        assert w16.dtype == vt.bfloat16 and w16.grad_fn is not None
        with vt.autocast("cpu", enabled=False):
            pass
        assert len(cache) == 2  # an inner region keeps the outer one's casts
    assert not autocast_mode._cache()
    y.sum().backward()
    assert lin.weight.grad.dtype == vt.float32
    with vt.autocast("cpu", cache_enabled=False):
        lin(x)
        assert not autocast_mode._cache()


def test_a_cast_made_under_no_grad_is_not_reused_with_grad_on():
    w = vt.nn.Parameter(vt.randn(4, 4))
    x = vt.randn(2, 4)
    with vt.autocast("cpu"):
        with vt.no_grad():
            vt.mm(x, w)
        vt.mm(x, w).float().sum().backward()
    assert w.grad is not None and w.grad.dtype == vt.float32


def test_activations_and_views_are_not_cached():
    w = vt.nn.Parameter(vt.randn(8, 8))
    with vt.autocast("cpu"):
        h = w * 2  # not a leaf
        vt.mm(h, h)
        vt.mm(w[:4], w[:4].t())  # views
        assert not autocast_mode._cache()


@needs_torch
def test_backward_dtypes_and_values_match_torch():
    gen = rng()
    x0, w0, b0 = gen.normal(size=(4, 8)), gen.normal(size=(6, 8)), gen.normal(size=(6,))
    vx = vt.tensor(x0, dtype=vt.float32, requires_grad=True)
    vw, vb = (vt.nn.Parameter(vt.tensor(a, dtype=vt.float32)) for a in (w0, b0))
    tx = torch.tensor(x0, dtype=torch.float32, requires_grad=True)
    tw, tb = (torch.nn.Parameter(torch.tensor(a, dtype=torch.float32)) for a in (w0, b0))
    with vt.autocast("cpu"):
        vl = F.mse_loss(F.linear(vx, vw, vb), vt.zeros(4, 6))
        vl.backward()  # inside the region: backward ops still run in their forward dtypes
    with torch.autocast("cpu"):
        tl = torch.nn.functional.mse_loss(torch.nn.functional.linear(tx, tw, tb), torch.zeros(4, 6))
    tl.backward()
    assert vl.dtype == vt.float32 and tl.dtype == torch.float32
    for v, t in ((vx, tx), (vw, tw), (vb, tb)):
        assert v.grad.dtype == vt.float32 and t.grad.dtype == torch.float32
        np.testing.assert_allclose(v.grad.numpy(), t.grad.numpy(), rtol=2e-2, atol=2e-2)
    x16 = vt.tensor(x0, dtype=vt.bfloat16, requires_grad=True)
    with vt.autocast("cpu"):
        F.linear(x16, vw).float().sum().backward()
    assert x16.grad.dtype == vt.bfloat16


def test_inplace_ops_are_not_autocast():
    a, b = vt.randn(4, 4), vt.ones(4, 4)
    with vt.autocast("cpu"):
        assert a.exp_().dtype == vt.float32 and a.add_(b).dtype == vt.float32


# ---- bf16 training with float32 master weights ----------------------------------------------------------------

def _train(use_autocast, opt_name, steps=30):
    vt.manual_seed(0)
    model = vt.nn.Sequential(vt.nn.Linear(8, 32), vt.nn.GELU(), vt.nn.LayerNorm(32), vt.nn.Linear(32, 4))
    opt = vt.optim.AdamW(model.parameters(), lr=1e-2) if opt_name == "adamw" else \
        vt.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    gen = np.random.default_rng(0)
    x = vt.tensor(gen.normal(size=(64, 8)), dtype=vt.float32)
    y = vt.tensor(gen.integers(0, 4, size=64))
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        with vt.autocast("cpu", dtype=vt.bfloat16, enabled=use_autocast):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.dtype == vt.float32 and p.grad.dtype == vt.float32 for p in model.parameters())
    return losses, logits.dtype


@pytest.mark.parametrize("opt_name", ["adamw", "sgd"])
def test_bf16_training_reaches_the_fp32_loss(opt_name):
    fp32, fp32_logits = _train(False, opt_name)
    bf16, bf16_logits = _train(True, opt_name)
    assert fp32_logits == vt.float32 and bf16_logits == vt.bfloat16
    assert bf16[-1] < 0.7 * bf16[0]  # it learns
    assert abs(bf16[-1] - fp32[-1]) < 0.05 * fp32[0]


@pytest.mark.cuda
def test_bf16_training_on_cuda_matches_cpu_fp32():
    vt.manual_seed(0)
    model = vt.nn.Sequential(vt.nn.Linear(8, 32), vt.nn.GELU(), vt.nn.LayerNorm(32), vt.nn.Linear(32, 4)).cuda()
    opt = vt.optim.AdamW(model.parameters(), lr=1e-2)
    gen = np.random.default_rng(0)
    x = vt.tensor(gen.normal(size=(64, 8)), dtype=vt.float32).cuda()
    y = vt.tensor(gen.integers(0, 4, size=64)).cuda()
    first = None
    for _ in range(30):
        opt.zero_grad()
        with vt.autocast("cuda", dtype=vt.bfloat16):
            h = model[0](x)
            assert h.dtype == vt.bfloat16
            loss = F.cross_entropy(model[1:](h), y)
            assert loss.dtype == vt.float32
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert all(p.grad.dtype == vt.float32 for p in model.parameters())
    assert loss.item() < 0.7 * first


# ---- custom autograd Functions in regions ---------------------------------------------------------------------------

def _function_class(lib, cast_inputs):
    class MM(lib.autograd.Function):
        @staticmethod
        @lib.amp.custom_fwd(device_type="cpu", cast_inputs=cast_inputs)
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a.mm(b)

        @staticmethod
        @lib.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            ctx.backward_autocast = lib.is_autocast_enabled("cpu")
            return g.mm(b.t()), a.t().mm(g)
    return MM


@needs_torch
@pytest.mark.parametrize("cast_inputs", [None, "float32"])
def test_custom_fwd_and_bwd_match_torch(cast_inputs):
    gen = rng()
    a0, b0 = gen.normal(size=(3, 4)), gen.normal(size=(4, 2))
    seen = {}
    for lib in (vt, torch):
        a = lib.tensor(a0, dtype=lib.bfloat16, requires_grad=True)
        b = lib.tensor(b0, dtype=lib.float32, requires_grad=True)
        cls = _function_class(lib, cast_inputs and getattr(lib, cast_inputs))
        with lib.autocast("cpu"):
            out = cls.apply(a, b)
        out.float().sum().backward()
        seen[lib] = [str(t.dtype).split(".")[1] for t in (out, a.grad, b.grad)]
        seen[lib].append(out.grad_fn.backward_autocast if lib is torch else _ctx_flag(out))
    assert seen[vt] == seen[torch]


def _ctx_flag(out):
    return out.grad_fn.ctx.backward_autocast


@pytest.mark.parametrize("module", ["vibetensor.amp.autocast_mode", "vibetensor.amp.grad_scaler", "vibetensor.torch.amp"])
def test_docstring_examples_run(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
