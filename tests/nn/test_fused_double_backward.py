"""Double backward through the fused ops (LayerNorm, RMSNorm, cross-entropy, attention): their backward ops
have no derivatives, so under create_graph the derivative rows recompute the statistics with core ops and
take the composite backward (autograd/derivatives/fused.py). Checked by gradgradcheck on the CPU's fused
path (which nn.functional takes) and, where torch is installed, against torch's second derivatives."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import rng, torch

F = vt.nn.functional


def _f64(gen, *shape):
    return vt.tensor(gen.standard_normal(shape), dtype=vt.float64, requires_grad=True)


def _takes_fused(y, name):
    assert type(y.grad_fn).__name__ == name


def test_layer_norm_and_rms_norm():
    gen = rng()
    x, w, b = _f64(gen, 3, 5), _f64(gen, 5), _f64(gen, 5)
    _takes_fused(F.layer_norm(x, (5,), w, b), "NativeLayerNormBackward0")
    assert vt.autograd.gradgradcheck(lambda x, w, b: F.layer_norm(x, (5,), w, b) ** 2, (x, w, b))
    assert vt.autograd.gradgradcheck(lambda x: F.layer_norm(x, (5,)) ** 3, (x,))
    _takes_fused(F.rms_norm(x, (5,), w, 1e-5), "FusedRmsNormBackward0")
    assert vt.autograd.gradgradcheck(lambda x, w: F.rms_norm(x, (5,), w, 1e-5) ** 2, (x, w))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy(smoothing):
    gen = rng()
    x = _f64(gen, 4, 6)
    t = vt.tensor([1, -100, 5, 0])
    _takes_fused(F.cross_entropy(x, t, label_smoothing=smoothing), "CrossEntropyLogitsBackward0")
    assert vt.autograd.gradgradcheck(lambda x: F.cross_entropy(x, t, label_smoothing=smoothing), (x,))


@pytest.mark.parametrize("causal", [False, True])
def test_attention_with_gqa(causal):
    gen = rng()
    q, k, v = _f64(gen, 1, 4, 3, 2), _f64(gen, 1, 2, 5, 2), _f64(gen, 1, 2, 5, 2)

    def sdpa(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True) ** 2
    _takes_fused(F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True), "FusedAttentionBackward0")
    assert vt.autograd.gradgradcheck(sdpa, (q, k, v))


def test_first_backward_without_create_graph_keeps_the_fused_op():
    """The recomputation is only for create_graph: a plain backward's gradient has no history."""
    x = vt.randn(4, 6, requires_grad=True)
    g, = vt.autograd.grad(F.layer_norm(x, (6,)).pow(2).sum(), x)
    assert g.grad_fn is None and not g.requires_grad


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_gradient_penalty_same_as_torch():
    """A gradient penalty (the norm of d loss / d x, backpropagated) through LayerNorm and cross-entropy (not
    attention: torch's CPU SDPA has no double backward, "derivative for
    aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented"; ours has, gradgradchecked
    above)."""
    gen = rng()
    arrays = [gen.standard_normal(s) for s in [(2, 4, 8), (8,), (8,), (16, 8)]]
    xs = [vt.tensor(a, dtype=vt.float64, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]

    def penalty(lib, x, w, b, proj):
        h = lib.nn.functional.layer_norm(x, (8,), w, b).reshape(8, 8)
        loss = lib.nn.functional.cross_entropy(h.tanh() @ proj.t(), lib.tensor([0, 3, 5, 7, 1, 2, 9, 4]))
        gx, = (vt.autograd if lib is vt else torch.autograd).grad(loss, x, create_graph=True)
        return (gx * gx).sum()
    penalty(vt, *xs).backward()
    penalty(torch, *ts).backward()
    for a, t in zip(xs, ts):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)
