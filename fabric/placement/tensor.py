"""FabricTensor: one logical tensor held by a mesh's devices (one process drives them all, so it holds
every local shard), and `distribute` to make one."""
from . import redistribute as rd
from .placements import Partial, Replicate, Shard, normalize
from .. import observe


class PlacementError(ValueError):
    """An op would need data movement the user did not ask for; the message says which redistribute to call."""


class FabricTensor:
    """Global `shape` and `dtype`, the `mesh`, one placement per mesh axis, and `shards`: the local tensor
    of each mesh device (flat, row-major). `collectives` names what the last redistribute ran."""

    def __init__(self, shards, mesh, placements, shape, collectives=()):
        self.mesh, self.shape = mesh, tuple(shape)
        self.placements = normalize(placements, len(self.shape), mesh.ndim)
        if len(shards) != mesh.size:
            raise ValueError(f"FabricTensor: {len(shards)} shards for a mesh of {mesh.size} devices")
        self.shards, self.collectives = list(shards), tuple(collectives)

    dtype = property(lambda self: self.shards[0].dtype)
    ndim = property(lambda self: len(self.shape))
    requires_grad = property(lambda self: any(s.requires_grad for s in self.shards))

    def local_shards(self):
        return list(self.shards)

    def requires_grad_(self, value=True):
        """Makes every shard a leaf that collects its own gradient."""
        for s in self.shards:
            s.requires_grad_(value)
        return self

    @property
    def grad(self):
        """The shards' gradients as a FabricTensor of the same placements (None when there are none)."""
        gs = [s.grad for s in self.shards]
        return None if any(g is None for g in gs) else FabricTensor(gs, self.mesh, self.placements, self.shape)

    def redistribute(self, placements):
        """The same value with new placements; `.collectives` of the result names each collective run."""
        dst = normalize(placements, self.ndim, self.mesh.ndim)
        cur, shards, ran = list(self.placements), list(self.shards), []
        for axis, target in _order(cur, dst):
            names = set()
            for group, line in self.mesh.groups(axis):
                new, name = rd.change(group, [shards[i] for i in line], cur[axis], target, self.shape)
                for i, t in zip(line, new):
                    shards[i] = t
                names.add(name)
            cur[axis] = target
            if names != {None}:
                ran.append(f"{self.mesh.axis_names[axis]}: {names.pop()}")
                observe.record("redistribute", group=self.mesh.axis_names[axis], detail=ran[-1])
        return FabricTensor(shards, self.mesh, dst, self.shape, ran)

    def full_tensor(self):
        """The whole value (all-gathers / all-reduces as needed), on the first mesh device."""
        return self.redistribute([Replicate()] * self.mesh.ndim).shards[0]

    def __repr__(self):
        return (f"FabricTensor(shape={list(self.shape)}, dtype={self.dtype}, placements={list(self.placements)}, "
                f"mesh={self.mesh.shape})")


def _order(cur, dst):
    """(axis, placement) steps from cur to dst such that no two axes ever shard one dim: axes that stop
    sharding go first; an axis whose target dim another axis still shards goes through Replicate."""
    cur, steps = list(cur), []
    pending = [a for a in range(len(cur)) if cur[a] != dst[a]]
    for a in [a for a in pending if not isinstance(dst[a], Shard)]:
        steps.append((a, dst[a]))
        cur[a] = dst[a]
    pending = [a for a in pending if isinstance(dst[a], Shard)]
    while pending:
        free = [a for a in pending if not any(cur[b] == dst[a] for b in range(len(cur)) if b != a)]
        if free:
            a = free[0]
            pending.remove(a)
            steps.append((a, dst[a]))
            cur[a] = dst[a]
        else:  # every pending target dim is held by another pending axis: release one
            a = pending[0]
            steps.append((a, Replicate()))
            cur[a] = Replicate()
    return steps


def distribute(tensor, mesh, placements):
    """Cuts `tensor` onto `mesh` per `placements`: every device gets its own copy of its part (differentiable:
    gradients flow back to `tensor`). Partial: the first device of the axis holds the value, the rest the
    reduction's identity (0 for sum)."""
    pl = normalize(placements, tensor.dim(), mesh.ndim)
    shards = []
    for flat, dev in enumerate(mesh.devices):
        local, coords = tensor, mesh.coords(flat)
        for axis, p in enumerate(pl):
            if isinstance(p, Shard):
                local = rd.local_chunk(local, p.dim, coords[axis], mesh.shape[axis])
        local = local.to(dev.device, copy=True).contiguous()
        for axis, p in enumerate(pl):
            if isinstance(p, Partial) and coords[axis] != 0 and p.op.value == "sum":
                local = local * 0
        shards.append(local)
    return FabricTensor(shards, mesh, pl, tuple(tensor.shape))
