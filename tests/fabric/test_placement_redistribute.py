"""distribute / redistribute round trips for every pair of placements on 1-D and 2-D meshes (uneven shards
included), checked by assembling the shards with numpy, and the collective each change names."""
import itertools

import numpy as np
import pytest

import vibetensor as vt
from vibetensor import fabric
from vibetensor.fabric import Mesh, Partial, Replicate, Shard, distribute
from helpers import rng, to_numpy64

REDUCE = {"sum": np.add.reduce, "avg": np.mean, "max": np.maximum.reduce, "min": np.minimum.reduce}


def assemble(ft):
    """The global value from ft's shards, by the placements' definitions (independent of the library)."""
    arrs = np.empty(ft.mesh.shape, dtype=object)
    for flat, s in enumerate(ft.shards):
        arrs[ft.mesh.coords(flat)] = to_numpy64(s.detach().cpu())
    for axis in reversed(range(ft.mesh.ndim)):  # collapse the last mesh axis first
        p = ft.placements[axis]
        lines = np.moveaxis(arrs, axis, -1).reshape(-1, ft.mesh.shape[axis])
        out = []
        for line in lines:
            if isinstance(p, Shard):
                out.append(np.concatenate(list(line), p.dim))
            elif isinstance(p, Replicate):
                assert all(np.array_equal(line[0], x) for x in line), "replicas differ"
                out.append(line[0])
            else:
                out.append(REDUCE[p.op.value](np.stack(list(line)), 0) if len(line) > 1 else line[0])
        arrs = np.empty(len(out), dtype=object)
        for i, o in enumerate(out):
            arrs[i] = o
        arrs = arrs.reshape([n for i, n in enumerate(ft.mesh.shape) if i < axis] or [1])
    return arrs.reshape(-1)[0]


def check_shard_sizes(ft):
    for flat, s in enumerate(ft.shards):
        c = ft.mesh.coords(flat)
        for axis, p in enumerate(ft.placements):
            if isinstance(p, Shard):  # first ranks get one more
                n, total = ft.mesh.shape[axis], ft.shape[p.dim]
                assert s.shape[p.dim] == total // n + (1 if c[axis] < total % n else 0)


ONE_D = [Replicate(), Shard(0), Shard(1), Partial("sum"), Partial("max")]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_round_trips_1d(n):
    mesh = Mesh(fabric.virtual_devices("cpu", n), ("tp",))
    x = rng().standard_normal((5, 7))
    for src, dst in itertools.product(ONE_D, ONE_D):
        ft = distribute(vt.tensor(x), mesh, [src])
        np.testing.assert_allclose(assemble(ft), x, rtol=1e-12)
        out = ft.redistribute([dst])
        assert out.placements == (dst,) and out.shape == (5, 7)
        check_shard_sizes(out)
        np.testing.assert_allclose(assemble(out), x, rtol=1e-12, err_msg=f"{src} -> {dst}")
        np.testing.assert_allclose(out.full_tensor().numpy(), x, rtol=1e-12)


def test_collective_names():
    mesh = Mesh(fabric.virtual_devices("cpu", 3), ("tp",))
    x = vt.tensor(rng().standard_normal((6, 4)))
    names = {(Partial(), Replicate()): "tp: all_reduce(sum)", (Partial(), Shard(1)): "tp: reduce_scatter(sum)",
             (Shard(0), Replicate()): "tp: all_gather", (Replicate(), Shard(0)): "tp: local_slice",
             (Shard(0), Shard(1)): "tp: all_to_all", (Shard(1), Shard(1)): None}
    for (src, dst), name in names.items():
        got = distribute(x, mesh, [src]).redistribute([dst]).collectives
        assert got == ((name,) if name else ())


TWO_D = [Replicate(), Shard(0), Shard(1), Partial()]


@pytest.mark.parametrize("shape", [(2, 2), (2, 3)])
def test_round_trips_2d(shape):
    devs = fabric.virtual_devices("cpu", shape[0] * shape[1])
    mesh = Mesh([devs[r * shape[1]:(r + 1) * shape[1]] for r in range(shape[0])], ("dp", "tp"))
    x = rng().standard_normal((5, 7))
    valid = [p for p in itertools.product(TWO_D, TWO_D) if not (p[0] == p[1] and isinstance(p[0], Shard))]
    for src, dst in itertools.product(valid, valid):
        out = distribute(vt.tensor(x), mesh, src).redistribute(dst)
        check_shard_sizes(out)
        np.testing.assert_allclose(assemble(out), x, rtol=1e-12, err_msg=f"{src} -> {dst}")


def test_mesh_lines_and_errors():
    devs = fabric.virtual_devices("cpu", 6)
    mesh = Mesh([devs[:3], devs[3:]], ("dp", "tp"))
    assert mesh.lines("tp") == [[0, 1, 2], [3, 4, 5]] and mesh.lines("dp") == [[0, 3], [1, 4], [2, 5]]
    assert [g.size for g, _ in mesh.groups(0)] == [2, 2, 2]
    x = vt.zeros(4, 4)
    with pytest.raises(ValueError, match="expected 2 placement"):
        distribute(x, mesh, [Shard(0)])
    with pytest.raises(NotImplementedError, match="sharded by two mesh axes"):
        distribute(x, mesh, [Shard(0), Shard(-2)])
    with pytest.raises(IndexError, match="Shard\\(2\\): dim out of range"):
        distribute(x, Mesh(devs[:2]), [Shard(2)])
    with pytest.raises(ValueError, match="rows of equal length"):
        Mesh([devs[:2], devs[2:5]])


def test_mesh_from_topology_follows_the_planned_ring():
    from vibetensor.fabric import topology as topo
    g = topo.load(topo.fixture_path("pcie_4gpu_2socket"))
    ring = topo.plan_ring(g).order
    mesh = fabric.Mesh.from_topology(g)
    assert [d.device.index for d in mesh.devices] == list(ring)
    m2 = fabric.Mesh.from_topology(g, shape=(2, 2), axis_names=("dp", "tp"))
    assert [[m2.devices[i].device.index for i in line] for line in m2.lines("tp")] == [list(ring[:2]), list(ring[2:])]
    with pytest.raises(ValueError, match="does not hold 4 devices"):
        fabric.Mesh.from_topology(g, shape=(3, 2))
