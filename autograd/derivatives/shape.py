"""Derivatives of views, copies, joins and other shape ops.

Composite ops made of these (reshape, flatten, narrow, split, unbind, t, movedim ...) need no rows.
"""
from ... import _C
from . import derivative

ops = _C._ops


def _zeros(info, g):
    return ops.zeros(info.shape, dtype=g.dtype, device=g.device)


@derivative("view", "_to_copy", "clone", "contiguous")
def _identity_shape(ctx, g):
    s = ctx.self
    return {"self": g.reshape(s.shape)}


@derivative("as_strided")
def _as_strided(ctx, g):
    """Scatter-add through the view's element positions in the input's storage (windows may overlap)."""
    s = ctx.self
    numel = 1
    for d in s.shape:
        numel *= d
    offset = (ctx.storage_offset if ctx.storage_offset is not None else s.storage_offset) - s.storage_offset
    if offset < 0:
        raise RuntimeError("as_strided backward: the view starts before its input")
    span = max(numel, offset + 1 + sum((n - 1) * st for n, st in zip(ctx.size, ctx.stride)) if g.numel() else 0)
    positions = ops.arange(span, device=g.device).as_strided(ctx.size, ctx.stride, offset)
    flat = ops.zeros([span], dtype=g.dtype, device=g.device).index_add(0, positions.reshape(-1), g.reshape(-1))
    return {"self": flat.narrow(0, 0, numel).view(s.shape) if numel else flat.narrow(0, 0, 0).view(s.shape)}


@derivative("permute")
def _permute(ctx, g):
    dims = [d % max(g.dim(), 1) for d in ctx.dims]
    inverse = [0] * len(dims)
    for i, d in enumerate(dims):
        inverse[d] = i
    return {"self": g.permute(*inverse)}


@derivative("transpose")
def _transpose(ctx, g):
    return {"self": g.transpose(ctx.dim0, ctx.dim1)}


@derivative("t")
def _t(ctx, g):
    return {"self": g.t()}


@derivative("expand")
def _expand(ctx, g):
    return {"self": g}  # the table sums broadcast dims back to the input's shape


@derivative("squeeze", "unsqueeze")
def _squeeze(ctx, g):
    return {"self": g.reshape(ctx.self.shape)}


@derivative("select")
def _select(ctx, g):
    s = ctx.self
    z = _zeros(s, g)
    z.select(ctx.dim, ctx.index).copy_(g)
    return {"self": z}


@derivative("slice")
def _slice(ctx, g):
    s = ctx.self
    z = _zeros(s, g)
    z.__getitem__(tuple([slice(None)] * (ctx.dim % len(s.shape)) + [slice(ctx.start, ctx.end, ctx.step)])).copy_(g)
    return {"self": z}


@derivative("split", "split.sizes", "chunk")
def _split(ctx, *grads):
    """The pieces' gradients side by side: one cat and one node, where a slice node per piece would each fill
    a zeros tensor of the whole input for the engine to add up (the engine gives zeros for unused pieces)."""
    return {"self": ops.cat(list(grads), ctx.dim)}


@derivative("unbind")
def _unbind(ctx, *grads):
    return {"self": ops.stack(list(grads), ctx.dim)}


@derivative("diagonal")
def _diagonal(ctx, g):
    s = ctx.self
    z = _zeros(s, g)
    z.diagonal(ctx.offset, ctx.dim1, ctx.dim2).copy_(g)
    return {"self": z}


@derivative("copy_")
def _copy(ctx, g):
    src = ctx.src
    return {"self": ops.zeros(g.shape, dtype=g.dtype, device=g.device), "src": g}


@derivative("fill_")
def _fill(ctx, g):
    return {"self": ops.zeros(g.shape, dtype=g.dtype, device=g.device), "value": g.sum()}


@derivative("zero_")
def _zero(ctx, g):
    return {"self": ops.zeros(g.shape, dtype=g.dtype, device=g.device)}


@derivative("cat")
def _cat(ctx, g):
    tensors = ctx.tensors
    dim = ctx.dim
    out, start = [], 0
    nd = g.dim()
    for info in tensors:
        if info is None:
            out.append(None)
            continue
        if len(info.shape) == 1 and info.shape[0] == 0 and nd != 1:  # legacy empty inputs take no part
            out.append(ops.zeros([0], dtype=g.dtype, device=g.device))
            continue
        n = info.shape[dim % nd]
        out.append(g.narrow(dim, start, n))
        start += n
    return {"tensors": out}


@derivative("stack")
def _stack(ctx, g):
    return {"tensors": list(g.unbind(ctx.dim))}


@derivative("flip")
def _flip(ctx, g):
    return {"self": g.flip(ctx.dims)}


@derivative("roll")
def _roll(ctx, g):
    shifts = [-s for s in ctx.shifts]
    return {"self": g.roll(shifts, ctx.dims)}


@derivative("repeat")
def _repeat(ctx, g):
    s = ctx.self
    reps = list(ctx.repeats)
    lead = len(reps) - len(s.shape)
    shape = [1] * lead + list(s.shape)
    # view the gradient as (rep0, size0, rep1, size1, ...) and sum the repeat axes
    g = g.reshape([x for r, n in zip(reps, shape) for x in (r, n)])
    g = g.sum(list(range(0, 2 * len(reps), 2)))
    return {"self": g.reshape(s.shape)}


@derivative("tril")
def _tril(ctx, g):
    return {"self": g.tril(ctx.diagonal)}


@derivative("triu")
def _triu(ctx, g):
    return {"self": g.triu(ctx.diagonal)}
