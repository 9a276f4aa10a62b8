"""The fused LayerNorm / RMSNorm / cross-entropy / attention ops (op_table.h: native_layer_norm,
_fused_rms_norm, _cross_entropy_logits, _fused_attention and their backward ops): when nn.functional takes
them, and their Composite kernels.

On CUDA they run the native fused kernels (csrc/cuda/norm.cpp, cross_entropy.cpp, attention.cpp), and the
norms, cross-entropy and attention also on CPU (csrc/cpu/norm.cpp, cross_entropy.cpp, attention.cpp); the Composite kernels below, made of core ops, serve every other
device and op, so the ops and their derivative rows (autograd/derivatives/fused.py) work, and are
gradchecked, everywhere. nn.functional keeps its own composite path for the cases the fused kernels do not
cover.
"""
import math

from .. import _C
from ..tensor_core import library

ops = _C._ops
FLOATING = (_C.float16, _C.bfloat16, _C.float32, _C.float64)
# Rows longer than this do not fit one program's registers (csrc/cuda/norm.cpp, kMaxFusedRow).
MAX_FUSED_ROW = 8192
# Head dims the fused attention kernels are compiled for (csrc/cuda/attention.cpp, kHeadDims).
ATTENTION_HEAD_DIMS = (16, 32, 64, 128)


def shape_list(normalized_shape):
    return [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)


def _on_cuda(t):
    return t.device.type == "cuda"


def norm_applies(input, normalized_shape, weight, bias):
    """The fused norm kernels cover CPU and CUDA inputs whose weight and bias (if any; a bias only with a
    weight) share the input's dtype and are contiguous; on CUDA, rows of at most MAX_FUSED_ROW elements."""
    shape = shape_list(normalized_shape)
    if input.device.type not in ("cpu", "cuda") or input.dtype not in FLOATING or (bias is not None and weight is None):
        return False
    if not 1 <= len(shape) <= input.dim():
        return False
    longest = MAX_FUSED_ROW if _on_cuda(input) else math.inf
    if list(input.shape[input.dim() - len(shape):]) != shape or not 1 <= math.prod(shape) <= longest:
        return False
    return all(p is None or (p.dtype == input.dtype and p.is_contiguous() and tuple(p.shape) == tuple(shape)
                             and p.device == input.device) for p in (weight, bias))


def cross_entropy_applies(input, target, weight, reduction):
    """The fused kernels compute the mean loss of [rows, classes] logits against int64 class indices, without
    class weights: on CPU in any float dtype, on CUDA in fp32 (float64 logits keep the float64 composite)."""
    dtypes = FLOATING if input.device.type == "cpu" else FLOATING[:3] if _on_cuda(input) else ()
    return (input.dtype in dtypes and input.dim() == 2 and weight is None and reduction == "mean"
            and target.dtype == _C.int64 and target.dim() == 1)


def attention_applies(query, key, value, attn_mask, dropout_p, scale, enable_gqa):
    """The fused attention kernels cover [B, H, L, D] query, key and value of one dtype and device, without a
    mask or dropout, key heads equal to the query's or (enable_gqa) dividing them, and at least one key: on
    CUDA bfloat16/float16/float32 with head_dim one of ATTENTION_HEAD_DIMS and a scale >= 0 (the kernels fold
    it into the running max), on CPU any float dtype (half types computed in float32 and rounded once) with any
    head_dim and a finite scale."""
    cuda = _on_cuda(query)
    dtypes = (_C.float16, _C.bfloat16, _C.float32) if cuda else FLOATING
    if query.device.type not in ("cpu", "cuda") or query.dtype not in dtypes or attn_mask is not None or dropout_p:
        return False
    if any(t.dim() != 4 or t.dtype != query.dtype or t.device != query.device for t in (key, value)) or \
            query.dim() != 4:
        return False
    b, hq, _, d = query.shape
    bk, hk, lk, dk = key.shape
    if tuple(value.shape) != tuple(key.shape) or bk != b or dk != d or lk == 0 or (cuda and d not in ATTENTION_HEAD_DIMS):
        return False
    if hk != hq and not (enable_gqa and hk >= 1 and hq % hk == 0):
        return False
    return scale is None or (math.isfinite(scale) and (scale >= 0 or not cuda))


def _acc(t):
    return t.float() if t.dtype in (_C.float16, _C.bfloat16) else t


# ---- Composite kernels ---------------------------------------------------------------------------------


def _norm_forward(input, normalized_shape, weight, bias, eps, centre):
    from . import functional as F
    xhat, mean, rstd = F._normalize(input, F._norm_dims(input, normalized_shape), eps, centre)
    y = xhat if weight is None else xhat * _acc(weight)  # rounded once, as the CUDA kernel does
    if bias is not None:
        y = y + _acc(bias)
    return y.to(input.dtype), None if mean is None else mean.reshape(-1), rstd.reshape(-1)


