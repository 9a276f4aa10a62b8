"""nn.MultiheadAttention against torch.nn.MultiheadAttention holding the same weights, forward and backward in
float64, for each option vibetensor supports; which calls reach F.scaled_dot_product_attention (and so the fused
CUDA kernels) with is_causal; bad masks. The CUDA cases are in tests/cuda/test_attention_cuda.py."""
import numpy as np
import pytest

import vibetensor as vt
import vibetensor.nn as nn
import vibetensor.nn.functional as F
from helpers import rng, torch

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")
E, HEADS, B, L, S = 8, 2, 3, 4, 5


def _modules(batch_first, bias):
    theirs = torch.nn.MultiheadAttention(E, HEADS, bias=bias, batch_first=batch_first, dtype=torch.float64)
    ours = nn.MultiheadAttention(E, HEADS, bias=bias, batch_first=batch_first, dtype=vt.float64)
    params = dict(ours.named_parameters())
    assert set(params) == {n for n, _ in theirs.named_parameters()}
    with vt.no_grad():
        for name, p in theirs.named_parameters():
            params[name].copy_(vt.tensor(p.detach().numpy()))
    return ours, theirs


def _masks(gen):
    """Masks as numpy arrays; key 0 is never hidden (a row with every key hidden is NaN in both)."""
    def hide(shape):
        m = gen.uniform(size=shape) > 0.6
        m[..., 0] = False
        return m
    causal = np.triu(np.ones((L, S), bool), 1)
    return {"bool": hide((L, S)), "float": gen.normal(size=(L, S)), "per_head": hide((B * HEADS, L, S)),
            "causal": causal, "causal_float": np.where(causal, -np.inf, 0.0), "padding": hide((B, S)),
            "float_padding": np.where(hide((B, S)), -np.inf, gen.normal(size=(B, S)))}


# name: keyword arguments; a string value names a mask of _masks
CASES = {
    "plain": {},
    "no_weights": dict(need_weights=False),
    "per_head_weights": dict(average_attn_weights=False),
    "bool_mask": dict(attn_mask="bool"),
    "float_mask_no_weights": dict(attn_mask="float", need_weights=False),
    "per_head_mask": dict(attn_mask="per_head"),
    "per_head_mask_no_weights": dict(attn_mask="per_head", need_weights=False),
    "padding": dict(key_padding_mask="padding"),
    "float_padding_no_weights": dict(key_padding_mask="float_padding", need_weights=False),
    "mask_and_padding_no_weights": dict(attn_mask="bool", key_padding_mask="padding", need_weights=False),
    "causal_hint": dict(attn_mask="causal", is_causal=True),
    "causal_hint_no_weights": dict(attn_mask="causal", is_causal=True, need_weights=False),
    "causal_float_hint_no_weights": dict(attn_mask="causal_float", is_causal=True, need_weights=False),
    "causal_hint_and_padding_no_weights": dict(attn_mask="causal", is_causal=True, key_padding_mask="padding",
                                               need_weights=False),
}


def _run(lib, module, inputs, kwargs, masks):
    kw = {k: lib.tensor(masks[v]) if isinstance(v, str) else v for k, v in kwargs.items()}
    x = [lib.tensor(a, requires_grad=True) for a in inputs]
    out, weights = module(*x, **kw)
    loss = (out ** 2).sum()
    if weights is not None:  # weighted unevenly: a row of weights sums to 1, so its plain sum has no gradient
        pattern = np.arange(weights.numel()).reshape(tuple(weights.shape)) % 5
        loss = loss + (weights * lib.tensor(pattern, dtype=lib.float64)).sum()
    loss.backward()
    grads = [t.grad for t in x] + [p.grad for _, p in sorted(module.named_parameters())]
    return [t.detach().numpy() if t is not None else None for t in [out, weights] + grads]


@needs_torch
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(case, batch_first):
    gen = rng()
    ours, theirs = _modules(batch_first, bias=True)
    shapes = [(B, L, E), (B, S, E), (B, S, E)]
    inputs = [gen.normal(size=s if batch_first else (s[1], s[0], s[2])) for s in shapes]
    masks = _masks(gen)
    got, want = _run(vt, ours, inputs, CASES[case], masks), _run(torch, theirs, inputs, CASES[case], masks)
    for i, (g, w) in enumerate(zip(got, want)):
        assert (g is None) == (w is None), i
        if g is not None:
            assert g.shape == w.shape, i
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=f"{case}: result {i}")


