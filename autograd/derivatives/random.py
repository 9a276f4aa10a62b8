"""Derivatives of the random ops that have one: native_dropout (vt.dropout's fused kernel) and its backward.
The gradient reads only the saved bool mask, one fused kernel on CUDA (native_dropout_backward)."""
from ... import _C
from . import derivative

ops = _C._ops


def dropout_scale(p, train):
    """The factor native_dropout applied to the kept elements (csrc/cpu/random.cpp): 1 / (1 - p), 0 for
    p = 1, and 1 in eval mode (the identity)."""
    if train is False:
        return 1.0
    return 0.0 if p == 1.0 else 1.0 / (1.0 - p)


@derivative("native_dropout", result=(1,))
def _native_dropout(ctx, g, g_mask=None):
    if g is None:  # only the mask was used: it is not differentiable
        return {}
    return {"input": ops.native_dropout_backward(g, ctx.results[1], dropout_scale(ctx.p, ctx.train))}


@derivative("native_dropout_backward", save=("mask",))
def _native_dropout_backward(ctx, gg):  # linear in grad_output
    return {"grad_output": ops.native_dropout_backward(gg, ctx.mask, ctx.scale)}
