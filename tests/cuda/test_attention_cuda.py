"""Fused attention on the GPU (scaled_dot_product_attention's CUDA path, csrc/cuda/attention.cpp) against the
float64 reference (tests/attention_reference.py), against torch's SDPA, through autograd, and on bad input."""
import os
import subprocess
import sys

import numpy as np
import pytest

import vibetensor as vt
from helpers import random_array, rng
import attention_reference as ref

pytestmark = pytest.mark.cuda
F = vt.nn.functional
TOL = {vt.float16: 3e-3, vt.bfloat16: 2.5e-2, vt.float32: 2e-5}  # relative to the largest reference value


def _np(t):
    return t.detach().cpu().to(vt.float64).numpy()


def _close(got, want, tol, what=""):
    np.testing.assert_allclose(_np(got), want, rtol=0, atol=tol * max(1.0, np.abs(want).max()), err_msg=what)


def _leaves(arrays, dtype, layout="bhtd"):
    """CUDA leaves holding `arrays` ([B, H, T, D]); "bthd": views of [B, T, H, D] memory (a transpose)."""
    if layout == "bthd":
        return [vt.tensor(a.transpose(0, 2, 1, 3)).to(dtype).cuda().transpose(1, 2).requires_grad_(True)
                for a in arrays]
    return [vt.tensor(a).to(dtype).cuda().requires_grad_(True) for a in arrays]


def _check(dtype, b, hq, hkv, lq, lk, d, causal, layout="bhtd", scale=None):
    gen = rng()
    arrays = [random_array(s, dtype, gen, low=-2, high=2) for s in
              [(b, hq, lq, d), (b, hkv, lk, d), (b, hkv, lk, d), (b, hq, lq, d)]]
    q, k, v = _leaves(arrays[:3], dtype, layout)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale, enable_gqa=hq != hkv)
    assert type(out.grad_fn).__name__ == "FusedAttentionBackward0", "the fused path was not taken"
    assert out.dtype == dtype and tuple(out.shape) == (b, hq, lq, d)
    assert out.transpose(1, 2).is_contiguous()  # [B, T, H, D] memory, as torch's flash kernels return
    _close(out, ref.forward(*arrays[:3], causal, scale)[0], TOL[dtype], "out")
    grads = vt.autograd.grad(out, [q, k, v], vt.tensor(arrays[3]).to(dtype).cuda())
    for name, got, want in zip("qkv", grads, ref.backward(arrays[3], *arrays[:3], causal, scale)):
        _close(got, want, 2 * TOL[dtype], "d" + name)


@pytest.mark.parametrize("dtype", [vt.bfloat16, vt.float16, vt.float32])
@pytest.mark.parametrize("d", [16, 32, 64, 128])
@pytest.mark.parametrize("causal", [False, True])
def test_matches_float64_over_head_dims(dtype, d, causal):
    _check(dtype, 2, 3, 3, 137, 137, d, causal)  # 137: ragged last blocks for every block size


@pytest.mark.parametrize("hq,hkv,lq,lk,causal", [
    (8, 2, 200, 200, True), (8, 1, 65, 300, False), (4, 2, 300, 65, True), (6, 3, 129, 257, True),
    (2, 2, 1, 77, False), (2, 2, 77, 1, True)])
def test_gqa_and_unequal_lengths(hq, hkv, lq, lk, causal):
    _check(vt.bfloat16, 2, hq, hkv, lq, lk, 128, causal)
    _check(vt.float16, 1, hq, hkv, lq, lk, 64, causal)


@pytest.mark.parametrize("d", [64, 128])
def test_strided_inputs_from_a_transpose_and_a_custom_scale(d):
    _check(vt.bfloat16, 2, 4, 4, 250, 250, d, True, layout="bthd", scale=0.2)
    _check(vt.float16, 2, 4, 2, 100, 180, d, False, layout="bthd", scale=0.05)


