"""Cross-entropy from logits through the CPU fused kernels (csrc/cpu/cross_entropy.cpp): nn.functional takes
them on CPU; loss, saved log-sum-exp and gradient match float64 (and torch) with ignored rows and label
smoothing; bad targets raise; the loss does not depend on the thread count."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import rng, torch
from norm_ce_reference import cross_entropy_backward, cross_entropy_forward

F = vt.nn.functional
TOL = {vt.float64: 1e-12, vt.float32: 2e-6, vt.bfloat16: 1e-2, vt.float16: 2e-3}


def _case(gen, rows, classes, dtype, ignore=-100):
    x = gen.standard_normal((rows, classes)) * 4
    t = gen.integers(0, classes, rows)
    t[gen.random(rows) < 0.25] = ignore
    X = vt.tensor(x).to(dtype)
    return X, X.to(vt.float64).numpy(), t


@pytest.mark.parametrize("dtype", [vt.float64, vt.float32, vt.bfloat16, vt.float16])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_loss_lse_and_gradient_match_float64(dtype, smoothing):
    gen = rng()
    for rows, classes in ((37, 40), (5, 1), (3, 1000), (64, 17)):
        X, x, t = _case(gen, rows, classes, dtype)
        X.requires_grad_()
        loss = F.cross_entropy(X, vt.tensor(t), label_smoothing=smoothing)
        assert type(loss.grad_fn).__name__ == "CrossEntropyLogitsBackward0"
        g = float(gen.uniform(0.5, 2))
        loss.backward(vt.tensor(g, dtype=dtype))
        want, lse = cross_entropy_forward(x, t, -100, smoothing)
        g = vt.tensor(g, dtype=dtype).to(vt.float64).item()
        assert abs(loss.to(vt.float64).item() - want) <= TOL[dtype] * max(1, abs(want))
        _, got_lse, count = vt.ops._cross_entropy_logits(X.detach(), vt.tensor(t), -100, smoothing)
        np.testing.assert_allclose(got_lse.to(vt.float64).numpy(), lse, rtol=TOL[dtype], atol=TOL[dtype])
        assert count.item() == (t != -100).sum()
        dx = cross_entropy_backward(g, x, t, -100, smoothing)
        err = np.abs(X.grad.to(vt.float64).numpy() - dx).max() / max(1e-3, np.abs(dx).max())
        assert err < TOL[dtype] * 4, (rows, classes, err)


def test_every_row_ignored_gives_nan_and_zero_gradient():
    x = vt.randn(4, 6, requires_grad=True)
    loss = F.cross_entropy(x, vt.tensor([-100] * 4))
    assert np.isnan(loss.item())
    loss.backward()
    assert not x.grad.numpy().any()
    assert np.isnan(F.cross_entropy(vt.randn(0, 6), vt.zeros(0, dtype=vt.int64)).item())


def test_bad_targets_raise():
    x = vt.randn(3, 5)
    with pytest.raises(IndexError, match="target 5 is out of bounds for 5 classes"):
        F.cross_entropy(x, vt.tensor([0, 5, 1]))
    with pytest.raises(IndexError, match="target -2 is out of bounds"):
        F.cross_entropy(x, vt.tensor([0, -2, 1]))
    with pytest.raises(ValueError, match="one target per row"):
        vt.ops._cross_entropy_logits(x, vt.tensor([0, 1]), -100, 0.0)
    with pytest.raises(TypeError, match="int64 class indices"):
        vt.ops._cross_entropy_logits(x, vt.tensor([0, 1, 2], dtype=vt.int32), -100, 0.0)
    loss, lse, count = vt.ops._cross_entropy_logits(x, vt.tensor([0, 1, 2]), -100, 0.0)
    with pytest.raises(ValueError, match="the forward's lse and count"):
        vt.ops._cross_entropy_logits_backward(vt.tensor(1.0), x, vt.tensor([0, 1, 2]), lse[:2], count, -100, 0.0)


def test_special_values_follow_torch_semantics():
    x = vt.tensor([[0.0, float("-inf"), 1.0], [float("nan"), 0.0, 0.0], [2.0, 1.0, 0.0]])
    per = [F.cross_entropy(x[i:i + 1], vt.tensor([t])).item() for i, t in enumerate([0, 1, 0])]
    want = [float(np.log(1 + np.e) - 0.0), float("nan"), float(np.log(np.exp(2) + np.e + 1) - 2)]
    np.testing.assert_allclose(per, want, rtol=1e-6)
    assert F.cross_entropy(x[:1], vt.tensor([1])).item() == float("inf")  # the target's logit is -inf


def test_loss_does_not_depend_on_threads():
    gen = rng()
    X, _, t = _case(gen, 3000, 33, vt.float32)
    threads = vt.get_num_threads()
    try:
        got = []
        for n in (1, 2, 3):
            vt.set_num_threads(n)
            got.append(F.cross_entropy(X, vt.tensor(t)).item())
        assert got[0] == got[1] == got[2]
    finally:
        vt.set_num_threads(threads)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_same_as_torch():
    gen = rng()
    X, x, t = _case(gen, 50, 30, vt.float32)
    X.requires_grad_()
    TX = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    loss = F.cross_entropy(X, vt.tensor(t), label_smoothing=0.05)
    tloss = torch.nn.functional.cross_entropy(TX, torch.tensor(t), label_smoothing=0.05)
    loss.backward()
    tloss.backward()
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-6)
    np.testing.assert_allclose(X.grad.numpy(), TX.grad.numpy(), rtol=1e-5, atol=1e-7)
