"""Derivatives of the matmul family. matmul, outer and linear are composites of these."""
from ... import _C
from . import derivative

ops = _C._ops


@derivative("mm", save=("self", "mat2"))
def _mm(ctx, g):
    out = {}
    if ctx.needs("self"):
        out["self"] = g.mm(ctx.mat2.t())
    if ctx.needs("mat2"):
        out["mat2"] = ctx.self.t().mm(g)
    return out


@derivative("bmm", save=("self", "mat2"))
def _bmm(ctx, g):
    out = {}
    if ctx.needs("self"):
        out["self"] = g.bmm(ctx.mat2.transpose(1, 2))
    if ctx.needs("mat2"):
        out["mat2"] = ctx.self.transpose(1, 2).bmm(g)
    return out


@derivative("addmm", save=("mat1", "mat2"))
def _addmm(ctx, g):
    beta, alpha = ctx.beta, ctx.alpha
    out = {}
    if ctx.needs("self"):
        out["self"] = g if beta == 1 else g * beta
    if ctx.needs("mat1"):
        m = g.mm(ctx.mat2.t())
        out["mat1"] = m if alpha == 1 else m * alpha
    if ctx.needs("mat2"):
        m = ctx.mat1.t().mm(g)
        out["mat2"] = m if alpha == 1 else m * alpha
    return out


@derivative("dot", save=("self", "tensor"))
def _dot(ctx, g):
    return {"self": g * ctx.tensor, "tensor": g * ctx.self}
