"""The CPU's fused Adam/AdamW step (csrc/cpu/adam.cpp, taken by vt.optim for contiguous floating CPU
parameters): against the per-parameter path (foreach=False) and torch, for every option; what it refuses."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import rng, torch

CONFIGS = [dict(lr=0.01), dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.3), dict(lr=0.01, weight_decay=0.1,
           amsgrad=True), dict(lr=0.01, maximize=True, weight_decay=0.05), dict(lr=0.003, eps=1e-6, amsgrad=True)]


def _run(lib, cls, kw, arrays, grads, dtype):
    params = [lib.nn.Parameter(lib.tensor(a).to(dtype)) for a in arrays]
    opt = getattr(lib.optim, cls)(params, **kw)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = lib.tensor(g).to(dtype)
        opt.step()
    return [p.detach().to(lib.float64).numpy() for p in params], opt


def _data(steps=8):
    gen = rng()
    arrays = [gen.normal(size=(37, 5)), gen.normal(size=(5,)), gen.normal(size=(1000,))]
    return arrays, [[gen.normal(size=a.shape) for a in arrays] for _ in range(steps)]


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
@pytest.mark.parametrize("kw", CONFIGS)
def test_float32_matches_the_per_parameter_path_and_torch(cls, kw):
    arrays, grads = _data()
    fused, opt = _run(vt, cls, kw, arrays, grads, vt.float32)
    assert all(float(s["step"].item()) == len(grads) for s in opt.state.values())
    per_param, _ = _run(vt, cls, dict(kw, foreach=False), arrays, grads, vt.float32)
    for a, b in zip(fused, per_param):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)  # a few float32 ulps of O(1) values
    if torch is not None:
        ref, _ = _run(torch, cls, kw, arrays, grads, torch.float32)
        for a, b in zip(fused, ref):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)  # a few float32 ulps of O(1) values


@pytest.mark.parametrize("dtype", [vt.bfloat16, vt.float16])
def test_half_parameters_compute_in_float(dtype):
    """States stay in the parameter's dtype and the update is computed in float32, rounded once: against the
    float64 run (the half-precision per-parameter path can divide by an eps that float16 rounds to 0)."""
    arrays, grads = _data(4)
    arrays = [vt.tensor(a).to(dtype).to(vt.float64).numpy() for a in arrays]  # representable starting values
    fused, opt = _run(vt, "AdamW", dict(lr=0.01, weight_decay=0.1), arrays, grads, dtype)
    ref, _ = _run(vt, "AdamW", dict(lr=0.01, weight_decay=0.1), arrays, grads, vt.float64)
    assert all(s["exp_avg"].dtype == dtype for s in opt.state.values())
    for a, b in zip(fused, ref):
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=2e-2, atol=2e-2)


def test_step_counts_continue_after_load_state_dict():
    arrays, grads = _data(6)
    straight, _ = _run(vt, "AdamW", dict(lr=0.01), arrays, grads, vt.float32)
    params = [vt.nn.Parameter(vt.tensor(a).float()) for a in arrays]
    opt = vt.optim.AdamW(params, lr=0.01)
    for gs in grads[:3]:
        for p, g in zip(params, gs):
            p.grad = vt.tensor(g).float()
        opt.step()
    again = vt.optim.AdamW(params, lr=0.01)
    again.load_state_dict(opt.state_dict())
    for gs in grads[3:]:
        for p, g in zip(params, gs):
            p.grad = vt.tensor(g).float()
        again.step()
    for a, b in zip(straight, [p.detach().to(vt.float64).numpy() for p in params]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_a_non_contiguous_parameter_takes_the_per_parameter_path():
    base = vt.randn(6, 4)
    p = vt.nn.Parameter(base.t())  # a transposed view: not contiguous
    p.grad = vt.randn(4, 6)
    assert not vt.optim.fused.cpu_fusable(vt.optim.AdamW([p]).param_groups[0], p)
    before = p.detach().clone()
    vt.optim.AdamW([p], lr=0.1).step()
    assert not np.allclose(p.detach().numpy(), before.numpy())


def test_bad_tensors_raise_before_anything_moves():
    p, g, m, v, step = vt.randn(3, 2), vt.randn(3, 2), vt.zeros(3, 2), vt.zeros(3, 2), vt.zeros([])
    q = vt.randn(4)
    before = p.clone()
    args = (0.1, 0.9, 0.999, 1e-8, 0.0, True, False, False)
    with pytest.raises(ValueError, match="must have its shape"):
        vt._C._cpu_adam_step([p, q], [g, vt.randn(5)], [m, vt.zeros(4)], [v, vt.zeros(4)], [], [step, vt.zeros([])],
                             *args)
    assert np.array_equal(p.numpy(), before.numpy()) and step.item() == 0  # the first tensor did not move
    with pytest.raises(TypeError, match="must have its dtype"):
        vt._C._cpu_adam_step([p], [g.double()], [m], [v], [], [step], *args)
    with pytest.raises(ValueError, match="one gradient, state and step per parameter"):
        vt._C._cpu_adam_step([p], [g], [m], [v], [], [], *args)
    with pytest.raises(ValueError, match="step count must be a one-element float32"):
        vt._C._cpu_adam_step([p], [g], [m], [v], [], [vt.zeros([], dtype=vt.float64)], *args)


def test_a_state_of_another_layout_takes_the_per_parameter_path():
    """A loaded state whose step count is float64 (or whose moments have another dtype) is not what the native
    step reads: that parameter takes the per-parameter path, with the same result."""
    arrays, grads = _data(3)
    ref, _ = _run(vt, "AdamW", dict(lr=0.01), arrays, grads, vt.float32)
    params = [vt.nn.Parameter(vt.tensor(a).float()) for a in arrays]
    opt = vt.optim.AdamW(params, lr=0.01)
    for p in params:
        opt.state[p] = {"step": vt.zeros([], dtype=vt.float64), "exp_avg": vt.zeros(p.shape),
                        "exp_avg_sq": vt.zeros(p.shape, dtype=vt.float64)}
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = vt.tensor(g).float()
        opt.step()
    for a, b in zip(ref, [p.detach().to(vt.float64).numpy() for p in params]):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)
