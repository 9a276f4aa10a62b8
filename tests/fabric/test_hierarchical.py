"""The hierarchical all_reduce (shared memory within a host, MPI between hosts) against the flat MPI one and
numpy, with one machine posing as several hosts (VIBETENSOR_FABRIC_RANKS_PER_HOST); and vt.fabric.init()
under a bare mpiexec choosing it."""
import glob
import os

import numpy as np
import pytest

pytest.importorskip("mpi4py")
from test_mpi import DEAD, mpirun, needs_mpiexec  # noqa: E402
from test_shm_collectives import check, make, reduce_ref, to_numpy, values  # noqa: E402

CASES = [(dtype, op) for dtype in ("float32", "float64", "float16", "bfloat16", "int64")
         for op in ("sum", "avg", "max", "min") if not (dtype == "int64" and op == "avg")]


# ---- what the ranks run ------------------------------------------------------------------------------------
def s_hier_vs_flat(numel):
    """Each case all-reduced by the hierarchical group and by a flat MpiGroup, from the same inputs."""
    from vibetensor.fabric.collectives.hierarchical import HierarchicalGroup
    from vibetensor.fabric.collectives.mpi import MpiGroup
    hier, flat = HierarchicalGroup(), MpiGroup()
    out = {"hosts": hier.hosts, "local": (hier.local.rank, hier.local.size), "leader": hier.leaders is not None}
    for i, (dtype, op) in enumerate(CASES):
        shape, nc = ((numel,), False) if i % 2 else ((numel // 3, 3), True)
        got = []
        for g in (hier, flat):
            x = make(values(g.rank, i, shape, dtype), dtype, nc)
            g.all_reduce(x, op)
            got.append(to_numpy(x))
        out[dtype, op] = got
    xs = [make(values(hier.rank, 100 + k, (999,), "float32"), "float32", False) for k in range(2)]
    works = [hier.all_reduce(xs[0], async_op=True), hier.all_reduce(xs[1], "max", async_op=True)]
    gathered = np.zeros(hier.size, np.int64)
    hier.all_gather(gathered, np.array([hier.rank * 10], np.int64))  # a sync call after async ones
    out["async"] = [to_numpy(w.wait()) for w in works]
    out["gathered"] = gathered
    hier.close()
    flat.close()
    return out


def s_dead_rank(victim):
    """Ranks 0-3 as 2 hosts x 2; the victim exits before an all_reduce; the others report what they saw."""
    import time
    from vibetensor.fabric.collectives.hierarchical import HierarchicalGroup
    g = HierarchicalGroup(timeout=1.0)
    g.barrier()
    if g.rank == victim:
        os._exit(3)
    t0 = time.monotonic()
    try:
        g.all_reduce(np.ones(100))
        return "completed"
    except Exception as e:  # noqa: BLE001 - what the test checks
        return e, time.monotonic() - t0


def s_init():
    import vibetensor as vt
    import vibetensor.fabric as fabric
    world = fabric.init()
    try:
        x = vt.full((6,), float(world.rank + 1))
        world.all_reduce(x, "avg")
        hosts = getattr(world, "hosts", None)
        return world.rank, world.size, world.local_rank, world.backend, hosts, x.numpy().copy()
    finally:
        fabric.destroy()


# ---- tests -------------------------------------------------------------------------------------------------
@needs_mpiexec
@pytest.mark.parametrize("n,per_host,hosts", [(4, "2", [[0, 1], [2, 3]]), (3, "2", [[0, 1], [2]]),
                                              (3, "", [[0, 1, 2]])])
def test_hierarchical_all_reduce_equals_flat(n, per_host, hosts):
    numel = 3000
    res = mpirun(n, s_hier_vs_flat, numel, env={"VIBETENSOR_FABRIC_RANKS_PER_HOST": per_host})
    for r, out in enumerate(res):
        assert out["hosts"] == hosts
        host = next(h for h in hosts if r in h)
        assert out["local"] == (host.index(r), len(host)) and out["leader"] == (host[0] == r)
        np.testing.assert_array_equal(out["gathered"], np.arange(n) * 10)
    for i, (dtype, op) in enumerate(CASES):
        shape = (numel,) if i % 2 else (numel // 3, 3)
        ref = reduce_ref([values(r, i, shape, dtype) for r in range(n)], op, dtype)
        hier0, flat0 = res[0][dtype, op]
        check(hier0, ref, dtype)
        check(flat0, ref, dtype)
        if dtype == "int64" or op in ("max", "min"):
            np.testing.assert_array_equal(hier0, flat0)
        else:  # the same sum, added in another order: within one rounding of the dtype
            check(hier0, flat0, dtype)
        for out in res[1:]:
            np.testing.assert_array_equal(out[dtype, op][0], hier0)  # every rank ends with the same bits
    ins = [[values(r, 100 + k, (999,), "float32") for r in range(n)] for k in range(2)]
    for out in res:
        check(out["async"][0], reduce_ref(ins[0], "sum", "float32"), "float32")
        check(out["async"][1], reduce_ref(ins[1], "max", "float32"), "float32")


@needs_mpiexec
def test_dead_rank_fails_the_others_within_the_timeout():
    from vibetensor.fabric.collectives.api import RankFailure
    before = set(glob.glob("/dev/shm/vtfab-*mpi*"))
    res = mpirun(4, s_dead_rank, 3, env={"VIBETENSOR_FABRIC_RANKS_PER_HOST": "2"}, keep_going=True, timeout=30)
    assert res[3] == DEAD
    for r in range(3):  # its host-mate by shared memory, the other host through the leaders and its broadcast
        err, elapsed = res[r]
        assert isinstance(err, RankFailure) and err.collective == "all_reduce", err
        assert elapsed < 4.0  # a timeout (1 s) per level at most: local, leaders, local broadcast
    assert res[2][0].ranks == (3,) and "(within the host)" in str(res[2][0])  # shared memory knows who
    assert set(glob.glob("/dev/shm/vtfab-*mpi*")) <= before  # survivors closed their host groups before leaving


@needs_mpiexec
@pytest.mark.parametrize("per_host,backend", [("2", "hierarchical"), ("", "shm")])
def test_init_under_mpiexec(per_host, backend):
    env = {"VIBETENSOR_FABRIC_RANKS_PER_HOST": per_host}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "VIBETENSOR_FABRIC_JOB"):
        env[var] = None  # a bare mpiexec: none of the launcher's variables
    res = mpirun(4, s_init, env=env)
    for r, (rank, size, local, got_backend, hosts, x) in enumerate(res):
        assert (rank, size, got_backend) == (r, 4, backend)
        assert local == r  # MPICH's MPI_LOCALRANKID: all four share this machine
        if backend == "hierarchical":
            assert hosts == [[0, 1], [2, 3]]
        np.testing.assert_array_equal(x, np.full(6, 2.5, np.float32))
