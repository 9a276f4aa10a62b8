"""The fused attention Triton kernels (kernels/triton/attention_kernels.py), run by Triton's interpreter with
the native launcher's keys, argument order and grids (kernels/interpret_attention.py), against the float64
numpy reference (tests/attention_reference.py), forward and backward. Blocks of 16/32 rows make tiny
sequences cross several blocks, the causal diagonal and a ragged end."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels import interpret_attention as run
from helpers import random_array, rng
import attention_reference as ref
import norm_ce_reference

triton = pytest.importorskip("triton")

# relative to the largest reference value: P is rounded to the input dtype before P V and dS before dS K
TOL = {vt.float16: 3e-3, vt.bfloat16: 2.5e-2, vt.float32: 1e-5}
LSE_TOL = 1e-5  # fp32 statistics


def _np(t):
    return t.float().numpy().astype(np.float64)


def _close(got, want, tol):
    np.testing.assert_allclose(_np(got), want, rtol=0, atol=tol * max(1.0, np.abs(want).max()))


def _inputs(dtype, b, hq, hkv, lq, lk, d, gen):
    """q, k, v, dO as vibetensors and as the float64 values they hold."""
    shapes = [(b, hq, lq, d), (b, hkv, lk, d), (b, hkv, lk, d), (b, hq, lq, d)]
    arrays = [random_array(s, dtype, gen, low=-2, high=2) for s in shapes]
    return [vt.tensor(a).to(dtype) for a in arrays], arrays


def test_reference_backward_matches_numeric_gradients():
    gen = rng()
    q, k, v, do = gen.normal(size=(1, 2, 3, 4)), gen.normal(size=(1, 1, 5, 4)), gen.normal(size=(1, 1, 5, 4)), \
        gen.normal(size=(1, 2, 3, 4))
    dq, dk, dv = ref.backward(do, q, k, v, causal=True, scale=0.8)
    loss = {"q": lambda x: (ref.forward(x, k, v, True, 0.8)[0] * do).sum(),
            "k": lambda x: (ref.forward(q, x, v, True, 0.8)[0] * do).sum(),
            "v": lambda x: (ref.forward(q, k, x, True, 0.8)[0] * do).sum()}
    for name, got, at in (("q", dq, q), ("k", dk, k), ("v", dv, v)):
        np.testing.assert_allclose(got, norm_ce_reference.numeric_grad(loss[name], at), rtol=1e-6, atol=1e-8,
                                   err_msg=name)


# (batch, query heads, key/value heads, query length, key length, head dim, causal, BLOCK_M, BLOCK_N)
CASES = [
    (1, 2, 2, 17, 17, 16, False, 16, 16),  # one whole block and a one-row tail
    (1, 2, 2, 33, 33, 32, True, 16, 16),  # three blocks each way, the diagonal in each
    (1, 4, 1, 33, 33, 16, True, 32, 16),  # MQA: dK/dV summed over four heads; query blocks twice the key blocks
    (2, 2, 2, 33, 20, 16, False, 16, 32),  # more queries than keys, key blocks wider than query blocks
    (1, 4, 2, 20, 33, 16, True, 16, 16),  # GQA, causal with more keys than queries (top-left: later keys unseen)
    (1, 2, 2, 40, 17, 16, True, 16, 16),  # causal with more queries than keys: rows past Lk see every key
    (1, 2, 2, 33, 33, 64, True, 32, 16),
]


@pytest.mark.parametrize("dtype", [vt.float16, vt.bfloat16, vt.float32])
@pytest.mark.parametrize("b,hq,hkv,lq,lk,d,causal,block_m,block_n", CASES)
def test_forward_and_backward_match_float64(dtype, b, hq, hkv, lq, lk, d, causal, block_m, block_n):
    (q, k, v, do), (aq, ak, av, ado) = _inputs(dtype, b, hq, hkv, lq, lk, d, rng())
    scale = 0.3
    out, lse = run.attention_forward(q, k, v, causal, scale, block_m, block_n)
    want_out, want_lse = ref.forward(aq, ak, av, causal, scale)
    assert out.dtype == dtype and lse.dtype == vt.float32 and tuple(lse.shape) == (b, hq, lq)
    _close(out, want_out, TOL[dtype])
    np.testing.assert_allclose(lse.numpy(), want_lse, rtol=LSE_TOL, atol=LSE_TOL)
    grads = run.attention_backward(do, q, k, v, out, lse, causal, scale, block_m, block_n)
    for name, got, want in zip("qkv", grads, ref.backward(ado, aq, ak, av, causal, scale)):
        assert tuple(got.shape) == want.shape, name
        _close(got, want, 2 * TOL[dtype])


def test_strided_inputs_from_a_transpose_and_the_default_scale():
    """[B, T, H, D] memory seen as [B, H, T, D] (the usual q.view(B, T, H, D).transpose(1, 2)): the kernels
    take the strides as they are."""
    gen = rng()
    dtype, (b, h, t, d) = vt.float16, (1, 2, 21, 32)
    arrays = [random_array((b, t, h, d), dtype, gen, low=-2, high=2) for _ in range(4)]
    q, k, v, do = (vt.tensor(a).to(dtype).transpose(1, 2) for a in arrays)
    assert not q.is_contiguous()
    aq, ak, av, ado = (a.transpose(0, 2, 1, 3) for a in arrays)
    out, lse = run.attention_forward(q, k, v, True, None, 16, 16)
    _close(out, ref.forward(aq, ak, av, True)[0], TOL[dtype])
    grads = run.attention_backward(do, q, k, v, out, lse, True, None, 16, 16)
    for got, want in zip(grads, ref.backward(ado, aq, ak, av, True)):
        _close(got, want, 2 * TOL[dtype])


@pytest.mark.parametrize("pass_", ["fwd", "delta", "dkdv", "dq"])
def test_signatures_follow_the_kernels_arguments(pass_):
    """The argument list the launchers build (attention._ARGS) is the kernel's, name for name, and only
    pointers and strides are declared aligned."""
    from vibetensor.kernels.triton import attention
    key = f"attn|{pass_}|bfloat16|64|c|64|{0 if pass_ == 'delta' else 32}|4|3"
    fn, signature, constexprs = attention.load(key, module_suffix="_interp")
    assert list(signature) == list(fn.arg_names)
    names = list(signature)
    for (i,), [[attr, value]] in attention.attrs(key).items():
        assert attr == "tt.divisibility"
        assert (names[i].startswith("s") and value == attention.STRIDE_ALIGN) or (names[i].isupper() and value == 16)
    assert attention.num_warps(key) == 4 and attention.num_stages(key) == 3


@pytest.mark.parametrize("key", ["attn|fwd|float64|64|c|64|64|4|3", "attn|fwd|bfloat16|48|c|64|64|4|3",
                                 "attn|dq|bfloat16|64|c|64|24|4|3", "attn|dkdv|bfloat16|64|x|64|64|4|3",
                                 "attn|bwd|bfloat16|64|c|64|64|4|3", "attn|fwd|bfloat16|64|c|64|64|4"])
def test_bad_keys_are_refused(key):
    from vibetensor.kernels.triton import attention
    with pytest.raises(KeyError):
        attention.load(key)
