"""The fused attention ops on CPU (csrc/cpu/attention.cpp: float32, half types through float32, float64;
the CUDA kernels are checked against the same reference in tests/cuda/test_attention_cuda.py) and when
scaled_dot_product_attention takes them."""
import types

import numpy as np
import pytest

import vibetensor as vt
from helpers import rng, torch
import attention_reference as ref

F = vt.nn.functional


def _f64(*arrays, requires_grad=False):
    return [vt.tensor(a, dtype=vt.float64, requires_grad=requires_grad) for a in arrays]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("hq,hkv,lq,lk", [(2, 2, 5, 5), (4, 2, 3, 6), (3, 1, 7, 4)])
def test_composite_ops_match_float64_reference(causal, hq, hkv, lq, lk):
    gen = rng()
    aq, ak, av, ado = (gen.normal(size=s) for s in [(2, hq, lq, 8), (2, hkv, lk, 8), (2, hkv, lk, 8), (2, hq, lq, 8)])
    q, k, v, do = _f64(aq, ak, av, ado)
    out, lse = vt.ops._fused_attention(q, k, v, causal, 0.45)
    want_out, want_lse = ref.forward(aq, ak, av, causal, 0.45)
    assert lse.dtype == vt.float64 and tuple(lse.shape) == (2, hq, lq)
    np.testing.assert_allclose(out.numpy(), want_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lse.numpy(), want_lse, rtol=1e-12, atol=1e-12)
    grads = vt.ops._fused_attention_backward(do, q, k, v, out, lse, causal, 0.45)
    for got, want in zip(grads, ref.backward(ado, aq, ak, av, causal, 0.45)):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


def test_gradcheck_non_causal_more_queries_than_keys_default_scale():
    gen = rng()
    q, k, v = _f64(gen.uniform(-2, 2, (1, 2, 4, 3)), gen.uniform(-2, 2, (1, 1, 3, 3)), gen.uniform(-2, 2, (1, 1, 3, 3)),
                   requires_grad=True)
    assert vt.autograd.gradcheck(lambda q, k, v: vt.ops._fused_attention(q, k, v)[0], (q, k, v))


def test_half_inputs_keep_float32_statistics_and_their_dtype():
    q = vt.randn(1, 2, 5, 16).to(vt.bfloat16)
    out, lse = vt.ops._fused_attention(q, q, q, True)
    assert out.dtype == vt.bfloat16 and lse.dtype == vt.float32


def test_no_keys_give_zero_output_and_minus_inf_lse():
    q, k = vt.randn(1, 1, 3, 4).double(), vt.randn(1, 1, 0, 4).double()
    out, lse = vt.ops._fused_attention(q, k, k)
    assert not out.numpy().any() and np.isneginf(lse.numpy()).all()


def test_sdpa_on_cpu_takes_the_op_and_agrees_with_it():
    gen = rng()
    q, k, v = _f64(*(gen.normal(size=(2, 4, 6, 8)) for _ in range(3)))
    kv = [t[:, :2] for t in (k, v)]
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, *kv, is_causal=True, enable_gqa=True).numpy(),
                               vt.ops._fused_attention(q, *kv, True)[0].numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=vt.ones(6, 6, dtype=vt.bool), is_causal=True)


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.float16], ids=str)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("hq,hkv,lq,lk,d", [(4, 4, 16, 16, 12), (4, 2, 9, 20, 7), (2, 1, 33, 5, 64),
                                             (2, 1, 150, 150, 16), (2, 2, 130, 200, 8), (2, 2, 200, 70, 8)])
def test_forward_and_backward_match_float64(dtype, causal, hq, hkv, lq, lk, d):
    """float32, and half types (computed in float32, each result rounded once), through SDPA and autograd. More
    than 64 queries: causal attention on CPU goes in blocks of rows with the keys they see (keys no query sees,
    130 x 200, get zero gradients)."""
    gen = rng()
    aq, ak, av, ado = (gen.normal(size=s) for s in [(3, hq, lq, d), (3, hkv, lk, d), (3, hkv, lk, d), (3, hq, lq, d)])
    q, k, v = (vt.tensor(a, dtype=vt.float32).to(dtype).requires_grad_() for a in (aq, ak, av))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=hq != hkv)
    assert type(out.grad_fn).__name__ == "FusedAttentionBackward0" and out.dtype == dtype
    g = vt.tensor(ado, dtype=vt.float32).to(dtype)
    out.backward(g)
    r = [t.detach().to(vt.float64).numpy() for t in (q, k, v, g)]  # the inputs as rounded to dtype
    # float32: the reference's own accuracy; half types: one rounding of each result (2^-8 of bfloat16)
    tol = {vt.float32: (1e-4, 5e-5), vt.bfloat16: (8e-3, 1e-2), vt.float16: (1e-3, 2e-3)}[dtype]
    np.testing.assert_allclose(out.detach().to(vt.float64).numpy(), ref.forward(*r[:3], causal, 1 / np.sqrt(d))[0],
                               rtol=tol[0], atol=tol[1])
    for got, want in zip((q.grad, k.grad, v.grad), ref.backward(r[3], *r[:3], causal, 1 / np.sqrt(d))):
        assert got.dtype == dtype
        np.testing.assert_allclose(got.to(vt.float64).numpy(), want, rtol=tol[0], atol=tol[1])