def test_misaligned_and_padded_views_are_read_correctly():
    """A row stride padded past D is used as is; a view starting off 16 bytes is copied first."""
    gen = rng()
    a = [random_array((1, 2, 70, 64), vt.bfloat16, gen, low=-2, high=2) for _ in range(3)]
    padded = [vt.zeros(1, 2, 70, 72, dtype=vt.bfloat16).cuda() for _ in range(3)]
    for p, x in zip(padded, a):
        p[..., :64].copy_(vt.tensor(x).to(vt.bfloat16).cuda())
    flat = [vt.zeros(1 + 2 * 70 * 64, dtype=vt.bfloat16).cuda() for _ in range(3)]
    shifted = [f[1:].view(1, 2, 70, 64) for f in flat]  # 2 bytes past an aligned start
    for s, x in zip(shifted, a):
        s.copy_(vt.tensor(x).to(vt.bfloat16).cuda())
    want = ref.forward(*a, True)[0]
    for q, k, v in ([p[..., :64] for p in padded], shifted):
        _close(vt.ops._fused_attention(q, k, v, True)[0], want, TOL[vt.bfloat16])


def test_lse_is_the_natural_log_sum_exp():
    gen = rng()
    a = [random_array((2, 3, 90, 32), vt.float16, gen, low=-2, high=2) for _ in range(3)]
    out, lse = vt.ops._fused_attention(*[vt.tensor(x).to(vt.float16).cuda() for x in a], True, 0.3)
    assert lse.dtype == vt.float32 and tuple(lse.shape) == (2, 3, 90)
    np.testing.assert_allclose(_np(lse), ref.forward(*a, True, 0.3)[1], rtol=1e-5, atol=1e-5)


def test_heads_times_batch_past_one_launch():
    """B * H = 70400 rows of programs: more than CUDA's 65535 grid rows, so several launches."""
    gen = rng()
    a = [random_array((1100, 64, 3, 16), vt.float16, gen, low=-2, high=2) for _ in range(4)]
    q, k, v = _leaves(a[:3], vt.float16)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    _close(out, ref.forward(*a[:3], True)[0], TOL[vt.float16])
    grads = vt.autograd.grad(out, [q, k, v], vt.tensor(a[3]).to(vt.float16).cuda())
    for got, want in zip(grads, ref.backward(a[3], *a[:3], True)):
        _close(got, want, 2 * TOL[vt.float16])


def test_fused_ops_match_their_cpu_composites():
    gen = rng()
    a = [random_array(s, vt.bfloat16, gen, low=-2, high=2) for s in [(1, 4, 33, 16), (1, 2, 40, 16), (1, 2, 40, 16),
                                                                      (1, 4, 33, 16)]]
    on = {dev: [vt.tensor(x).to(vt.bfloat16).to(dev) for x in a] for dev in ("cpu", "cuda")}
    outs = {dev: vt.ops._fused_attention(*t[:3], True) for dev, t in on.items()}
    for got, want in zip(outs["cuda"], outs["cpu"]):
        np.testing.assert_allclose(_np(got), _np(want), rtol=0, atol=2e-2)
    grads = {dev: vt.ops._fused_attention_backward(t[3], *t[:3], *outs[dev], True, None) for dev, t in on.items()}
    for got, want in zip(grads["cuda"], grads["cpu"]):
        np.testing.assert_allclose(_np(got), _np(want), rtol=0, atol=5e-2 * max(1.0, np.abs(_np(want)).max()))


@pytest.mark.parametrize("shape,causal,gqa,dtype", [
    ((2, 8, 1024, 128), True, False, vt.bfloat16), ((2, 8, 1024, 64), False, False, vt.bfloat16),
    ((2, 8, 777, 128), True, True, vt.bfloat16), ((4, 8, 255, 64), True, False, vt.float32)])
