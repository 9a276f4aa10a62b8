"""Placements: how one mesh axis holds a tensor (torch DTensor's vocabulary).

Shard(dim): each device of the axis holds one slice along `dim` (uneven sizes: the first
numel % n devices get one more, as fabric.collectives.schedule.chunk_bounds cuts messages; torch DTensor
uses torch.chunk's ceil-sized pieces instead, which differs when that leaves trailing devices short, e.g.
5 over 4: here 2,1,1,1, torch 2,2,1,0).
Replicate(): each holds the whole tensor. Partial(op): each holds a full-size tensor and the value is
their reduction (a row-parallel matmul's output before its all-reduce).
"""
from ..collectives.api import ReduceOp


class Placement:
    def is_shard(self, dim=None):
        return False

    def is_replicate(self):
        return False

    def is_partial(self):
        return False


class Shard(Placement):
    def __init__(self, dim):
        self.dim = int(dim)

    def is_shard(self, dim=None):
        return dim is None or dim == self.dim

    def normalized(self, ndim):
        d = self.dim + ndim if self.dim < 0 else self.dim
        if not 0 <= d < max(ndim, 1) or ndim == 0:
            raise IndexError(f"Shard({self.dim}): dim out of range for a {ndim}-d tensor")
        return Shard(d)

    def __eq__(self, other):
        return isinstance(other, Shard) and other.dim == self.dim

    def __hash__(self):
        return hash(("shard", self.dim))

    def __repr__(self):
        return f"Shard({self.dim})"


class Replicate(Placement):
    def is_replicate(self):
        return True

    def __eq__(self, other):
        return isinstance(other, Replicate)

    def __hash__(self):
        return hash("replicate")

    def __repr__(self):
        return "Replicate()"


class Partial(Placement):
    def __init__(self, op="sum"):
        self.op = ReduceOp.of(op)

    def is_partial(self):
        return True

    def __eq__(self, other):
        return isinstance(other, Partial) and other.op is self.op

    def __hash__(self):
        return hash(("partial", self.op))

    def __repr__(self):
        return f"Partial({self.op.value!r})" if self.op is not ReduceOp.SUM else "Partial()"


def normalize(placements, ndim, mesh_ndim):
    """A tuple of mesh_ndim placements with non-negative Shard dims; one tensor dim sharded by one axis."""
    if isinstance(placements, Placement):
        placements = (placements,)
    placements = tuple(placements)
    if len(placements) != mesh_ndim:
        raise ValueError(f"expected {mesh_ndim} placement(s) (one per mesh axis), got {list(placements)}")
    out = []
    for p in placements:
        if not isinstance(p, Placement):
            raise TypeError(f"placements are Shard(dim), Replicate() or Partial(op), got {p!r}")
        out.append(p.normalized(ndim) if isinstance(p, Shard) else p)
    dims = [p.dim for p in out if isinstance(p, Shard)]
    if len(dims) != len(set(dims)):
        raise NotImplementedError(f"placements {out}: a tensor dim sharded by two mesh axes is not supported; "
                                  f"shard different dims")
    return tuple(out)
