"""Changing placements: one mesh axis at a time, each change one named collective on every line of
devices along that axis (or local slicing when no data has to move).

    Partial  -> Replicate : all_reduce          Shard(i) -> Replicate : all_gather
    Partial  -> Shard(d)  : reduce_scatter      Replicate -> Shard(d) : local slice
    Shard(i) -> Shard(j)  : all_to_all          Replicate -> Partial  : local (others hold the identity)

Uneven shards are padded to the largest shard for the collective and trimmed after (as torch DTensor does).
"""
from . import comm
from .placements import Partial, Replicate, Shard
from ..collectives.api import ReduceOp
from ..collectives.schedule import chunk_bounds
from ... import _C

_ops = _C._ops


def local_chunk(t, dim, rank, parts, size=None):
    """Rank's slice of t along dim (size: the global length, default t's)."""
    lo, hi = chunk_bounds(t.shape[dim] if size is None else size, parts)[rank]
    return t.narrow(dim, lo, hi - lo)


def _pad(t, dim, size):
    short = size - t.shape[dim]
    if short <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = short
    return _ops.cat([t, _ops.zeros(shape, dtype=t.dtype, device=t.device)], dim)


def _sizes(total, n):
    return [hi - lo for lo, hi in chunk_bounds(total, n)]


def all_gather_dim(group, xs, dim, total):
    n, sizes = group.size, _sizes(total, group.size)
    m = max(sizes)
    ys = comm.AllGather.apply(group, *[_ops.movedim(_pad(x, dim, m), dim, 0).contiguous() for x in xs])
    return [_ops.movedim(_ops.cat([y.narrow(0, r * m, sizes[r]) for r in range(n)], 0), 0, dim) for y in ys]


def reduce_scatter_dim(group, xs, dim, op):
    n, total = group.size, xs[0].shape[dim]
    sizes = _sizes(total, n)
    m = max(sizes)
    ins = []
    for x in xs:  # chunk r padded to m, so the collective sees n equal chunks along dim 0
        x0 = _ops.movedim(x, dim, 0)
        ins.append(_ops.cat([_pad(local_chunk(x0, 0, r, n), 0, m) for r in range(n)], 0).contiguous())
    ys = comm.ReduceScatter.apply(group, op, *ins)
    return [_ops.movedim(y.narrow(0, 0, sizes[r]), 0, dim) for r, y in enumerate(ys)]


def all_to_all_dims(group, xs, src, dst, src_total, dst_total):
    """Shard(src) -> Shard(dst): rank r sends its slice of dst-chunk p to rank p."""
    n = group.size
    si, sj = _sizes(src_total, n), _sizes(dst_total, n)
    mi, mj = max(si), max(sj)
    ins = []
    for x in xs:
        x = _pad(x, src, mi)
        x0 = _ops.movedim(x, dst, 0)
        ins.append(_ops.cat([_pad(local_chunk(x0, 0, p, n), 0, mj) for p in range(n)], 0).contiguous())
    ys = comm.AllToAll.apply(group, *ins)
    src0 = src + 1 if src < dst else src  # where src sits once dst is moved to the front
    out = []
    for r, y in enumerate(ys):
        pieces = [y.narrow(0, p * mj, sj[r]).narrow(src0, 0, si[p]) for p in range(n)]
        out.append(_ops.movedim(_ops.cat(pieces, src0), 0, dst))
    return out


def to_partial(xs, op):
    """Replicate -> Partial(op): the value stays the same: for sum, rank 0 keeps it and the rest hold 0."""
    if op is not ReduceOp.SUM:
        return list(xs)
    return [xs[0]] + [x * 0 for x in xs[1:]]


def change(group, xs, cur, dst, shape):
    """(new local tensors, collective name) for one line changing cur -> dst."""
    if cur == dst:
        return list(xs), None
    if isinstance(dst, Replicate):
        if isinstance(cur, Partial):
            return list(comm.AllReduce.apply(group, cur.op, *xs)), f"all_reduce({cur.op.value})"
        return all_gather_dim(group, xs, cur.dim, shape[cur.dim]), "all_gather"
    if isinstance(dst, Shard):
        if isinstance(cur, Partial):
            return reduce_scatter_dim(group, xs, dst.dim, cur.op), f"reduce_scatter({cur.op.value})"
        if isinstance(cur, Shard):
            return all_to_all_dims(group, xs, cur.dim, dst.dim, shape[cur.dim], shape[dst.dim]), "all_to_all"
        return [local_chunk(x, dst.dim, r, group.size).contiguous() for r, x in enumerate(xs)], "local_slice"
    # dst is Partial: reach Replicate first when not already there
    xs, name = change(group, xs, cur, Replicate(), shape)
    return to_partial(xs, dst.op), name