def test_against_torch_sdpa(shape, causal, gqa, dtype):
    """Our error and torch's, both against torch's SDPA of the same values in float32 (float64 for float32
    inputs): ours no worse than twice torch's (same inputs, same GPU)."""
    torch = pytest.importorskip("torch")
    b, h, t, d = shape
    kv_shape = (b, h // 4 if gqa else h, t, d)
    host = [vt.randn(*s).to(dtype) for s in (shape, kv_shape, kv_shape, shape)]
    ours = [x.cuda().requires_grad_(True) for x in host[:3]]
    theirs = [torch.from_dlpack(x).cuda().requires_grad_(True) for x in host[:3]]
    wide = torch.float64 if dtype == vt.float32 else torch.float32
    exact = [torch.from_dlpack(x).cuda().to(wide).requires_grad_(True) for x in host[:3]]
    kw = dict(is_causal=causal, enable_gqa=gqa)
    yo = F.scaled_dot_product_attention(*ours, **kw)
    yt = torch.nn.functional.scaled_dot_product_attention(*theirs, **kw)
    ye = torch.nn.functional.scaled_dot_product_attention(*exact, **kw)
    go = vt.autograd.grad(yo, ours, host[3].cuda())
    gt = torch.autograd.grad(yt, theirs, torch.from_dlpack(host[3]).cuda())
    ge = torch.autograd.grad(ye, exact, torch.from_dlpack(host[3]).cuda().to(wide))
    for name, o, t_, e in zip(["out", "dq", "dk", "dv"], [yo, *go], [yt, *gt], [ye, *ge]):
        e = e.detach().double().cpu().numpy()
        err_ours = np.abs(_np(o) - e).max()
        err_torch = np.abs(t_.detach().double().cpu().numpy() - e).max()
        assert err_ours <= max(2 * err_torch, 2e-3 * np.abs(e).max()), f"{name}: ours {err_ours}, torch {err_torch}"


def test_output_changed_in_place_refuses_backward():
    q = vt.randn(1, 2, 16, 64).to(vt.bfloat16).cuda().requires_grad_(True)
    out = F.scaled_dot_product_attention(q, q, q)
    out.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        vt.autograd.grad(out.sum(), [q])


def test_no_keys_and_no_queries():
    q, k = vt.randn(1, 2, 5, 32).half().cuda(), vt.randn(1, 2, 0, 32).half().cuda()
    out, lse = vt.ops._fused_attention(q, k, k)
    assert not _np(out).any() and np.isneginf(_np(lse)).all()
    out, lse = vt.ops._fused_attention(k, q, q)
    assert tuple(out.shape) == (1, 2, 0, 32) and tuple(lse.shape) == (1, 2, 0)


def test_uncovered_calls_take_the_composite():
    gen = rng()
    keep = vt.ones(20, 20, dtype=vt.bool).tril().cuda()
    for d, dtype, kw in ((48, vt.bfloat16, dict(is_causal=True)), (64, vt.float64, dict(is_causal=True)),
                         (64, vt.bfloat16, dict(attn_mask=keep))):  # head dim, dtype, mask the kernels skip
        a = [random_array((1, 2, 20, d), dtype, gen, low=-2, high=2) for _ in range(3)]
        out = F.scaled_dot_product_attention(*_leaves(a, dtype), **kw)
        assert type(out.grad_fn).__name__ != "FusedAttentionBackward0"
        _close(out, ref.forward(*a, True)[0], TOL[vt.bfloat16])


@pytest.mark.parametrize("make,error,match", [
    (lambda q: (q[0], q[0], q[0]), ValueError, "expected query, key and value shaped"),
    (lambda q: (q, q.half(), q), TypeError, "must share a dtype"),
    (lambda q: (q.double(), q.double(), q.double()), TypeError, "float16, bfloat16 or float32"),
    (lambda q: (q, q.cpu(), q), ValueError, "one device"),
    (lambda q: (q[..., :48], q[..., :48], q[..., :48]), ValueError, "head_dim 16, 32, 64 or 128"),
    (lambda q: (q, q[:, :3], q[:, :3]), ValueError, r"must divide the query heads"),
    (lambda q: (q, q, q[:, :, :5]), ValueError, "key and value must have one shape"),
])
def test_bad_input_raises_clear_errors(make, error, match):
    q = vt.randn(2, 4, 8, 64).to(vt.bfloat16).cuda()
    with pytest.raises(error, match=match):
        vt.ops._fused_attention(*make(q), False)


def test_negative_scale_is_refused_by_the_op_and_routed_to_the_composite():
    q = vt.randn(1, 2, 8, 64).to(vt.bfloat16).cuda()
    with pytest.raises(ValueError, match="scale >= 0"):
        vt.ops._fused_attention(q, q, q, False, -0.5)
    a = q.cpu().float().numpy().astype(np.float64)
    _close(F.scaled_dot_product_attention(q, q, q, scale=-0.5), ref.forward(a, a, a, False, -0.5)[0], 2.5e-2)


@pytest.mark.parametrize("config,ok", [("fwd:16=32,32,4,2", True), ("fwd:16=32x32", False)])
def test_config_override(config, ok):
    """VIBETENSOR_ATTENTION_CONFIG replaces table entries (read once per process: a fresh one here)."""
    script = ("import numpy as np, vibetensor as vt\n"
              "q = vt.randn(1, 2, 50, 16).half().cuda()\n"
              "o = vt.ops._fused_attention(q, q, q, True)[0]\n"
              "print(sorted(k for k in vt._C._cuda.kernel_keys() if k.startswith('attn|')))\n")
    env = dict(os.environ, VIBETENSOR_ATTENTION_CONFIG=config)
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    if ok:
        assert r.returncode == 0, r.stderr
        assert "attn|fwd|float16|16|c|32|32|4|2" in r.stdout
    else:
        assert r.returncode != 0 and "VIBETENSOR_ATTENTION_CONFIG: cannot read 'fwd:16=32x32'" in r.stderr


def _recorded_ops(out):
    seen, todo = set(), [out.grad_fn]
    while todo:
        node = todo.pop()
        seen.add(type(node).__name__)
        todo += [e[0] for e in node.next_functions if e is not None]
    return seen


@pytest.mark.parametrize("kwargs,fused", [
    (dict(is_causal=True, need_weights=False), True),
    (dict(need_weights=False), True),
    (dict(is_causal=True), False),  # the weights are asked for: the causal mask is built, on the GPU
    (dict(is_causal=True, need_weights=False, key_padding_mask=True), False),
    (dict(key_padding_mask=True), False),
])
def test_multihead_attention(kwargs, fused):
    """nn.MultiheadAttention on CUDA bfloat16: the masks it builds are on the GPU, the fused kernels take the
    heads where torch would give SDPA no mask, and output and input gradient are close to the same module's in
    float64 on the CPU."""
    gen = rng()
    want = vt.nn.MultiheadAttention(128, 2, batch_first=True, dtype=vt.float64)  # head_dim 64
    ours = vt.nn.MultiheadAttention(128, 2, batch_first=True, dtype=vt.bfloat16, device="cuda")
    with vt.no_grad():
        for (_, w), (_, o) in zip(sorted(want.named_parameters()), sorted(ours.named_parameters())):
            o.copy_(w.to(vt.bfloat16).cuda())
            w.copy_(o.cpu().double())
    a, g = (random_array((2, 40, 128), vt.bfloat16, gen, low=-2, high=2) for _ in range(2))
    padding = np.zeros((2, 40), bool)
    padding[:, -3:] = True
    results = []
    for module, dtype, device in ((want, vt.float64, "cpu"), (ours, vt.bfloat16, "cuda")):
        x = vt.tensor(a).to(dtype).to(device).requires_grad_(True)
        kw = dict(kwargs, key_padding_mask=vt.tensor(padding).to(device)) if "key_padding_mask" in kwargs else kwargs
        out, _ = module(x, x, x, **kw)
        results.append((out, vt.autograd.grad(out, [x], vt.tensor(g).to(dtype).to(device))[0]))
    (want_out, want_dx), (out, dx) = results
    assert out.is_cuda and out.dtype == vt.bfloat16
    assert ("FusedAttentionBackward0" in _recorded_ops(out)) == fused
    _close(out, _np(want_out), TOL[vt.bfloat16], "out")
    _close(dx, _np(want_dx), TOL[vt.bfloat16], "dx")
