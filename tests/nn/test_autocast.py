"""vt.autocast regions: nesting, the decorator, threads, the weight-cast cache, backward dtypes, custom
Functions, and bf16 training with float32 master weights against float32 training."""
import threading
import warnings

import numpy as np
import pytest

import vibetensor as vt
import vibetensor.nn.functional as F
from helpers import rng, torch
from vibetensor.amp import autocast_mode

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")
HAS_CUDA = vt.cuda.is_available()


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
def test_bf16_training_on_cuda():
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

def _function_class(lib, cast_inputs, seen):
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
            seen.append(lib.is_autocast_enabled("cpu"))  # custom_bwd: the state the forward ran under
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
        seen[lib] = []
        cls = _function_class(lib, cast_inputs and getattr(lib, cast_inputs), seen[lib])
        with lib.autocast("cpu"):
            out = cls.apply(a, b)
        out.float().sum().backward()
        seen[lib] += [str(t.dtype).split(".")[1] for t in (out, a.grad, b.grad)]
    assert seen[vt] == seen[torch]


@pytest.mark.parametrize("module", ["vibetensor.amp.autocast_mode", "vibetensor.amp.grad_scaler",
                                    "vibetensor.torch.amp"])
def test_docstring_examples_run(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
