"""Derivatives of indexing, gather/scatter, embedding and sorting."""
from ... import _C
from . import derivative

ops = _C._ops


def _zeros(shape, g):
    return ops.zeros(shape, dtype=g.dtype, device=g.device)


@derivative("index", save=("indices",))
def _index(ctx, g):
    s = ctx.self
    return {"self": _zeros(s.shape, g).index_put_(ctx.indices, g, True)}


@derivative("index_put", save=("indices",))
def _index_put(ctx, g):
    out = {}
    idx = ctx.indices
    if ctx.needs("self"):
        out["self"] = g if ctx.accumulate else g.index_put(idx, ops.zeros((), dtype=g.dtype, device=g.device), False)
    if ctx.needs("values"):
        out["values"] = ops.index(g, idx)
    return out


@derivative("gather", save=("index",))
def _gather(ctx, g):
    return {"self": _zeros(ctx.self.shape, g).scatter_add(ctx.dim, ctx.index, g)}


@derivative("scatter", save=("index",))
def _scatter(ctx, g):
    if ctx.reduce is not None:
        raise RuntimeError("the derivative of scatter with reduce= is not implemented; use scatter_add or "
                           "scatter_reduce-free formulations")
    out = {"self": g.scatter(ctx.dim, ctx.index, 0.0)}
    if ctx.needs("src"):
        out["src"] = g.gather(ctx.dim, ctx.index)
    return out


@derivative("scatter_add", save=("index",))
def _scatter_add(ctx, g):
    return {"self": g, "src": g.gather(ctx.dim, ctx.index)}


@derivative("index_select", save=("index",))
def _index_select(ctx, g):
    return {"self": _zeros(ctx.self.shape, g).index_add(ctx.dim, ctx.index, g)}


@derivative("index_add", save=("index",))
def _index_add(ctx, g):
    a = ctx.alpha
    src = g.index_select(ctx.dim, ctx.index) if ctx.source.shape else g.index_select(0, ctx.index).reshape(())
    return {"self": g, "source": src if a == 1 else src * a}


def _broadcast(a, b):
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    return tuple(x if y == 1 else y for x, y in zip(a, b))


@derivative("masked_select", save=("mask",))
def _masked_select(ctx, g):
    mask = ctx.mask
    shape = _broadcast(ctx.self.shape, mask.shape)
    return {"self": _zeros(shape, g).index_put((mask.expand(shape),), g, True)}


@derivative("embedding", save=("indices",))
def _embedding(ctx, g):
    # deterministic on CUDA (sorted segment sums, csrc/cuda/embedding_backward.cpp), index_add elsewhere
    return {"weight": ops.embedding_dense_backward(g, ctx.indices, ctx.weight.shape[0], ctx.padding_idx)}


@derivative("topk", "sort", result=True)
def _by_indices(ctx, g, g_indices=None):
    _, indices = ctx.results
    s = ctx.self
    if not s.shape:
        return {"self": g}
    return {"self": _zeros(s.shape, g).scatter(ctx.dim, indices, g)}
