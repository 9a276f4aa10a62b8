"""The MPI transport against numpy: real ranks started by mpiexec, random inputs, and dead or late peers.

Each test starts one `mpiexec -n N python test_mpi.py ...` (this file is also the rank-side runner, see main()),
which runs one function of a test module on every rank and pickles each rank's result for the test to check
against a float64 reference. Subprocesses have hard timeouts: a hang is a failure, never a stuck test run.
"""
import glob
import importlib.util
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import zlib

import numpy as np
import pytest

if __name__ != "__main__":
    pytest.importorskip("mpi4py")
    from test_shm_collectives import (check, r_all_gather, r_all_reduce, r_all_to_all, r_async, r_broadcast,
                                      r_reduce_scatter, r_send_recv, r_split, reduce_ref, values)

MPIEXEC = next((p for p in (os.path.join(os.path.dirname(sys.executable), "mpiexec"),) if os.path.exists(p)),
               None) or __import__("shutil").which("mpiexec")
needs_mpiexec = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install mpich, or a system MPI)")
DEAD = "<died>"  # a rank that wrote no result
MPICH_SHM = "/dev/shm/mpich_shm_*"


def mpirun(n, fn, *args, env=None, timeout=60, keep_going=False):
    """fn(*args) on n ranks under mpiexec -> [result of rank 0, ...]; a rank's exception fails the test with its
    traceback (or is returned as text, with keep_going: then a rank's exit does not stop the others, as it
    would under mpiexec's default). env: variables to set (None: to unset). The whole job is killed after
    `timeout` seconds."""
    with tempfile.TemporaryDirectory(prefix="vtmpi") as out:
        with open(os.path.join(out, "args.pkl"), "wb") as f:
            pickle.dump(args, f)
        cmd = [MPIEXEC, "-n", str(n)] + (["-disable-auto-cleanup"] if keep_going else []) + [
            sys.executable, os.path.abspath(__file__), sys.modules[fn.__module__].__file__, fn.__name__, out]
        full_env = dict(os.environ, VIBETENSOR_FABRIC_TIMEOUT="20",
                        VIBETENSOR_TEST_KEEP_GOING="1" if keep_going else "")
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        before = set(glob.glob(MPICH_SHM))
        proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            log = proc.communicate(timeout=timeout)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            log = proc.communicate()[0].decode(errors="replace")
            pytest.fail(f"mpiexec -n {n} {fn.__name__} hung for {timeout} s:\n{log[-3000:]}")
        left, deadline = set(glob.glob(MPICH_SHM)) - before if keep_going else (), time.monotonic() + 3
        while left and time.monotonic() < deadline:  # killed ranks may outlive mpiexec by a moment
            left = remove_orphaned(left)
            time.sleep(0.05 if left else 0)
        results = []
        for r in range(n):
            path = os.path.join(out, f"rank{r}.pkl")
            if not os.path.exists(path):
                results.append(DEAD)
                continue
            with open(path, "rb") as f:
                ok, value = pickle.load(f)
            if not ok and not keep_going:
                pytest.fail(f"rank {r} of {fn.__name__} raised:\n{value}\n--- mpiexec output:\n{log[-3000:]}")
            results.append(value)
        if not keep_going and (proc.returncode != 0 or DEAD in results):
            pytest.fail(f"mpiexec -n {n} {fn.__name__} exited {proc.returncode}:\n{log[-3000:]}")
        return results


def remove_orphaned(segments):
    """MPICH unlinks its shared-memory segment in MPI_Finalize, which an aborted job skips: remove the ones our
    job made that no process maps any more (a concurrent job's segment is mapped by its ranks)."""
    mapped = set()
    for maps in glob.glob("/proc/[0-9]*/maps"):
        try:
            with open(maps) as f:
                mapped.update(line.split()[-1] for line in f if "/dev/shm/" in line)
        except OSError:
            pass
    for seg in segments - mapped:
        try:
            os.unlink(seg)
        except OSError:
            pass
    return segments & mapped


