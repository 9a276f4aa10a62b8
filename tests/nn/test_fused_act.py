"""bias_gelu / bias_silu, apply_rotary_emb, the activation gradients and embedding's backward through
vt.nn.functional on CPU (the ops' Composite kernels and their derivative rows) against the float64
references (tests/fused_act_reference.py) and torch; gradchecks, double backward and bad input."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import random_array, rng, torch
import fused_act_reference as ref

F = vt.nn.functional
TOL = {vt.float32: (1e-5, 1e-6), vt.float64: (1e-12, 1e-13), vt.bfloat16: (1.6e-2, 1e-2)}
ACTS = {"gelu": lambda x, b: F.bias_gelu(x, b), "gelu_tanh": lambda x, b: F.bias_gelu(x, b, approximate="tanh"),
        "silu": F.bias_silu}


def _np(t):
    return t.detach().to(vt.float64).numpy()


def _leaf(a, dtype=vt.float64):
    return vt.tensor(a).to(dtype).requires_grad_(True)


@pytest.mark.parametrize("dtype", [vt.float32, vt.float64, vt.bfloat16])
@pytest.mark.parametrize("act", sorted(ACTS))
def test_bias_act_forward_and_backward_match_float64(dtype, act):
    gen = rng()
    x, b, dy = random_array((2, 3, 7), dtype, gen), random_array((7,), dtype, gen), random_array((2, 3, 7), dtype, gen)
    xt, bt = _leaf(x, dtype), _leaf(b, dtype)
    y = ACTS[act](xt, bt)
    rtol, atol = TOL[dtype]
    assert y.dtype == dtype and tuple(y.shape) == (2, 3, 7)
    np.testing.assert_allclose(_np(y), ref.bias_act_forward(act, x, b), rtol=rtol, atol=atol)
    dx, db = vt.autograd.grad(y, [xt, bt], vt.tensor(dy).to(dtype))
    edx, edb = ref.bias_act_backward(act, dy, x, b)
    np.testing.assert_allclose(_np(dx), edx, rtol=rtol, atol=4 * atol)
    np.testing.assert_allclose(_np(db), edb, rtol=rtol, atol=8 * atol)


@pytest.mark.parametrize("act", sorted(ACTS))
def test_bias_act_gradcheck_and_double_backward(act):
    gen = rng()
    x, b = _leaf(gen.normal(size=(3, 4)) * 2), _leaf(gen.normal(size=4))
    assert vt.autograd.gradcheck(ACTS[act], (x, b))
    assert vt.autograd.gradgradcheck(ACTS[act], (x, b))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_and_silu_backward_are_one_op_with_double_backward(approximate):
    x = _leaf(rng().normal(size=(2, 5)) * 3)
    assert vt.autograd.gradgradcheck(lambda t: F.gelu(t, approximate) + F.silu(t), (x,))
    g = vt.autograd.grad(F.gelu(x, approximate).sum(), [x])[0]
    np.testing.assert_allclose(_np(g), ref.act_grad("gelu" if approximate == "none" else "gelu_tanh", _np(x)),
                               rtol=1e-12)


def test_bias_act_mixed_dtypes_promote_and_bad_input_raises():
    x = vt.randn(2, 4)
    y = F.bias_gelu(x, vt.randn(4, dtype=vt.float64))
    assert y.dtype == vt.float64
    with pytest.raises(ValueError, match="bias must be 1-D with the input's last dim"):
        F.bias_silu(x, vt.randn(3))
    with pytest.raises(ValueError, match="approximate must be"):
        F.bias_gelu(x, vt.randn(4), approximate="erf")
    with pytest.raises(TypeError, match="floating point input"):
        F.bias_gelu(vt.ones(2, 4, dtype=vt.int64), vt.randn(4))
    with pytest.raises(ValueError, match="activation must be"):
        vt.ops._bias_act(x, vt.randn(4), "relu")


@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("seq_dim", [1, 2, -2])
def test_rotary_matches_float64_and_its_gradient_is_the_inverse_rotation(interleaved, seq_dim):
    gen = rng()
    shape = (2, 5, 3, 8) if seq_dim == 1 else (2, 3, 5, 8)
    x, dy = gen.normal(size=shape), gen.normal(size=shape)
    cos, sin = ref.rotary_tables(6, 4)
    xt = _leaf(x)
    y = F.apply_rotary_emb(xt, vt.tensor(cos), vt.tensor(sin), interleaved=interleaved, seq_dim=seq_dim)
    sd = seq_dim % 4
    np.testing.assert_allclose(_np(y), ref.rotary(x, cos, sin, sd, interleaved), rtol=1e-12, atol=1e-12)
    (g,) = vt.autograd.grad(y, [xt], vt.tensor(dy))
    np.testing.assert_allclose(_np(g), ref.rotary(dy, cos, sin, sd, interleaved, inverse=True), rtol=1e-12,
                               atol=1e-12)


def test_rotary_bf16_partial_and_learned_tables():
    gen = rng()
    x = random_array((1, 4, 2, 10), vt.bfloat16, gen)
    cos, sin = ref.rotary_tables(4, 3)  # rotary dim 6 of 10
    y = F.apply_rotary_emb(vt.tensor(x).to(vt.bfloat16), vt.tensor(cos).float(), vt.tensor(sin).float())
    assert y.dtype == vt.bfloat16
    np.testing.assert_allclose(_np(y), ref.rotary(x, cos, sin), rtol=1.6e-2, atol=1e-2)
    # tables that want gradients take the differentiable path: gradcheck through x, cos and sin
    xt, ct, st = _leaf(gen.normal(size=(1, 3, 2, 6))), _leaf(cos[:3, :2]), _leaf(sin[:3, :2])
    assert vt.autograd.gradcheck(lambda a, c, s: F.apply_rotary_emb(a, c, s, interleaved=True), (xt, ct, st))
    with pytest.raises(RuntimeError, match="does not differentiate cos and sin"):
        vt.autograd.grad(vt.ops._rotary_emb(xt, ct, st, 1, False, False).sum(), [xt])


def test_rotary_bad_input_raises():
    x, c = vt.randn(1, 4, 2, 8), vt.randn(4, 4)
    with pytest.raises(ValueError, match="4-D"):
        F.apply_rotary_emb(x[0], c, c)
    with pytest.raises(ValueError, match="seq_dim"):
        F.apply_rotary_emb(x, c, c, seq_dim=3)
    with pytest.raises(ValueError, match="have 3 positions, the input 4"):
        F.apply_rotary_emb(x, vt.randn(3, 4), vt.randn(3, 4))
    with pytest.raises(ValueError, match=r"1 to head_dim / 2 \(4\) frequencies, got 5"):
        F.apply_rotary_emb(x, vt.randn(4, 5), vt.randn(4, 5))
    with pytest.raises(ValueError, match="cos and sin must both be"):
        F.apply_rotary_emb(x, c, vt.randn(4, 3))
    with pytest.raises(TypeError, match="share one floating point dtype"):
        F.apply_rotary_emb(x, c, c.double())


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_backward_matches_float64(padding_idx):
    gen = rng()
    idx = gen.integers(0, 6, size=(3, 5))
    idx[0, :3] = 2
    w = _leaf(gen.normal(size=(6, 4)))
    dy = gen.normal(size=(3, 5, 4))
    out = F.embedding(vt.tensor(idx), w, padding_idx=padding_idx)
    (g,) = vt.autograd.grad(out, [w], vt.tensor(dy))
    np.testing.assert_allclose(_np(g), ref.embedding_backward(dy, idx, 6, -1 if padding_idx is None else 2),
                               rtol=1e-12, atol=1e-12)


def test_embedding_dense_backward_bad_input_raises():
    with pytest.raises(ValueError, match="indices.shape"):
        vt.ops.embedding_dense_backward(vt.randn(3, 4), vt.zeros(2, dtype=vt.int64), 5, -1)


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_same_calls_in_torch():
    gen = rng()
    x, b = gen.normal(size=(4, 6)).astype(np.float32), gen.normal(size=6).astype(np.float32)
    tx, tb = torch.tensor(x, requires_grad=True), torch.tensor(b, requires_grad=True)
    torch.nn.functional.gelu(tx + tb, approximate="tanh").sum().backward()
    vx, vb = _leaf(x, vt.float32), _leaf(b, vt.float32)
    gx, gb = vt.autograd.grad(F.bias_gelu(vx, vb, approximate="tanh").sum(), [vx, vb])
    np.testing.assert_allclose(gx.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gb.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-5)
    q = gen.normal(size=(2, 5, 3, 8)).astype(np.float32)
    cos, sin = (a.astype(np.float32) for a in ref.rotary_tables(5, 4))
    tq = torch.tensor(q)
    tc, ts = (torch.tensor(a).repeat(1, 2)[None, :, None] for a in (cos, sin))
    rot = torch.cat([-tq[..., 4:], tq[..., :4]], -1)  # rotate_half (GPT-NeoX, Llama)
    np.testing.assert_allclose(F.apply_rotary_emb(vt.tensor(q), vt.tensor(cos), vt.tensor(sin)).numpy(),
                               (tq * tc + rot * ts).numpy(), rtol=1e-5, atol=1e-6)
