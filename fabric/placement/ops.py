"""Ops on FabricTensors: each runs locally on every shard and derives the output placements from a small
rule table; an op whose result would need data the shards do not hold raises PlacementError naming the
redistribute to call (nothing moves between devices unless the user asked).

Elementwise kinds: 'linear' ops are additive in their tensor operands (add, sub, neg: Partial(sum) in,
Partial out); 'scaling' ops are linear in one operand times the other (mul, div: Partial times a Replicate
or a scalar); 'nonlinear' ops need the reduced value (gelu, relu, exp, maximum, ...: no Partial).
"""
from .placements import Partial, Replicate, Shard
from .tensor import FabricTensor, PlacementError
from ..collectives.api import ReduceOp
from ... import _C

_ops = _C._ops

UNARY = {"neg": "linear", "relu": "nonlinear", "gelu": "nonlinear", "silu": "nonlinear",
         "tanh": "nonlinear", "sigmoid": "nonlinear", "exp": "nonlinear", "abs": "nonlinear",
         "square": "nonlinear", "sqrt": "nonlinear", "log": "nonlinear"}
BINARY = {"add": "linear", "sub": "linear", "mul": "scaling", "div": "scaling",
          "maximum": "nonlinear", "minimum": "nonlinear", "pow": "nonlinear"}
_LINEAR_PARTIAL = (ReduceOp.SUM, ReduceOp.AVG)


def _fix(axis, x):
    return f"call {x}.redistribute(...) with Replicate() on mesh axis {axis} first"


def _unary_rule(name, pl):
    kind = UNARY[name]
    for axis, p in enumerate(pl):
        if isinstance(p, Partial) and (kind != "linear" or p.op not in _LINEAR_PARTIAL):
            raise PlacementError(f"{name}: the input is {p} on mesh axis {axis}, and {name} needs the reduced "
                                 f"value: {_fix(axis, 'x')} (all_reduce)")
    return pl


def _binary_rule(name, a, b):
    """Output placements of a (FabricTensor) op b (FabricTensor or Python scalar)."""
    kind = BINARY[name]
    if not isinstance(b, FabricTensor):
        for axis, p in enumerate(a.placements):
            if isinstance(p, Partial) and (kind != "scaling" or p.op not in _LINEAR_PARTIAL):
                raise PlacementError(f"{name} with a scalar: the tensor is {p} on mesh axis {axis}, which would "
                                     f"apply the scalar once per device: {_fix(axis, 'x')} (all_reduce)")
        return a.placements
    if a.mesh is not b.mesh:
        raise PlacementError(f"{name}: operands live on different meshes")
    if a.shape != b.shape:
        raise PlacementError(f"{name}: global shapes differ ({list(a.shape)} vs {list(b.shape)}); fabric ops "
                             f"do not broadcast across shards")
    out = []
    for axis, (p, q) in enumerate(zip(a.placements, b.placements)):
        if p == q and not isinstance(p, Partial):
            out.append(p)
        elif p == q and kind == "linear" and p.op in _LINEAR_PARTIAL:
            out.append(p)
        elif kind == "scaling" and isinstance(p, Partial) and isinstance(q, Replicate) and p.op in _LINEAR_PARTIAL:
            out.append(p)
        elif (kind == "scaling" and name == "mul" and isinstance(q, Partial) and isinstance(p, Replicate)
              and q.op in _LINEAR_PARTIAL):
            out.append(q)
        else:
            hint = (f"redistribute one operand first, e.g. b.redistribute(a.placements)" if p != q
                    else f"{_fix(axis, 'a')} (all_reduce)")
            raise PlacementError(f"{name}: operands are {p} and {q} on mesh axis {axis}; that needs data "
                                 f"movement: {hint}")
    return tuple(out)


def _local(fn, *xs):
    """fn applied to each device's shards (FabricTensor operands by shard, others as given)."""
    n = next(x for x in xs if isinstance(x, FabricTensor)).mesh.size
    return [fn(*[x.shards[i] if isinstance(x, FabricTensor) else x for x in xs]) for i in range(n)]


def unary(name, x, **kw):
    pl = _unary_rule(name, x.placements)
    fn = getattr(_ops, name)
    return FabricTensor(_local(lambda t: fn(t, **kw), x), x.mesh, pl, x.shape)


def binary(name, a, b):
    pl = _binary_rule(name, a, b)
    fn = getattr(_ops, name)
    return FabricTensor(_local(fn, a, b), a.mesh, pl, a.shape)


