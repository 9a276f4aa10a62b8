"""Derivatives of the fused normalisation, loss and attention ops (vt.nn.fused): each calls its op's
backward op, which on CUDA runs fused kernels from the statistics the forward saved (mean / rstd, lse and
count, or the attention's lse)."""
from ... import _C
from . import derivative

ops = _C._ops


# only the statistics are saved: the output may be modified in place before the backward runs
@derivative("native_layer_norm", save=("input", "weight"), result=(1, 2))
def _native_layer_norm(ctx, g, g_mean=None, g_rstd=None):
    if g is None:  # only the statistics were used: they are not differentiated (as in PyTorch's kernel)
        return {}
    _, mean, rstd = ctx.results
    has_bias = ctx.bias is not None and ctx.needs("bias")
    dx, dw, db = ops.native_layer_norm_backward(g, ctx.input, list(ctx.normalized_shape), mean, rstd, ctx.weight,
                                                has_bias)
    return {"input": dx, "weight": dw if ctx.weight is not None else None, "bias": db if has_bias else None}


@derivative("_fused_rms_norm", save=("input", "weight"), result=(1,))
def _fused_rms_norm(ctx, g, g_rstd=None):
    if g is None:
        return {}
    dx, dw = ops._fused_rms_norm_backward(g, ctx.input, list(ctx.normalized_shape), ctx.results[1], ctx.weight)
    return {"input": dx, "weight": dw if ctx.weight is not None else None}


@derivative("_cross_entropy_logits", save=("self", "target"), result=(1, 2))
def _cross_entropy_logits(ctx, g, g_lse=None, g_count=None):
    if g is None:
        return {}
    _, lse, count = ctx.results
    return {"self": ops._cross_entropy_logits_backward(g, ctx.self, ctx.target, lse, count, ctx.ignore_index,
                                                       ctx.label_smoothing)}


# the output is saved too: the backward's rowsum(dO * O) needs it (an in-place change to it is refused)
@derivative("_fused_attention", save=("query", "key", "value"), result=(0, 1))
def _fused_attention(ctx, g, g_lse=None):
    if g is None:  # only the log-sum-exp was used: it is not differentiated (as in PyTorch's flash kernels)
        return {}
    out, lse = ctx.results
    dq, dk, dv = ops._fused_attention_backward(g, ctx.query, ctx.key, ctx.value, out, lse, ctx.is_causal, ctx.scale)
    return {"query": dq, "key": dk, "value": dv}
