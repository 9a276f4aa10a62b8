"""CPU all_reduce between processes on one host: vibetensor's shared-memory transport vs torch.distributed gloo
vs mpi4py's Allreduce (MPICH), float32 sum in place, 4 KB to 64 MB, 2 and 4 processes.

    python benchmarks/cpu_allreduce.py                     # writes benchmarks/results/cpu_allreduce.json
    python benchmarks/cpu_allreduce.py --worlds 2 --sizes 4096 1048576 --samples 3

Every library runs the same loop on every rank: a warm-up call, then `samples` timed blocks of `iters` calls
(iters shrinks with the size, the same on all ranks), each block after a barrier; a block's time / iters is one
sample and rank 0's median over all rounds is reported. The libraries take turns size by size (`rounds` times),
so a burst of load from other processes (the load average is noted in the JSON) or a phase of the host's hits them
alike; still, compare ratios from one run only.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import print_table, versions, write_results  # noqa: E402

SIZES = [4 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20]


def iters_for(nbytes):
    return max(2, min(200, (16 << 20) // nbytes))


def timed(allreduce, barrier, buf, sizes, samples, wrap=lambda a: a):
    """{nbytes: [seconds per call]} measured on this rank. wrap: the library's own tensor over a slice of buf,
    made once per size (as mpi4py is given its numpy buffer): not a per-call conversion."""
    out = {}
    np.seterr(over="ignore", invalid="ignore")  # repeated in-place sums overflow to inf: the speed is the same
    for nbytes in sizes:
        x = wrap(buf[:nbytes // 4])
        allreduce(x)
        n, times = iters_for(nbytes), []
        for _ in range(samples):
            barrier()
            t0 = time.perf_counter()
            for _ in range(n):
                allreduce(x)
            times.append((time.perf_counter() - t0) / n)
        out[nbytes] = times
    return out


def rng_buffer(rank, sizes):
    return np.random.default_rng(rank).standard_normal(max(sizes) // 4).astype(np.float32)


# ---- the three contenders, each run on every rank -------------------------------------------------------
def run_ours(g, sizes, samples):
    import vibetensor as vt
    from vibetensor.fabric import observe
    buf = vt.from_numpy(rng_buffer(g.rank, sizes))
    flat = buf.numpy()
    res = timed(g.all_reduce, g.barrier, flat, sizes, samples, vt.from_numpy)

    def used(nbytes):  # the algorithm that ran, as the transport recorded it
        seq = observe.last_seq()
        g.all_reduce(vt.from_numpy(flat[:nbytes // 4]))
        return [e.algorithm for e in observe.events(since=seq) if e.kind == "all_reduce"][-1]
    return res, {n: used(n) for n in sizes}


def run_gloo(g, port, sizes, samples):
    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=g.rank, world_size=g.size)
    try:
        buf = torch.from_numpy(rng_buffer(g.rank, sizes))
        return timed(dist.all_reduce, dist.barrier, buf.numpy(), sizes, samples, torch.from_numpy)
    finally:
        dist.destroy_process_group()


def mpi_worker(sizes, samples):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    buf = rng_buffer(comm.rank, sizes)
    res = timed(lambda x: comm.Allreduce(MPI.IN_PLACE, x, op=MPI.SUM), comm.Barrier, buf, sizes, samples)
    if comm.rank == 0:
        print("RESULT " + json.dumps({str(k): v for k, v in res.items()}), flush=True)


def run_mpi(world, sizes, samples):
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        return None, "no mpiexec (pip install mpi4py mpich)"
    cmd = [mpiexec, "-n", str(world), sys.executable, os.path.abspath(__file__), "--mpi-worker",
           "--sizes", *map(str, sizes), "--samples", str(samples)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode or not line:
        return None, f"mpiexec failed ({p.returncode}): {p.stderr[-400:]}"
    return {int(k): v for k, v in json.loads(line[0][7:]).items()}, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worlds", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", help="JSON path (default benchmarks/results/cpu_allreduce.json)")
    ap.add_argument("--mpi-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mpi_worker:
        return mpi_worker(args.sizes, args.samples)

    from vibetensor.fabric.collectives.shm_launch import RankPool
    load_before, results, notes = os.getloadavg(), [], {}
    for world in args.worlds:
        measured = {}

        def add(name, res):
            for nbytes, times in res.items():
                measured.setdefault(name, {}).setdefault(nbytes, []).extend(times)
        algos = {}
        with RankPool(world, env={"VIBETENSOR_FABRIC_TIMEOUT": "120", "OMP_NUM_THREADS": "1"}) as pool:
            # The libraries take turns size by size, so a burst of load hits them alike: on this 2-vCPU VM the
            # host's placement of the vCPUs changes for seconds at a time, and while they sit apart a write to
            # lines the other vCPU has read costs ~7x (a 1 MB all-reduce of ours 5-6x); whole rounds per
            # library let such a phase fall on one library alone.
            for rnd in range(args.rounds):
                for k, nbytes in enumerate(args.sizes):
                    ours, used = pool.run(run_ours, [nbytes], args.samples, timeout=900)[0]
                    add("vibetensor_shm", ours)
                    algos.update(used)
                    try:
                        port = 20000 + 2000 * world + 100 * rnd + k  # a fresh gloo store per case
                        add("torch_gloo", pool.run(run_gloo, port, [nbytes], args.samples, timeout=900)[0])
                    except Exception as e:  # noqa: BLE001 - torch missing or gloo unusable: say so, keep the rest
                        notes[f"torch_gloo_{world}"] = str(e)[-400:]
                    mpi, why = run_mpi(world, [nbytes], args.samples)
                    if mpi is not None:
                        add("mpi4py_mpich", mpi)
                    else:
                        notes[f"mpi4py_{world}"] = why
        rows = []
        for nbytes in args.sizes:
            med = {k: statistics.median(v[nbytes]) for k, v in measured.items()}
            entry = {"world": world, "bytes": nbytes, "algorithm": algos[nbytes],
                     "median_s": med, "algbw_GBps": {k: nbytes / s / 1e9 for k, s in med.items()},
                     "speedup_vs": {k: med[k] / med["vibetensor_shm"] for k in med if k != "vibetensor_shm"}}
            results.append(entry)
            rows.append([world, _fmt_bytes(nbytes), algos[nbytes]]
                        + [f"{med[k] * 1e6:.1f}" if k in med else "-"
                           for k in ("vibetensor_shm", "torch_gloo", "mpi4py_mpich")]
                        + [f"{entry['speedup_vs'].get(k, float('nan')):.2f}x" for k in ("torch_gloo", "mpi4py_mpich")])
        print_table(f"all_reduce float32 sum, {world} processes (median us per call; speedup = their time / ours)",
                    ["world", "size", "algo", "ours_us", "gloo_us", "mpi_us", "vs_gloo", "vs_mpi"], rows)
    write_results("cpu_allreduce", results, args.out, load_avg_before=load_before, load_avg_after=os.getloadavg(),
                  samples=args.samples, rounds=args.rounds, notes=notes, versions={**versions(), **_mpi_version()})


def _fmt_bytes(n):
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n >> 10} KB"


def _mpi_version():
    try:
        import mpi4py
        return {"mpi4py": mpi4py.__version__}
    except ImportError:
        return {}


if __name__ == "__main__":
    main()