def reduce_sum(x, dim=None, keepdim=False):
    """Sum over `dim` (None: all dims). A sharded dim summed becomes Partial(sum) on its axis."""
    dims = list(range(x.ndim)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    dims = sorted(d + x.ndim if d < 0 else d for d in dims)
    out = []
    for axis, p in enumerate(x.placements):
        if isinstance(p, Partial) and p.op not in _LINEAR_PARTIAL:
            raise PlacementError(f"sum: the input is {p} on mesh axis {axis}: {_fix(axis, 'x')} (all_reduce)")
        if isinstance(p, Shard) and p.dim in dims:
            out.append(Partial("sum"))
        elif isinstance(p, Shard) and not keepdim:
            out.append(Shard(p.dim - sum(d < p.dim for d in dims)))
        else:
            out.append(p)
    shape = [1 if d in dims else s for d, s in enumerate(x.shape)] if keepdim else \
        [s for d, s in enumerate(x.shape) if d not in dims]
    if dim is None and not keepdim:
        shards = _local(lambda t: t.sum(), x)
    else:
        shards = _local(lambda t: t.sum(dims, keepdim=keepdim), x)
    return FabricTensor(shards, x.mesh, out, shape)


def _matmul_rule(axis, p, q, a_ndim, out_ndim):
    """Placement of a @ b on one axis (b is a 2-D weight [k, n])."""
    last = a_ndim - 1
    if p == Replicate() and q == Replicate():
        return Replicate()
    if p == Replicate() and q == Shard(1):
        return Shard(out_ndim - 1)  # column-parallel
    if p == Shard(last) and q == Shard(0):
        return Partial("sum")  # row-parallel
    if isinstance(p, Shard) and p.dim < last and q == Replicate():
        return p  # rows of a split: data-parallel
    if isinstance(p, Partial) and p.op is ReduceOp.SUM and q == Replicate():
        return p
    if p == Replicate() and isinstance(q, Partial) and q.op is ReduceOp.SUM:
        return q
    if isinstance(q, Shard) and q.dim == 0:
        hint = f"a.redistribute(...) with Shard({last}) on mesh axis {axis} (row-parallel) or b with Replicate()"
    elif p == Shard(last):
        hint = f"b.redistribute(...) with Shard(0) on mesh axis {axis} (row-parallel) or a with Replicate()"
    else:
        hint = f"redistribute a or b to Replicate() on mesh axis {axis} (all_gather / all_reduce)"
    raise PlacementError(f"matmul: a is {p} and b is {q} on mesh axis {axis}; no rule computes that without "
                         f"moving data: call {hint}")


def matmul(a, b):
    if not isinstance(b, FabricTensor) or b.ndim != 2 or a.ndim < 1:
        raise PlacementError("matmul: fabric matmul takes a FabricTensor [..., k] @ a 2-D FabricTensor [k, n]")
    if a.mesh is not b.mesh:
        raise PlacementError("matmul: operands live on different meshes")
    if a.shape[-1] != b.shape[0]:
        raise ValueError(f"matmul: shapes {list(a.shape)} and {list(b.shape)} cannot be multiplied")
    shape = a.shape[:-1] + (b.shape[1],)
    pl = [_matmul_rule(ax, p, q, a.ndim, len(shape)) for ax, (p, q) in enumerate(zip(a.placements, b.placements))]
    return FabricTensor(_local(_ops.matmul, a, b), a.mesh, pl, shape)


def _install():
    for name in UNARY:
        setattr(FabricTensor, name, lambda self, _n=name, **kw: unary(_n, self, **kw))
    for name in BINARY:
        setattr(FabricTensor, name, lambda self, other, _n=name: binary(_n, self, other))
    FabricTensor.__add__ = lambda a, b: binary("add", a, b)
    FabricTensor.__radd__ = lambda a, b: binary("add", a, b)
    FabricTensor.__sub__ = lambda a, b: binary("sub", a, b)
    FabricTensor.__mul__ = lambda a, b: binary("mul", a, b)
    FabricTensor.__rmul__ = lambda a, b: binary("mul", a, b)
    FabricTensor.__truediv__ = lambda a, b: binary("div", a, b)
    FabricTensor.__neg__ = lambda a: unary("neg", a)
    FabricTensor.__matmul__ = matmul
    FabricTensor.matmul = matmul
    FabricTensor.sum = reduce_sum


_install()
