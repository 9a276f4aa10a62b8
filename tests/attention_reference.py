"""float64 numpy reference for scaled-dot-product attention, forward and backward (shared by the interpreter
tests of the Triton kernels and the CUDA tests of the fused ops). [B, H, L, D] arrays; key and value heads
divide the query heads (GQA); causal masks are top-left aligned, as torch's is_causal."""
import numpy as np


def _scores(q, k, causal, scale):
    k = np.repeat(k, q.shape[1] // k.shape[1], axis=1)
    s = q @ k.transpose(0, 1, 3, 2) * scale
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    return s


def _group_sum(x, kv_heads):
    b, h, s, d = x.shape
    return x.reshape(b, kv_heads, h // kv_heads, s, d).sum(2)


def forward(q, k, v, causal=False, scale=None):
    """(out, lse): softmax(q k^T * scale) v and the natural-log log-sum-exp of each query row."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = _scores(q, k, causal, scale)
    m = s.max(-1, keepdims=True)
    lse = np.log(np.exp(s - m).sum(-1)) + m[..., 0]
    p = np.exp(s - lse[..., None])
    return p @ np.repeat(v, q.shape[1] // v.shape[1], axis=1), lse


def backward(do, q, k, v, causal=False, scale=None):
    """(dq, dk, dv) of sum(do * forward(q, k, v)[0]); dk and dv summed over each GQA group."""
    do, q, k, v = (np.asarray(a, np.float64) for a in (do, q, k, v))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    out, lse = forward(q, k, v, causal, scale)
    p = np.exp(_scores(q, k, causal, scale) - lse[..., None])
    groups = q.shape[1] // k.shape[1]
    ds = p * (do @ np.repeat(v, groups, axis=1).transpose(0, 1, 3, 2) - (do * out).sum(-1, keepdims=True))
    dq = ds @ np.repeat(k, groups, axis=1) * scale
    dk = _group_sum(ds.transpose(0, 1, 3, 2) @ q * scale, k.shape[1])
    dv = _group_sum(p.transpose(0, 1, 3, 2) @ do, k.shape[1])
    return dq, dk, dv