@needs_torch
@pytest.mark.parametrize("need_weights", [True, False])
def test_self_attention_without_bias_matches_torch(need_weights):
    gen = rng()
    ours, theirs = _modules(batch_first=True, bias=False)
    a = gen.normal(size=(B, L, E))
    results = []
    for lib, module in ((vt, ours), (torch, theirs)):
        x = lib.tensor(a, requires_grad=True)
        out, _ = module(x, x, x, need_weights=need_weights)
        (out ** 2).sum().backward()
        results.append([t.detach().numpy() for t in (out, x.grad, module.in_proj_weight.grad)])
    for g, w in zip(*results):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def _sdpa_calls(monkeypatch):
    calls = []
    real = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    return calls


def test_is_causal_reaches_sdpa_as_is_causal(monkeypatch):
    """Without the weights, a causal call reaches SDPA as is_causal=True and no mask (what the fused kernels
    take), as in torch; the weights or a key padding mask need the mask itself."""
    calls = _sdpa_calls(monkeypatch)
    mha = nn.MultiheadAttention(E, HEADS, batch_first=True)
    x = vt.randn(B, L, E)
    causal = vt.ones(L, L, dtype=vt.bool).triu(1)
    for kw in (dict(is_causal=True), dict(is_causal=True, attn_mask=causal)):
        mha(x, x, x, need_weights=False, **kw)
        assert calls[-1]["is_causal"] and calls[-1]["attn_mask"] is None
    mha(x, x, x, need_weights=False, is_causal=True, key_padding_mask=vt.zeros(B, L, dtype=vt.bool))
    assert not calls[-1]["is_causal"] and tuple(calls[-1]["attn_mask"].shape) == (B, 1, L, L)
    mha(x, x, x, need_weights=False)
    assert not calls[-1]["is_causal"] and calls[-1]["attn_mask"] is None
    n = len(calls)
    mha(x, x, x, is_causal=True)  # the weights are computed here, as torch does
    assert len(calls) == n


def test_is_causal_without_a_mask_builds_the_causal_one():
    """torch requires attn_mask with is_causal; vibetensor builds it, with the weights or without."""
    gen = rng()
    mha = nn.MultiheadAttention(E, HEADS, batch_first=True, dtype=vt.float64)
    x = vt.tensor(gen.normal(size=(B, L, E)))
    causal = vt.ones(L, L, dtype=vt.bool).triu(1)
    with vt.no_grad():
        want, want_w = mha(x, x, x, attn_mask=causal)
        got, got_w = mha(x, x, x, is_causal=True)
        got_sdpa, _ = mha(x, x, x, is_causal=True, need_weights=False)
    for g, w in ((got, want), (got_w, want_w), (got_sdpa, want)):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12, atol=1e-14)


def test_bad_masks():
    mha = nn.MultiheadAttention(E, HEADS, batch_first=True)
    x = vt.randn(B, L, E)
    with pytest.raises(RuntimeError, match=r"2D attn_mask is \(4, 3\), but should be \(4, 4\)"):
        mha(x, x, x, attn_mask=vt.zeros(L, 3, dtype=vt.bool))
    with pytest.raises(RuntimeError, match=r"3D attn_mask is \(3, 4, 4\), but should be \(6, 4, 4\)"):
        mha(x, x, x, attn_mask=vt.zeros(B, L, L))
    with pytest.raises(RuntimeError, match="dimension 4 is not supported"):
        mha(x, x, x, attn_mask=vt.zeros(1, 1, L, L))
    with pytest.raises(RuntimeError, match=r"key_padding_mask should have shape \(3, 4\)"):
        mha(x, x, x, key_padding_mask=vt.zeros(B, 3, dtype=vt.bool))
    with pytest.raises(AssertionError, match="only bool and floating masks"):
        mha(x, x, x, attn_mask=vt.zeros(L, L, dtype=vt.int64))
