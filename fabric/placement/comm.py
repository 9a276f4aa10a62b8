"""The collectives of one mesh line as autograd Functions, so gradients flow through redistribute.

Each backward is the exact adjoint (transpose) of its forward, so any loss computed from the shards gets
the right gradients with no convention about which replica "owns" the value: all_reduce(sum) is its own
adjoint, all_gather and reduce_scatter(sum) are each other's, all_to_all is its own.
Forwards copy first: the LocalGroup collectives write in place, autograd inputs must stay intact.
"""
from ...autograd.function import Function
from ..collectives.api import ReduceOp


def _scale(ts, op, n):
    if op is ReduceOp.AVG and n > 1:
        return [t / n for t in ts]
    return ts


def _differentiable(op, what):
    if op not in (ReduceOp.SUM, ReduceOp.AVG):
        raise RuntimeError(f"{what} with op {op.value} has no gradient (only sum and avg are differentiable)")


class AllReduce(Function):
    @staticmethod
    def forward(ctx, group, op, *xs):
        ctx.group, ctx.op = group, op
        ys = [x.clone() for x in xs]
        group.all_reduce(ys, op)
        return tuple(ys)

    @staticmethod
    def backward(ctx, *gs):
        _differentiable(ctx.op, "all_reduce")
        gs = [g.clone() for g in gs]
        ctx.group.all_reduce(gs, ReduceOp.SUM)
        return (None, None, *_scale(gs, ctx.op, ctx.group.size))


class ReduceScatter(Function):
    """xs[r]: [n*m, ...] -> ys[r]: [m, ...] (chunk r of the reduction)."""

    @staticmethod
    def forward(ctx, group, op, *xs):
        ctx.group, ctx.op = group, op
        m = xs[0].shape[0] // group.size
        ys = [x.new_empty((m, *x.shape[1:])) for x in xs]
        group.reduce_scatter(ys, [x.contiguous() for x in xs], op)
        return tuple(ys)

    @staticmethod
    def backward(ctx, *gs):
        _differentiable(ctx.op, "reduce_scatter")
        return (None, None, *_scale(_gather(ctx.group, gs), ctx.op, ctx.group.size))


def _gather(group, xs):
    ys = [x.new_empty((group.size * x.shape[0], *x.shape[1:])) for x in xs]
    group.all_gather(ys, [x.contiguous() for x in xs])
    return ys


class AllGather(Function):
    """xs[r]: [m, ...] -> ys[r]: [n*m, ...] (every rank's x in rank order)."""

    @staticmethod
    def forward(ctx, group, *xs):
        ctx.group = group
        return tuple(_gather(group, xs))

    @staticmethod
    def backward(ctx, *gs):
        m = gs[0].shape[0] // ctx.group.size
        out = [g.new_empty((m, *g.shape[1:])) for g in gs]
        ctx.group.reduce_scatter(out, [g.contiguous() for g in gs], ReduceOp.SUM)
        return (None, *out)


def _all_to_all(group, xs):
    ys = [x.new_empty(x.shape) for x in xs]
    group.all_to_all(ys, [x.contiguous() for x in xs])
    return ys


class AllToAll(Function):
    @staticmethod
    def forward(ctx, group, *xs):
        ctx.group = group
        return tuple(_all_to_all(group, xs))

    @staticmethod
    def backward(ctx, *gs):
        return (None, *_all_to_all(ctx.group, gs))