@pytest.mark.parametrize("length", [24, 150])  # one block of rows, and three
def test_cpu_gradients_do_not_depend_on_threads(length):
    gen = rng()
    q = vt.tensor(gen.normal(size=(2, 8, length, 16)), dtype=vt.float32)
    k, v, g = (vt.tensor(gen.normal(size=s), dtype=vt.float32)
               for s in [(2, 2, length, 16), (2, 2, length, 16), (2, 8, length, 16)])
    threads = vt.get_num_threads()
    try:
        got = []
        for n in (1, 2, 3):
            vt.set_num_threads(n)
            out, lse = vt.ops._fused_attention(q, k, v, True)
            got.append([t.numpy() for t in vt.ops._fused_attention_backward(g, q, k, v, out, lse, True, None)])
        for other in got[1:]:
            for a, b in zip(got[0], other):
                assert np.array_equal(a, b)
    finally:
        vt.set_num_threads(threads)


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_cpu_sdpa_same_as_torch():
    gen = rng()
    arrays = [gen.normal(size=s) for s in [(2, 6, 10, 24), (2, 3, 10, 24), (2, 3, 10, 24)]]
    q, k, v = (vt.tensor(a, dtype=vt.float32, requires_grad=True) for a in arrays)
    tq, tk, tv = (torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in arrays)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3, enable_gqa=True)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True, scale=0.3, enable_gqa=True)
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    for a, b in ((out, tout), (q.grad, tq.grad), (k.grad, tk.grad), (v.grad, tv.grad)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_bad_arguments_raise():
    q = vt.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match="must divide the query heads"):
        vt.ops._fused_attention(q, vt.randn(1, 3, 3, 4), vt.randn(1, 3, 3, 4))
    with pytest.raises(TypeError, match="share a dtype"):
        vt.ops._fused_attention(q, q.double(), q)
    with pytest.raises(ValueError, match="scale must be finite"):
        vt.ops._fused_attention(q, q, q, False, float("inf"))
    with pytest.raises(ValueError, match="shaped"):
        vt.ops._fused_attention(q[0], q[0], q[0])
    out, lse = vt.ops._fused_attention(q, q, q)
    with pytest.raises(ValueError, match="log-sum-exp"):
        vt.ops._fused_attention_backward(q, q, q, q, out, lse.double(), False, None)


# ---- routing: which calls the fused CUDA op takes (duck-typed tensors: no GPU needed) ---------------------

_CUDA = types.SimpleNamespace(type="cuda", index=0)


class _Spec:
    """What attention_applies reads of a tensor."""

    def __init__(self, *shape, dtype=vt.bfloat16, device=_CUDA):
        self.shape, self.dtype, self.device = tuple(shape), dtype, device

    def dim(self):
        return len(self.shape)


def _applies(q, k=None, v=None, attn_mask=None, dropout_p=0.0, scale=None, enable_gqa=False):
    k = k or _Spec(*q.shape, dtype=q.dtype, device=q.device)
    return vt.nn.fused.attention_applies(q, k, v or k, attn_mask, dropout_p, scale, enable_gqa)


def test_routing_takes_cpu_floats_with_any_head_dim():
    cpu = types.SimpleNamespace(type="cpu", index=None)
    for dtype in (vt.float32, vt.float64, vt.bfloat16, vt.float16):
        assert _applies(_Spec(2, 4, 16, 12, dtype=dtype, device=cpu))
        assert _applies(_Spec(2, 4, 16, 12, dtype=dtype, device=cpu), scale=-0.5)
        assert not _applies(_Spec(2, 4, 16, 12, dtype=dtype, device=cpu), dropout_p=0.1)


def test_routing_takes_the_covered_cuda_calls():
    assert _applies(_Spec(2, 8, 1024, 128))
    assert _applies(_Spec(2, 8, 7, 64, dtype=vt.float16), _Spec(2, 8, 13, 64, dtype=vt.float16))  # Lq != Lk
    assert _applies(_Spec(1, 8, 5, 16), _Spec(1, 2, 5, 16), enable_gqa=True)
    assert _applies(_Spec(1, 8, 5, 32), scale=0.0)
    assert _applies(_Spec(2, 8, 255, 64, dtype=vt.float32))  # 3xTF32 dots: float32 accuracy


@pytest.mark.parametrize("case", [
    dict(q=_Spec(2, 8, 16, 64, dtype=vt.float64)),  # float64: no fused kernel (torch's neither)
    dict(q=_Spec(2, 8, 16, 48)),  # head dims the kernels are not compiled for
    dict(q=_Spec(2, 8, 16, 256)),
    dict(q=_Spec(8, 16, 64)),  # 3-d
    dict(q=_Spec(2, 8, 16, 64), attn_mask=object()),
    dict(q=_Spec(2, 8, 16, 64), dropout_p=0.1),
    dict(q=_Spec(2, 8, 16, 64), scale=-1.0),  # the kernels fold the scale into the running max
    dict(q=_Spec(2, 8, 16, 64), scale=float("nan")),
    dict(q=_Spec(2, 8, 16, 64), k=_Spec(2, 2, 16, 64)),  # fewer key heads without enable_gqa
    dict(q=_Spec(2, 8, 16, 64), k=_Spec(2, 3, 16, 64), enable_gqa=True),  # 3 does not divide 8
    dict(q=_Spec(2, 8, 16, 64), k=_Spec(2, 8, 0, 64)),  # no keys
    dict(q=_Spec(2, 8, 16, 64), k=_Spec(2, 8, 16, 64, dtype=vt.float16)),
    dict(q=_Spec(2, 8, 16, 64), k=_Spec(2, 8, 16, 64), v=_Spec(2, 8, 16, 32)),  # value head dim differs
    dict(q=_Spec(2, 8, 16, 64), k=_Spec(1, 8, 16, 64)),  # batch broadcast
])
def test_routing_keeps_the_composite_for_the_rest(case):
    assert not _applies(**case)
