"""The fused LayerNorm / RMSNorm / cross-entropy ops (op_table.h: native_layer_norm, _fused_rms_norm,
_cross_entropy_logits and their backward ops): when nn.functional takes them, and their Composite kernels.

On CUDA they run the native fused kernels (csrc/cuda/norm.cpp, csrc/cuda/cross_entropy.cpp); the
Composite kernels below, made of core ops, serve every other device, so the ops and their derivative rows
(autograd/derivatives/fused.py) work, and are gradchecked, on CPU. nn.functional keeps its own composite
path on CPU and for the cases the fused kernels do not cover.
"""
import math

from .. import _C
from ..tensor_core import library

ops = _C._ops
FLOATING = (_C.float16, _C.bfloat16, _C.float32, _C.float64)
# Rows longer than this do not fit one program's registers (csrc/cuda/norm.cpp, kMaxFusedRow).
MAX_FUSED_ROW = 8192


def shape_list(normalized_shape):
    return [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)


def _on_cuda(t):
    return t.device.type == "cuda"


def norm_applies(input, normalized_shape, weight, bias):
    """The fused norm kernels cover CUDA inputs whose weight and bias (if any; a bias only with a weight)
    share the input's dtype and are contiguous, with rows of at most MAX_FUSED_ROW elements."""
    shape = shape_list(normalized_shape)
    if not _on_cuda(input) or input.dtype not in FLOATING or (bias is not None and weight is None):
        return False
    if not 1 <= len(shape) <= input.dim():
        return False
    if list(input.shape[input.dim() - len(shape):]) != shape or not 1 <= math.prod(shape) <= MAX_FUSED_ROW:
        return False
    return all(p is None or (p.dtype == input.dtype and p.is_contiguous() and tuple(p.shape) == tuple(shape)
                             and p.device == input.device) for p in (weight, bias))


def cross_entropy_applies(input, target, weight, reduction):
    """The fused kernels compute the mean loss of [rows, classes] CUDA logits against int64 class indices,
    without class weights, in fp32 (float64 logits keep the float64 composite)."""
    return (_on_cuda(input) and input.dtype in FLOATING[:3] and input.dim() == 2 and weight is None
            and reduction == "mean" and target.dtype == _C.int64 and target.dim() == 1)


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


for _name, _fn in {"native_layer_norm": _native_layer_norm, "native_layer_norm_backward": _norm_backward,
                   "_fused_rms_norm": _fused_rms_norm, "_fused_rms_norm_backward": _fused_rms_norm_backward,
                   "_cross_entropy_logits": _cross_entropy_logits,
                   "_cross_entropy_logits_backward": _cross_entropy_logits_backward}.items():
    library.impl(_name, "composite", _fn)
