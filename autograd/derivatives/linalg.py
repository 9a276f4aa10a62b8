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


@derivative("linear", save=("input", "weight"))
def _linear(ctx, g):
    """One node for y = input @ weight^T + bias, where the composite records four (t, view, addmm, view) and
    the weight's gradient came back through t() as a transposed view that .grad then copied: here the
    input's leading dims fold into the rows of one GEMM per gradient, and the weight's comes out laid out as
    the weight is. The bias's gradient is g, summed to the bias's shape by the table."""
    x, w = ctx.input, ctx.weight
    out = {}
    if w.dim() == 1:  # y[...] = x[..., k] . w[k]: the weight is contracted away
        gk = g.unsqueeze(-1)
        if ctx.needs("input"):
            out["input"] = gk * w
        if ctx.needs("weight"):
            out["weight"] = (gk * x).reshape(-1, w.shape[0]).sum(0)
    else:
        n, k = w.shape
        rows = g.reshape(-1, n)
        if ctx.needs("input"):
            out["input"] = rows.mm(w).reshape(x.shape)
        if ctx.needs("weight"):
            out["weight"] = rows.t().mm(x.reshape(-1, k))
    if ctx.needs("bias"):
        out["bias"] = g
    return out
