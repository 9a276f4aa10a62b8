"""Derivatives of reductions, scans and softmax."""
import math

from ... import _C
from . import derivative

ops = _C._ops


def _dims(dim, ndim):
    """The reduced dims as a sorted list of non-negative ints (None or [] means all)."""
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(ndim))
    dims = [dim] if isinstance(dim, int) else list(dim)
    return sorted(d % ndim if ndim else 0 for d in dims)


def _unsqueeze_to(g, dims, keepdim, ndim):
    """A reduced gradient with its reduced dims back as size 1, ready to broadcast against the input."""
    if keepdim or ndim == 0:
        return g
    for d in dims:
        g = g.unsqueeze(d)
    return g


def _expand_back(g, info_shape, dim, keepdim):
    nd = len(info_shape)
    return _unsqueeze_to(g, _dims(dim, nd), keepdim, nd).expand(info_shape)


@derivative("sum")
def _sum(ctx, g):
    return {"self": _expand_back(g, ctx.self.shape, ctx.dim, ctx.keepdim)}


@derivative("mean")
def _mean(ctx, g):
    s = ctx.self
    dims = _dims(ctx.dim, len(s.shape))
    n = 1
    for d in dims:
        n *= s.shape[d] if s.shape else 1
    return {"self": _expand_back(g, s.shape, ctx.dim, ctx.keepdim) / max(n, 1)}


@derivative("prod", save=("self",))
def _prod(ctx, g):
    x, dim, keepdim = ctx.self, ctx.dim, ctx.keepdim
    if dim is None:
        flat = x.reshape(-1)
        return {"self": (g * _prod_of_others(flat, 0)).reshape(x.shape)}
    g = g if keepdim or x.dim() == 0 else g.unsqueeze(dim)
    return {"self": g * _prod_of_others(x, dim)}


def _prod_of_others(x, dim):
    """For each element, the product of the others along `dim` (exact with zeros: exclusive scans)."""
    if x.dim() == 0:
        return ops.ones((), dtype=x.dtype, device=x.device)
    n = x.shape[dim]
    ones = ops.ones(x.shape, dtype=x.dtype, device=x.device).narrow(dim, 0, 1)
    left = ops.cat([ones, x.narrow(dim, 0, n - 1).cumprod(dim)], dim) if n > 1 else ones
    rx = x.flip([dim])
    right = ops.cat([ones, rx.narrow(dim, 0, n - 1).cumprod(dim)], dim).flip([dim]) if n > 1 else ones
    return left * right


def _evenly_distribute(g, x, value):
    """max()/min()/amax: the gradient goes to the extreme elements, shared equally among ties."""
    mask = (x == value)
    count = mask.sum(list(range(x.dim())), keepdim=True) if x.dim() else mask.float()
    return ops.where(mask, g / count, 0.0)


@derivative("max", "min", save=("self",), result=True)
def _max_all(ctx, g):
    return {"self": _evenly_distribute(g, ctx.self, ctx.result)}


@derivative("amax", "amin", save=("self",), result=True)
def _amax(ctx, g):
    x = ctx.self
    dims = _dims(ctx.dim, x.dim())
    r = _unsqueeze_to(ctx.result, dims, ctx.keepdim, x.dim())
    gg = _unsqueeze_to(g, dims, ctx.keepdim, x.dim())
    mask = (x == r)
    count = mask.sum(dims, keepdim=True) if x.dim() else mask.float()
    return {"self": ops.where(mask, gg / count, 0.0)}


@derivative("max.dim", "min.dim", result=True)
def _max_dim(ctx, g, g_idx=None):
    s = ctx.self
    values, indices = ctx.results
    dim = ctx.dim % max(len(s.shape), 1)
    if not ctx.keepdim and len(s.shape):
        g, indices = g.unsqueeze(dim), indices.unsqueeze(dim)
    z = ops.zeros(s.shape, dtype=g.dtype, device=g.device)
    return {"self": z.scatter(dim, indices, g) if len(s.shape) else g}


