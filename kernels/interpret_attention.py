"""The fused attention kernels on CPU tensors through Triton's interpreter, with the keys, argument order
and grids of the native launcher (csrc/cuda/attention.cpp); block sizes are the caller's, so tiny shapes
still cross several blocks, the diagonal and a ragged end."""
import math

from .. import _C
from .interpret import bfloat16_dot, interpreted, wrap


def _run(pass_, q, causal, block_m, block_n, grid, pointers, scalars):
    """One launch: the kernel's pointers in its order (4-d operands and fp32 [B, Hq, Lq] statistics), the
    scalars, then each 4-d operand's batch, head and row strides."""
    from .cache import cache_dir
    from .triton import attention
    key = f"attn|{pass_}|{q.dtype.name}|{q.shape[3]}|{'c' if causal else 'n'}|{block_m}|{block_n}|4|1"
    fn, _, constexprs = attention.load(key, cache_dir(), module_suffix="_interp")
    strides = [s for t in pointers if t.dim() == 4 for s in t.stride()[:3]]
    with bfloat16_dot():
        interpreted(fn)[grid](*[wrap(a) for a in [*pointers, *scalars, *strides]], **constexprs)


def _cdiv(a, b):
    return -(-a // b)


def _bthd(b, h, t, d, like):
    return _C._ops.empty([b, t, h, d], dtype=like.dtype).permute(0, 2, 1, 3)


def attention_forward(q, k, v, causal=False, scale=None, block_m=16, block_n=16):
    """(out [B, Hq, Lq, D], lse [B, Hq, Lq] fp32) of bf16/fp16 [B, H, L, D] CPU tensors (head dim contiguous)."""
    b, hq, lq, d = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    out = _bthd(b, hq, lq, d, q)
    lse = _C._ops.empty([b, hq, lq], dtype=_C.float32)
    _run("fwd", q, causal, block_m, block_n, (_cdiv(lq, block_m), b * hq), [q, k, v, out, lse],
         [float(scale), lq, lk, hq, hq // hkv])
    return out, lse


def attention_backward(do, q, k, v, out, lse, causal=False, scale=None, block_m=16, block_n=16, delta_block=16):
    """(dq, dk, dv): the delta, dK/dV and dQ passes; dK and dV summed over each GQA group."""
    b, hq, lq, d = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    delta = _C._ops.empty([b, hq, lq], dtype=_C.float32)
    _run("delta", q, False, delta_block, 0, (_cdiv(lq, delta_block), b * hq), [out, do, delta], [lq, hq])
    dq, dk, dv = _bthd(b, hq, lq, d, q), _bthd(b, hkv, lk, d, q), _bthd(b, hkv, lk, d, q)
    sizes = [float(scale), lq, lk, hq, hq // hkv]
    _run("dkdv", q, causal, block_m, block_n, (_cdiv(lk, block_n), b * hkv), [q, k, v, do, lse, delta, dk, dv],
         sizes)
    _run("dq", q, causal, block_m, block_n, (_cdiv(lq, block_m), b * hq), [q, k, v, do, lse, delta, dq], sizes)
    return dq, dk, dv
