"""vt.amp.GradScaler against torch.amp.GradScaler: scale, unscale_, skipped steps on inf/NaN, update; and
float16 training on CPU with it."""
import math
import warnings

import numpy as np
import pytest

import vibetensor as vt
import vibetensor.nn.functional as F
from helpers import rng, torch

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def _run(lib, steps, init, coefs, clip=None):
    """SGD with momentum on loss = sum(p * c) through a scaler (growth every 2 clean steps); returns the scale
    before each update and the parameters after each step."""
    p = lib.nn.Parameter(lib.tensor(init, dtype=lib.float32))
    opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
    scaler = lib.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=2)
    scales, params = [], []
    for c in coefs[:steps]:
        opt.zero_grad()
        scaler.scale((p * lib.tensor(c, dtype=lib.float32)).sum()).backward()
        if clip is not None:
            scaler.unscale_(opt)
            lib.nn.utils.clip_grad_norm_([p], clip)
        scaler.step(opt)
        scales.append(scaler.get_scale())
        scaler.update()
        params.append(p.detach().numpy().copy())
    scales.append(scaler.get_scale())
    return scales, params


@needs_torch
@pytest.mark.parametrize("clip", [None, 0.5])
def test_matches_torch_with_inf_and_nan_steps(clip):
    gen = rng()
    init = gen.normal(size=5)
    coefs = [gen.normal(size=5) for _ in range(8)]
    coefs[2][1], coefs[5][3], coefs[6][0] = math.inf, math.nan, -math.inf
    ours, theirs = _run(vt, 8, init, coefs, clip), _run(torch, 8, init, coefs, clip)
    assert ours[0] == theirs[0]  # 1024, halved at the bad steps, doubled after two clean ones
    assert ours[0] != sorted(ours[0])
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_step_with_inf_gradients_is_skipped():
    p = vt.nn.Parameter(vt.ones(3))
    opt = vt.optim.AdamW([p], lr=0.1)
    scaler = vt.amp.GradScaler("cpu", init_scale=8.0)
    scaler.scale((p * vt.tensor([1.0, math.inf, 2.0])).sum()).backward()
    assert scaler.step(opt) is None
    scaler.update()
    assert p.tolist() == [1.0, 1.0, 1.0] and not opt.state  # AdamW never ran: no moments, no step count
    assert scaler.get_scale() == 4.0
    opt.zero_grad()
    scaler.scale((p * 2).sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert p.grad.tolist() == [2.0, 2.0, 2.0] and p.tolist() != [1.0, 1.0, 1.0]


def test_misuse_raises():
    p = vt.nn.Parameter(vt.ones(2))
    opt = vt.optim.SGD([p], lr=0.1)
    scaler = vt.amp.GradScaler("cpu")
    with pytest.raises(RuntimeError, match="scaler.scale"):
        scaler.step(opt)
    scaler.scale(p.sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="already been called since the last update"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="Closure"):
        scaler.step(opt, closure=lambda: None)
    scaler.update()
    q = vt.nn.Parameter(vt.ones(2, dtype=vt.float16))
    half_opt = vt.optim.SGD([q], lr=0.1)
    scaler.scale(q.float().sum()).backward()
    with pytest.raises(ValueError, match="FP16 gradients"):
        scaler.unscale_(half_opt)
    with pytest.raises(ValueError, match="growth factor"):
        vt.amp.GradScaler("cpu", growth_factor=0.5)


def test_update_with_new_scale_state_dict_and_disabled():
    p = vt.nn.Parameter(vt.ones(2))
    opt = vt.optim.SGD([p], lr=0.1)
    scaler = vt.amp.GradScaler("cpu", init_scale=16.0, growth_interval=7)
    scaler.scale(p.sum()).backward()
    scaler.step(opt)
    scaler.update(new_scale=3.0)
    assert scaler.get_scale() == 3.0
    state = scaler.state_dict()
    assert state == {"scale": 3.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 7,
                     "_growth_tracker": 0}
    other = vt.amp.GradScaler("cpu")
    other.load_state_dict(state)
    assert other.get_scale() == 3.0 and other.get_growth_interval() == 7
    off = vt.amp.GradScaler("cpu", enabled=False)
    loss = p.sum()
    assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {}
    if not vt.cuda.is_available():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert not vt.amp.GradScaler().is_enabled()
        assert "CUDA is not available" in str(w[0].message)


def test_float16_training_on_cpu():
    vt.manual_seed(0)
    model = vt.nn.Sequential(vt.nn.Linear(8, 32), vt.nn.GELU(), vt.nn.Linear(32, 4))
    opt = vt.optim.AdamW(model.parameters(), lr=1e-2)
    scaler = vt.amp.GradScaler("cpu", init_scale=2.0 ** 16)
    gen = np.random.default_rng(0)
    x = vt.tensor(gen.normal(size=(64, 8)), dtype=vt.float32)
    y = vt.tensor(gen.integers(0, 4, size=64))
    losses = []
    for _ in range(30):
        opt.zero_grad()
        with vt.autocast("cpu", dtype=vt.float16):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        assert logits.dtype == vt.float16 and loss.dtype == vt.float32
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert all(p.grad.dtype == vt.float32 for p in model.parameters())
    assert losses[-1] < 0.7 * losses[0]