@derivative("var", "std", save=("self",), result=True)
def _var(ctx, g):
    x = ctx.self
    dims = _dims(ctx.dim, x.dim())
    n = 1
    for d in dims:
        n *= x.shape[d] if x.dim() else 1
    corr = ctx.correction
    if corr is None:
        corr = 0 if ctx.unbiased is False else 1
    mean = x.mean(dims, keepdim=True) if x.dim() else x
    gg = _unsqueeze_to(g, dims, ctx.keepdim, x.dim())
    dvar = gg * 2 * (x - mean) / max(n - float(corr), 0.0) if n - float(corr) > 0 else gg * math.inf * (x - mean)
    if ctx._node.row.name.startswith("std"):
        r = _unsqueeze_to(ctx.result, dims, ctx.keepdim, x.dim())
        dvar = dvar / (2 * r)
    return {"self": dvar}


@derivative("norm", save=("self",), result=True)
def _norm(ctx, g):
    x, p = ctx.self, ctx.p
    p = 2.0 if p is None else float(p)
    dims = _dims(ctx.dim, x.dim())
    r = _unsqueeze_to(ctx.result, dims, ctx.keepdim, x.dim())
    gg = _unsqueeze_to(g, dims, ctx.keepdim, x.dim())
    if p == 2:
        return {"self": ops.where(r == 0, 0.0, gg * x / r)}
    if p == 1:
        return {"self": gg * x.sign()}
    if math.isinf(p):
        mask = x.abs() == r
        count = mask.sum(dims, keepdim=True)
        return {"self": ops.where(mask, gg * x.sign() / count, 0.0)}
    if p == 0:
        return {"self": ops.zeros(x.shape, dtype=x.dtype, device=x.device)}
    return {"self": ops.where(r == 0, 0.0, gg * x.sign() * x.abs() ** (p - 1) / r ** (p - 1))}


@derivative("logsumexp", save=("self",), result=True)
def _logsumexp(ctx, g):
    x = ctx.self
    dims = _dims(ctx.dim, x.dim())
    r = _unsqueeze_to(ctx.result, dims, ctx.keepdim, x.dim())
    gg = _unsqueeze_to(g, dims, ctx.keepdim, x.dim())
    return {"self": gg * (x - r).exp()}


@derivative("cumsum")
def _cumsum(ctx, g):
    d = ctx.dim
    if g.dim() == 0:
        return {"self": g}
    return {"self": g.flip([d]).cumsum(d).flip([d])}


@derivative("cumprod", save=("self",), result=True)
def _cumprod(ctx, g):
    x, d = ctx.self, ctx.dim
    if x.dim() == 0:
        return {"self": g}
    d = d % x.dim()
    n = x.shape[d]
    # d out_j / d x_i = prod_{k<=j, k != i} x_k for j >= i: sum over j of g_j * that product. Written with
    # a masked product per i so zeros in x are handled exactly (n is small in practice: O(n^2) work).
    grads = []
    one = ops.ones(x.narrow(d, 0, 1).shape, dtype=x.dtype, device=x.device)
    for i in range(n):
        others = ops.cat([x.narrow(d, 0, i), one, x.narrow(d, i + 1, n - i - 1)], d)
        partial = others.cumprod(d).narrow(d, i, n - i)
        grads.append((g.narrow(d, i, n - i) * partial).sum(d, keepdim=True))
    return {"self": ops.cat(grads, d)}


@derivative("softmax", result=True)
def _softmax(ctx, g):
    y = ctx.result
    d = ctx.dim
    return {"self": y * (g - (g * y).sum(d, keepdim=True))}


@derivative("log_softmax", result=True)
def _log_softmax(ctx, g):
    y = ctx.result
    d = ctx.dim
    return {"self": g - y.exp() * g.sum(d, keepdim=True)}
