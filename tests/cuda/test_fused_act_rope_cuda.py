"""Fused bias-GELU / bias-SiLU, the activation gradients, rotary embedding and embedding's backward on the
GPU (vt.nn.functional's CUDA path: csrc/cuda/fused_act.cpp, rotary.cpp, embedding_backward.cpp) against
the float64 references (tests/fused_act_reference.py), torch's equivalents on the same GPU, the CPU
composites, and through autograd; bad input raises."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import random_array, rng, torch
import fused_act_reference as ref

pytestmark = pytest.mark.cuda
F = vt.nn.functional
TOL = {vt.float32: (1e-5, 1e-5), vt.float64: (1e-10, 1e-12), vt.float16: (2e-3, 2e-3), vt.bfloat16: (1.6e-2, 1.6e-2)}
DTYPES = [vt.float32, vt.float64, vt.float16, vt.bfloat16]
BIAS_ACTS = {"gelu": lambda x, b: F.bias_gelu(x, b), "gelu_tanh": lambda x, b: F.bias_gelu(x, b, approximate="tanh"),
             "silu": F.bias_silu}
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")


def _np(t):
    return t.detach().cpu().to(vt.float64).numpy()


def _cuda(a, dtype, grad=False):
    t = vt.tensor(np.asarray(a)).to(dtype).cuda()
    return t.requires_grad_(True) if grad else t


def _torch(a, dtype):
    return torch.tensor(np.asarray(a, np.float32)).to(getattr(torch, dtype.name)).cuda()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", sorted(BIAS_ACTS))
@pytest.mark.parametrize("shape", [(3, 5, 100), (1000, 768), (64, 5000), (7, 3)])
def test_bias_act_matches_float64(dtype, act, shape):
    gen = rng()
    n = shape[-1]
    x, b, dy = random_array(shape, dtype, gen), random_array((n,), dtype, gen), random_array(shape, dtype, gen)
    xt, bt = _cuda(x, dtype, True), _cuda(b, dtype, True)
    y = BIAS_ACTS[act](xt, bt)
    rtol, atol = TOL[dtype]
    assert y.dtype == dtype and y.device == xt.device
    np.testing.assert_allclose(_np(y), ref.bias_act_forward(act, x, b), rtol=rtol, atol=atol)
    dx, db = vt.autograd.grad(y, [xt, bt], _cuda(dy, dtype))
    edx, edb = ref.bias_act_backward(act, dy, x, b)
    np.testing.assert_allclose(_np(dx), edx, rtol=rtol, atol=4 * atol)
    rows = x.size // n  # the bias gradient sums `rows` values rounded to the dtype
    np.testing.assert_allclose(_np(db), edb, rtol=rtol, atol=atol * max(8, 4 * np.sqrt(rows)))


def test_bias_act_without_bias_gradient_and_empty_rows():
    x = vt.randn(16, 300).cuda().requires_grad_(True)
    b = vt.randn(300).cuda()
    (dx,) = vt.autograd.grad(F.bias_silu(x, b).sum(), [x])
    np.testing.assert_allclose(_np(dx), ref.act_grad("silu", _np(x) + _np(b)), rtol=1e-5, atol=1e-6)
    e = vt.randn(0, 300).cuda().requires_grad_(True)
    bg = vt.randn(300).cuda().requires_grad_(True)
    gx, gb = vt.autograd.grad(F.bias_gelu(e, bg).sum(), [e, bg])
    assert tuple(gx.shape) == (0, 300) and not _np(gb).any()


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_plain_gelu_and_silu_gradients_on_gpu(dtype, approximate):
    gen = rng()
    x, dy = random_array((33, 70), dtype, gen), random_array((33, 70), dtype, gen)
    xt = _cuda(x, dtype, True)
    name = "gelu" if approximate == "none" else "gelu_tanh"
    (g,) = vt.autograd.grad(F.gelu(xt, approximate), [xt], _cuda(dy, dtype))
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(_np(g), dy * ref.act_grad(name, x), rtol=rtol, atol=4 * atol)
    (g,) = vt.autograd.grad(F.silu(xt), [xt], _cuda(dy, dtype))
    np.testing.assert_allclose(_np(g), dy * ref.act_grad("silu", x), rtol=rtol, atol=4 * atol)


@needs_torch
@pytest.mark.parametrize("act", sorted(BIAS_ACTS))
def test_bias_act_matches_torch_on_the_gpu(act):
    gen = rng()
    x, b = random_array((256, 3072), vt.bfloat16, gen), random_array((3072,), vt.bfloat16, gen)
    tx, tb = _torch(x, vt.bfloat16).requires_grad_(True), _torch(b, vt.bfloat16).requires_grad_(True)
    tf = {"gelu": torch.nn.functional.gelu, "silu": torch.nn.functional.silu,
          "gelu_tanh": lambda z: torch.nn.functional.gelu(z, approximate="tanh")}[act]
    ty = tf(tx + tb)
    ty.float().square().sum().backward()
    xt, bt = _cuda(x, vt.bfloat16, True), _cuda(b, vt.bfloat16, True)
    y = BIAS_ACTS[act](xt, bt)
    dx, db = vt.autograd.grad(y.float().square().sum(), [xt, bt])
    # torch rounds x + b to bf16 before the activation, the fused kernel does not: a bf16 rounding apart
    np.testing.assert_allclose(_np(y), ty.detach().double().cpu().numpy(), rtol=2e-2, atol=2e-2)
    np.testing.assert_allclose(_np(dx), tx.grad.double().cpu().numpy(), rtol=5e-2, atol=5e-2)
    np.testing.assert_allclose(_np(db), tb.grad.double().cpu().numpy(), rtol=5e-2, atol=0.5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("seq_dim,shape,half", [(1, (2, 33, 12, 64), 32), (2, (3, 4, 17, 128), 32),
                                                (1, (1, 5, 3, 10), 4)])
def test_rotary_matches_float64_and_backward_is_the_inverse(dtype, interleaved, seq_dim, shape, half):
    gen = rng()
    x, dy = random_array(shape, dtype, gen), random_array(shape, dtype, gen)
    cos, sin = ref.rotary_tables(shape[seq_dim] + 3, half)
    xt = _cuda(x, dtype, True)
    tdtype = vt.float64 if dtype == vt.float64 else vt.float32  # fp32 tables would cap float64's accuracy
    c, s = vt.tensor(cos).to(tdtype).cuda(), vt.tensor(sin).to(tdtype).cuda()
    y = F.apply_rotary_emb(xt, c, s, interleaved, seq_dim)
    rtol, atol = TOL[dtype]
    assert y.dtype == dtype and y.is_contiguous()
    np.testing.assert_allclose(_np(y), ref.rotary(x, cos, sin, seq_dim, interleaved), rtol=rtol, atol=2 * atol)
    (g,) = vt.autograd.grad(y, [xt], _cuda(dy, dtype))
    np.testing.assert_allclose(_np(g), ref.rotary(dy, cos, sin, seq_dim, interleaved, inverse=True), rtol=rtol,
                               atol=2 * atol)


def test_rotary_of_q_and_k_views_of_one_qkv_projection():
    gen = rng()
    qkv = random_array((2, 9, 3 * 4 * 16), vt.float32, gen)  # [B, T, 3 * H * D]
    cos, sin = ref.rotary_tables(9, 8)
    t = vt.tensor(qkv).cuda().reshape(2, 9, 3, 4, 16)
    q, k = t.select(2, 0), t.select(2, 1)
    assert not q.is_contiguous()
    c, s = vt.tensor(cos).float().cuda(), vt.tensor(sin).float().cuda()
    for view, part in ((q, 0), (k, 1)):
        want = ref.rotary(qkv.reshape(2, 9, 3, 4, 16)[:, :, part], cos, sin)
        np.testing.assert_allclose(_np(F.apply_rotary_emb(view, c, s)), want, rtol=1e-5, atol=1e-5)
    qt = q.transpose(1, 2)  # [B, H, T, D] with seq_dim 2
    np.testing.assert_allclose(_np(F.apply_rotary_emb(qt, c, s, seq_dim=2)),
                               ref.rotary(qkv.reshape(2, 9, 3, 4, 16)[:, :, 0], cos, sin).transpose(0, 2, 1, 3),
                               rtol=1e-5, atol=1e-5)


@needs_torch
def test_rotary_matches_torch_two_mul_add():
    gen = rng()
    b, t, h, d = 2, 64, 4, 64
    x = random_array((b, t, h, d), vt.bfloat16, gen)
    cos, sin = (a.astype(np.float32) for a in ref.rotary_tables(t, d // 2))
    tx = _torch(x, vt.bfloat16).float()
    tc = torch.tensor(cos).cuda().repeat(1, 2)[None, :, None]
    ts = torch.tensor(sin).cuda().repeat(1, 2)[None, :, None]
    want = (tx * tc + torch.cat([-tx[..., d // 2:], tx[..., :d // 2]], -1) * ts).bfloat16()
    got = F.apply_rotary_emb(_cuda(x, vt.bfloat16), vt.tensor(cos).cuda(), vt.tensor(sin).cuda())
    np.testing.assert_allclose(_np(got), want.double().cpu().numpy(), rtol=1.6e-2, atol=1.6e-2)


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.float64])
@pytest.mark.parametrize("itype", [vt.int64, vt.int32])
@pytest.mark.parametrize("padding_idx", [None, 3])
def test_embedding_backward_matches_float64(dtype, itype, padding_idx):
    gen = rng()
    v, d = 50, 200
    idx = gen.integers(0, v, size=(8, 100))
    idx[0, :] = 7  # a run over several 32-row chunks
    idx[1, ::2] = 3
    w = _cuda(random_array((v, d), dtype, gen), dtype, True)
    dy = random_array((8, 100, d), dtype, gen)
    out = F.embedding(vt.tensor(idx).to(itype).cuda(), w, padding_idx=padding_idx)
    (g,) = vt.autograd.grad(out, [w], _cuda(dy, dtype))
    want = ref.embedding_backward(dy, idx, v, -1 if padding_idx is None else padding_idx)
    tol = {vt.float32: 1e-5, vt.float64: 1e-12, vt.bfloat16: 1.6e-2}[dtype]
    np.testing.assert_allclose(_np(g), want, rtol=tol, atol=tol * 8)
    if padding_idx is not None:
        assert not _np(g)[padding_idx].any()


def test_embedding_backward_is_deterministic_and_handles_one_hot_index():
    gen = rng()
    v, d = 1000, 768
    idx = gen.integers(0, 8, size=8192)  # few distinct indices: long runs, many chunks each
    idx[:4096] = 5
    dy = _cuda(random_array((8192, d), vt.bfloat16, gen), vt.bfloat16)
    it = vt.tensor(idx).cuda()
    first = vt.ops.embedding_dense_backward(dy, it, v, -1)
    for _ in range(3):
        assert np.array_equal(_np(vt.ops.embedding_dense_backward(dy, it, v, -1)), _np(first))
    np.testing.assert_allclose(_np(first), ref.embedding_backward(_np(dy), idx, v), rtol=1.6e-2, atol=0.1)


@needs_torch
def test_embedding_backward_matches_torch():
    gen = rng()
    idx = gen.integers(0, 5000, size=(4, 256))
    w = random_array((5000, 96), vt.float32, gen)
    tw = torch.tensor(w.astype(np.float32)).cuda().requires_grad_(True)
    torch.nn.functional.embedding(torch.tensor(idx).cuda(), tw, padding_idx=0).square().sum().backward()
    vw = _cuda(w, vt.float32, True)
    (g,) = vt.autograd.grad(F.embedding(vt.tensor(idx).cuda(), vw, padding_idx=0).square().sum(), [vw])
    np.testing.assert_allclose(_np(g), tw.grad.double().cpu().numpy(), rtol=1e-5, atol=1e-5)


def test_fused_ops_match_their_cpu_composites():
    gen = rng()
    x, b = random_array((6, 40), vt.float32, gen), random_array((40,), vt.float32, gen)
    for act in ("gelu", "gelu_tanh", "silu"):
        cpu = vt.ops._bias_act(vt.tensor(x).float(), vt.tensor(b).float(), act)
        np.testing.assert_allclose(_np(vt.ops._bias_act(_cuda(x, vt.float32), _cuda(b, vt.float32), act)), _np(cpu),
                                   rtol=1e-5, atol=1e-6)
    q = random_array((2, 3, 4, 8), vt.float32, gen)
    cos, sin = ref.rotary_tables(3, 3)
    args = (vt.tensor(cos).float(), vt.tensor(sin).float())
    cpu = vt.ops._rotary_emb(vt.tensor(q).float(), *args, 1, True, True)
    gpu = vt.ops._rotary_emb(_cuda(q, vt.float32), *(a.cuda() for a in args), 1, True, True)
    np.testing.assert_allclose(_np(gpu), _np(cpu), rtol=1e-5, atol=1e-6)


def test_bad_input_raises_clear_errors():
    x, b = vt.randn(4, 8).cuda(), vt.randn(8).cuda()
    with pytest.raises(ValueError, match="bias must be 1-D"):
        vt.ops._bias_act(x, vt.randn(7).cuda(), "gelu")
    with pytest.raises(TypeError, match="dtype and device"):
        vt.ops._bias_act(x, b.double(), "gelu")
    with pytest.raises(ValueError, match="activation must be"):
        vt.ops._bias_act(x, b, "relu")
    with pytest.raises(ValueError, match="grad_out must match"):
        vt.ops._bias_act_backward(vt.randn(3, 8).cuda(), x, b, "silu", True)
    q, c = vt.randn(1, 4, 2, 8).cuda(), vt.randn(4, 4).cuda()
    with pytest.raises(ValueError, match="positions"):
        vt.ops._rotary_emb(q, c[:3], c[:3], 1, False, False)
    with pytest.raises(ValueError, match="frequencies"):
        vt.ops._rotary_emb(q, vt.randn(4, 5).cuda(), vt.randn(4, 5).cuda(), 1, False, False)
    with pytest.raises(ValueError, match="seq_dim"):
        vt.ops._rotary_emb(q, c, c, 3, False, False)
    with pytest.raises(ValueError, match="device"):
        vt.ops._rotary_emb(q, c.cpu(), c.cpu(), 1, False, False)
    with pytest.raises(ValueError, match="indices.shape"):
        vt.ops.embedding_dense_backward(vt.randn(3, 4).cuda(), vt.zeros(2, dtype=vt.int64).cuda(), 5, -1)
    with pytest.raises(TypeError, match="int64 or int32"):
        vt.ops.embedding_dense_backward(vt.randn(2, 4).cuda(), vt.zeros(2).cuda(), 5, -1)
