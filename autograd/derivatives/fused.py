"""Derivatives of the fused normalisation, loss and attention ops (vt.nn.fused): each calls its op's
backward op, which runs fused kernels (CPU and CUDA) from the statistics the forward saved (mean / rstd, lse
and count, or the attention's lse).

The backward ops have no derivatives of their own. Under create_graph (grad mode on during the backward),
a derivative instead recomputes the statistics with core ops and applies the composite backward of
vt.nn.fused, made of core ops too: the gradient is then a differentiable function of the inputs (the saved
statistics, as outputs of the fused op, would enter it as constants), so double backward works as through
the composite forward. Only create_graph pays for the recomputation."""
from ... import _C
from . import derivative

ops = _C._ops


def _composite():
    """The nn modules, imported late (nn imports autograd): the composite backward, its helpers."""
    from ...nn import functional, fused
    return functional, fused


# only the statistics are saved: the output may be modified in place before the backward runs
@derivative("native_layer_norm", save=("input", "weight"), result=(1, 2), takes_none=True)
def _native_layer_norm(ctx, g, g_mean=None, g_rstd=None):
    if g is None:  # only the statistics were used: they are not differentiated (as in PyTorch's kernel)
        return {}
    _, mean, rstd = ctx.results
    has_bias = ctx.bias is not None and ctx.needs("bias")
    backward = ops.native_layer_norm_backward
    if _C._grad_enabled():
        backward = _composite()[1]._norm_backward
        mean, rstd = _statistics(ctx, True)
    dx, dw, db = backward(g, ctx.input, list(ctx.normalized_shape), mean, rstd, ctx.weight, has_bias)
    return {"input": dx, "weight": dw if ctx.weight is not None else None, "bias": db if has_bias else None}


@derivative("_fused_rms_norm", save=("input", "weight"), result=(1,), takes_none=True)
def _fused_rms_norm(ctx, g, g_rstd=None):
    if g is None:
        return {}
    if _C._grad_enabled():
        _, rstd = _statistics(ctx, False)
        dx, dw, _ = _composite()[1]._norm_backward(g, ctx.input, list(ctx.normalized_shape), None, rstd, ctx.weight,
                                                   False)
    else:
        dx, dw = ops._fused_rms_norm_backward(g, ctx.input, list(ctx.normalized_shape), ctx.results[1], ctx.weight)
    return {"input": dx, "weight": dw if ctx.weight is not None else None}


def _statistics(ctx, centre):
    """(mean or None, rstd) of the norm's input, [rows] each, recomputed by core ops (differentiable)."""
    F, _ = _composite()
    _, mean, rstd = F._normalize(ctx.input, F._norm_dims(ctx.input, ctx.normalized_shape), ctx.eps, centre)
    return None if mean is None else mean.reshape(-1), rstd.reshape(-1)


@derivative("_cross_entropy_logits", save=("self", "target"), result=(1, 2), takes_none=True)
def _cross_entropy_logits(ctx, g, g_lse=None, g_count=None):
    if g is None:
        return {}
    _, lse, count = ctx.results
    backward = ops._cross_entropy_logits_backward
    if _C._grad_enabled():
        fused = _composite()[1]
        backward, lse = fused._cross_entropy_logits_backward, ops.logsumexp(fused._acc(ctx.self), [1])
    return {"self": backward(g, ctx.self, ctx.target, lse, count, ctx.ignore_index, ctx.label_smoothing)}


# the output is saved too: the backward's rowsum(dO * O) needs it (an in-place change to it is refused)
@derivative("_fused_attention", save=("query", "key", "value"), result=(0, 1), takes_none=True)
def _fused_attention(ctx, g, g_lse=None):
    if g is None:  # only the log-sum-exp was used: it is not differentiated (as in PyTorch's flash kernels)
        return {}
    out, lse = ctx.results
    backward = ops._fused_attention_backward
    if _C._grad_enabled():
        fused = _composite()[1]
        backward = fused._fused_attention_backward
        out, lse = fused._fused_attention(ctx.query, ctx.key, ctx.value, ctx.is_causal, ctx.scale)
    dq, dk, dv = backward(g, ctx.query, ctx.key, ctx.value, out, lse, ctx.is_causal, ctx.scale)
    return {"query": dq, "key": dk, "value": dv}