def _norm_backward(grad_out, input, normalized_shape, mean, rstd, weight, has_bias):
    n = math.prod(shape_list(normalized_shape))
    x, dy = _acc(input).reshape(-1, n), _acc(grad_out).reshape(-1, n)
    xhat = (x if mean is None else x - mean.unsqueeze(1)) * rstd.unsqueeze(1)
    wdy = dy if weight is None else dy * _acc(weight).reshape(n)
    proj = xhat * (xhat * wdy).mean(1, keepdim=True)
    if mean is not None:
        proj = proj + wdy.mean(1, keepdim=True)
    dx = ((wdy - proj) * rstd.unsqueeze(1)).to(input.dtype).reshape(input.shape)
    none = ops.empty([0], dtype=input.dtype, device=input.device)  # the schema's "no gradient"
    dw = none if weight is None else (dy * xhat).sum(0).to(input.dtype).reshape(weight.shape)
    db = dy.sum(0).to(input.dtype).reshape(shape_list(normalized_shape)) if has_bias else none
    return dx, dw, db


def _native_layer_norm(input, normalized_shape, weight, bias, eps):
    return _norm_forward(input, normalized_shape, weight, bias, eps, True)


def _fused_rms_norm(input, normalized_shape, weight, eps):
    y, _, rstd = _norm_forward(input, normalized_shape, weight, None, eps, False)
    return y, rstd


def _fused_rms_norm_backward(grad_out, input, normalized_shape, rstd, weight):
    return _norm_backward(grad_out, input, normalized_shape, None, rstd, weight, False)[:2]


def _cross_entropy_logits(self, target, ignore_index, label_smoothing):
    from . import functional as F
    loss = F._cross_entropy_composite(self, target, None, ignore_index, "mean", label_smoothing)
    lse = ops.logsumexp(_acc(self), [1])  # fp32, or float64 for float64 logits (the CUDA kernels: fp32)
    return loss, lse, (target != ignore_index).sum().float()


def _cross_entropy_logits_backward(grad, self, target, lse, count, ignore_index, label_smoothing):
    x = _acc(self)
    valid = target != ignore_index
    onehot = ops.one_hot(ops.where(valid, target, 0), x.shape[1]).to(x.dtype)
    d = (x - lse.to(x.dtype).unsqueeze(1)).exp() - (1 - label_smoothing) * onehot - label_smoothing / x.shape[1]
    scale = valid.to(x.dtype) * (_acc(grad).to(x.dtype) / count.to(x.dtype))
    return (d * scale.unsqueeze(1)).to(self.dtype)


def _attention_operands(query, key, value, scale):
    """(scale, q, k, v) in the accumulation dtype, key and value heads repeated over their GQA groups."""
    from . import functional as F
    groups = query.shape[1] // key.shape[1]
    return (F._attention_scale(query, scale), _acc(query), F._repeat_heads(_acc(key), groups),
            F._repeat_heads(_acc(value), groups))


def _group_sum(x, kv_heads):
    """[B, Hq, S, D] summed over each GQA group of query heads: [B, Hkv, S, D]."""
    b, h, s, d = x.shape
    return x.reshape(b, kv_heads, h // kv_heads, s, d).sum(2)


def _fused_attention(query, key, value, is_causal, scale):
    from . import functional as F
    scale, q, k, v = _attention_operands(query, key, value, scale)
    scores = F._attention_scores(q, k, scale, is_causal)
    lse = ops.logsumexp(scores, [-1])  # -inf for no keys: P is then empty and the output zero, as the kernels
    out = (scores - lse.unsqueeze(-1)).exp().matmul(v)
    return out.to(query.dtype), lse.to(_C.float64 if query.dtype == _C.float64 else _C.float32)


def _fused_attention_backward(grad_out, query, key, value, out, lse, is_causal, scale):
    """FlashAttention's backward from the saved lse: P recomputed, dS = P * (dO V^T - rowsum(dO * O))."""
    from . import functional as F
    scale, q, k, v = _attention_operands(query, key, value, scale)
    do = _acc(grad_out)
    p = (F._attention_scores(q, k, scale, is_causal) - lse.to(q.dtype).unsqueeze(-1)).exp()
    ds = p * (do.matmul(v.transpose(-2, -1)) - (do * _acc(out)).sum(-1, keepdim=True))
    dq = ds.matmul(k) * scale
    dk = _group_sum(ds.transpose(-2, -1).matmul(q) * scale, key.shape[1])
    dv = _group_sum(p.transpose(-2, -1).matmul(do), key.shape[1])
    return dq.to(query.dtype), dk.to(key.dtype), dv.to(value.dtype)


for _name, _fn in {"native_layer_norm": _native_layer_norm, "native_layer_norm_backward": _norm_backward,
                   "_fused_rms_norm": _fused_rms_norm, "_fused_rms_norm_backward": _fused_rms_norm_backward,
                   "_cross_entropy_logits": _cross_entropy_logits,
                   "_cross_entropy_logits_backward": _cross_entropy_logits_backward,
                   "_fused_attention": _fused_attention,
                   "_fused_attention_backward": _fused_attention_backward}.items():
    library.impl(_name, "composite", _fn)