def main(module_path, fn_name, out):
    """Rank side: runs fn from module_path and pickles (ok, result or traceback) to out/rank<r>.pkl."""
    from mpi4py import MPI
    spec = importlib.util.spec_from_file_location("vt_mpi_scenario", module_path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    with open(os.path.join(out, "args.pkl"), "rb") as f:
        args = pickle.load(f)
    rank = MPI.COMM_WORLD.Get_rank()
    try:
        result = (True, getattr(mod, fn_name)(*args))
    except BaseException:  # noqa: BLE001 - reported to the test
        result = (False, traceback.format_exc())
    with open(os.path.join(out, f"rank{rank}.pkl") + ".tmp", "wb") as f:
        pickle.dump(result, f)
    os.rename(os.path.join(out, f"rank{rank}.pkl") + ".tmp", os.path.join(out, f"rank{rank}.pkl"))
    from vibetensor import config
    from vibetensor.fabric.collectives import mpi
    if config.get("VIBETENSOR_TEST_KEEP_GOING") and not mpi._peer_failed:
        # A job with a dead rank cannot finalize. mpiexec's default cleanup (off with keep_going) would stop the
        # ranks that saw no failure themselves; those that saw one leave through mpi's exit handler, which the
        # test's hard timeout checks does not hang.
        sys.stdout.flush()
        os._exit(0)


def group(timeout=None):
    from vibetensor.fabric.collectives.mpi import MpiGroup
    return MpiGroup(timeout=timeout)


# ---- what the ranks run ------------------------------------------------------------------------------------
DTYPES = ("float32", "float64", "float16", "bfloat16", "int64")
SHAPES = (((1,), False), ((1000,), False), ((7, 3), True))  # (7, 3) non-contiguous: a transposed view


def s_collectives():
    """Every collective on every dtype it takes; {case: this rank's result}."""
    g, res = group(), {}
    n = g.size
    for dtype in DTYPES:
        for op in ("sum", "max", "min") + (() if dtype == "int64" else ("avg",)):
            for shape, nc in SHAPES:
                seed = zlib.crc32(repr((n, dtype, op, shape)).encode()) % 10000  # hash() differs per process
                res["all_reduce", dtype, op, shape] = (seed, r_all_reduce(g, seed, shape, dtype, op, "auto", nc))
    for dtype in ("float32", "bfloat16", "float16", "int64"):
        for m, op, nc in ((1, "sum", False), (40, "max", True), (6, "min", False)) + (
                ((6, "avg", False),) if dtype != "int64" else ()):
            res["reduce_scatter", dtype, m, op] = r_reduce_scatter(g, 7, m, dtype, op, nc)
    for dtype in ("float64", "bfloat16", "int64"):
        for m, nc in ((1, False), (300, True)):
            res["all_gather", dtype, m] = r_all_gather(g, 11, m, dtype, nc)
        res["broadcast", dtype] = r_broadcast(g, 12, (33, 5), dtype, n - 1)
        res["all_to_all", dtype] = r_all_to_all(g, 13, 17, dtype)
    res["async"] = r_async(g, 21, 5000)
    if n > 1:
        res["send_recv"] = r_send_recv(g, 31, 777)
        res["split"] = r_split(g, 41)
    g.close()
    return res


def s_errors():
    """The same bad calls on a ShmGroup and an MpiGroup of one rank: [(exception type, message)] for each."""
    import vibetensor as vt
    from vibetensor.fabric.collectives.shm import ShmGroup
    x = vt.randn(4)
    calls = [lambda g: g.reduce_scatter(vt.zeros(3), x), lambda g: g.all_gather(vt.zeros(4, dtype=vt.float64), x),
             lambda g: g.all_reduce(vt.tensor([1, 2]), "avg"), lambda g: g.all_reduce(x, "median"),
             lambda g: g.all_reduce(x, algorithm="tree"), lambda g: g.broadcast(x, src=1),
             lambda g: g.send(x, 0), lambda g: g.recv(x, 3), lambda g: g.all_reduce([1.0, 2.0]),
             lambda g: g.all_to_all(vt.zeros(3), vt.zeros(4)), lambda g: g.split([0, 0]),
             lambda g: (g.close(), g.all_reduce(x))]
    out = []
    for g in (ShmGroup(0, 1, job=f"mpierr{os.getpid()}"), group()):
        seen = []
        for call in calls:
            try:
                call(g)
                seen.append(None)
            except Exception as e:  # noqa: BLE001 - what we compare
                seen.append((type(e).__name__, str(e)))
        out.append(seen)
    return out


def s_dead_peer(victim, how):
    """The victim leaves before the collective (exits, or is late by more than the timeout); the others report
    what they saw and how long it took."""
    g = group(timeout=1.0)
    g.barrier()
    if g.rank == victim:
        if how == "exit":
            os._exit(3)
        time.sleep(2.5)
        return "late"
    t0 = time.monotonic()
    try:
        if how == "recv":
            g.recv(np.zeros(4), victim)
        else:
            g.all_reduce(np.ones(1000))
        return "completed"
    except Exception as e:  # noqa: BLE001 - what the test checks
        err, elapsed = e, time.monotonic() - t0
    try:
        g.barrier()
        after = "usable"
    except Exception as e2:  # noqa: BLE001
        after = str(e2)
    return err, elapsed, after


# ---- tests -------------------------------------------------------------------------------------------------
@needs_mpiexec
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_collectives_match_numpy(n):
    res = mpirun(n, s_collectives)
    for key in res[0]:
        if key[0] == "all_reduce":
            _, dtype, op, shape = key
            seed = res[0][key][0]
            check(res[0][key][1], reduce_ref([values(r, seed, shape, dtype) for r in range(n)], op, dtype), dtype)
            for rr in res[1:]:  # every rank ends with the same bits
                np.testing.assert_array_equal(rr[key][1], res[0][key][1])
        elif key[0] == "reduce_scatter":
            _, dtype, m, op = key
            full = reduce_ref([values(r, 7, (n * m, 3), dtype) for r in range(n)], op, dtype)
            for r in range(n):
                check(res[r][key], full[r * m:(r + 1) * m], dtype)
        elif key[0] == "all_gather":
            _, dtype, m = key
            ref = np.concatenate([values(r, 11, (m, 2), dtype) for r in range(n)])
            for r in range(n):
                np.testing.assert_array_equal(res[r][key], ref)
        elif key[0] == "broadcast":
            for r in range(n):
                np.testing.assert_array_equal(res[r][key], values(n - 1, 12, (33, 5), key[1]))
        elif key[0] == "all_to_all":
            ins = [values(r, 13, (n * 17,), key[1]) for r in range(n)]
            for j in range(n):
                ref = np.concatenate([ins[i][j * 17:(j + 1) * 17] for i in range(n)])
                np.testing.assert_array_equal(res[j][key], ref)
    ins = [[values(r, 21 + i, (5000,), "float32") for r in range(n)] for i in range(3)]
    for r in range(n):
        for got, ref_in, op in zip(res[r]["async"], ins, ("sum", "max", "min")):
            check(got, reduce_ref(ref_in, op, "float32"), "float32")
    if n > 1:
        for r in range(n):
            np.testing.assert_array_equal(res[r]["send_recv"], values((r - 1) % n, 31, (777,), "float32"))
            sub_rank, sub_size, x, y = res[r]["split"]
            same = list(range(r % 2, n, 2))
            assert (sub_rank, sub_size) == (same.index(r), len(same))
            np.testing.assert_allclose(x, sum(values(q, 41, (5,), "float64") for q in same), rtol=1e-12)
            if r in (0, n - 1):
                np.testing.assert_array_equal(y, values(n - 1, 42, (4,), "float64"))


@needs_mpiexec
def test_bad_arguments_raise_what_shm_raises():
    shm, mpi = mpirun(1, s_errors)[0]
    assert all(e is not None for e in shm), shm
    assert mpi == shm


@needs_mpiexec
@pytest.mark.parametrize("how", ["exit", "late", "recv"])
def test_dead_or_late_peer_raises_rank_failure(how):
    from vibetensor.fabric.collectives.api import RankFailure
    t0 = time.monotonic()
    res = mpirun(3, s_dead_peer, 1, how, keep_going=True, timeout=30)
    assert time.monotonic() - t0 < 15
    assert res[1] == (DEAD if how == "exit" else "late")
    for r in (0, 2):
        err, elapsed, after = res[r]
        assert isinstance(err, RankFailure), err
        kind = "recv" if how == "recv" else "all_reduce"
        assert err.collective == kind and f"{kind}: " in str(err)
        if how == "recv":  # point to point: MPI knows who
            assert err.ranks == (1,) and str(err) == "recv: rank 1 did not arrive within 1 s"
        elif how == "late":  # a collective: MPI cannot say which rank
            assert str(err).startswith("all_reduce: a peer did not arrive within 1 s")
        assert elapsed < 5.0
        assert "unusable after an earlier failure" in after


if __name__ == "__main__":
    main(*sys.argv[1:4])
