"""float32 matmul throughput on CPU: vibetensor's own GEMM vs numpy (its BLAS) vs torch, in one run.

    python benchmarks/cpu_matmul.py                      # sizes 256 512 1024 2048, writes the JSON
    python benchmarks/cpu_matmul.py --sizes 128 4096 --rounds 9

Each size is validated first (every library's product against a float64 reference), then timed: the
libraries take turns in short blocks (so load from other processes hits them alike), each block after an
idle pause (so one library's spinning thread pool does not slow the next) and a warm-up call; each library
reports the median of all its timings (time.perf_counter). The same is then measured with every library on one thread (a child process),
the engines' per-core speed. Results: tables on stdout and benchmarks/results/cpu_matmul.json with the CPU
model, thread counts, versions, load average and the time ratios (vibetensor time / other time; < 2 vs
numpy is the target).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import vibetensor as vt

try:
    import torch
except ImportError:  # torch is optional: its column is left out
    torch = None

RESULTS = Path(__file__).resolve().parent / "results" / "cpu_matmul.json"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_blas():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older numpy: no dict mode
        return "unknown"


def contenders(a, b):
    """name -> zero-argument function computing a @ b in that library (inputs converted once, outside)."""
    out = {"vibetensor": (lambda x=vt.from_numpy(a), y=vt.from_numpy(b): vt.matmul(x, y)),
           "numpy": (lambda: np.matmul(a, b))}
    if torch is not None:
        out["torch"] = lambda x=torch.from_numpy(a), y=torch.from_numpy(b): torch.matmul(x, y)
    return out


def as_numpy(r):
    return r if isinstance(r, np.ndarray) else r.numpy()


def validate(n, fns, a, b):
    ref = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    for name, fn in fns.items():
        err = np.max(np.abs(as_numpy(fn()) - ref) / scale)
        if not err < n * 2.0**-23:  # float32 rounding over a length-n sum
            raise SystemExit(f"{name} @ {n}: relative error {err:.3g} is too large; not timing a wrong result")


def time_size(n, rounds, block_time, settle, gen):
    a = gen.standard_normal((n, n), dtype=np.float32)
    b = gen.standard_normal((n, n), dtype=np.float32)
    fns = contenders(a, b)
    validate(n, fns, a, b)
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            # BLAS and OpenMP pools spin for a while after a call: let the last library's threads go idle
            # so they do not steal this one's cores, then warm up (one call) and time a block of calls.
            time.sleep(settle)
            fn()
            block_start = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t0)
                if time.perf_counter() - block_start > block_time:
                    break
    flops = 2.0 * n**3
    med = {name: statistics.median(s) for name, s in samples.items()}
    row = {"size": n, "samples": {name: len(s) for name, s in samples.items()}, "median_s": med,
           "gflops": {name: flops / t / 1e9 for name, t in med.items()},
           "time_ratio_vs_numpy": med["vibetensor"] / med["numpy"]}
    if "torch" in med:
        row["time_ratio_vs_torch"] = med["vibetensor"] / med["torch"]
    return row


# One thread for every library: the engines' per-core speed, which other load on a shared machine disturbs
# far less than the thread pools' hand-offs.
SINGLE_THREAD_ENV = {"VIBETENSOR_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1"}


def print_table(title, rows):
    names = list(rows[0]["gflops"])
    print(title)
    print(f"{'size':>6} " + " ".join(f"{n:>11}" for n in names) + "   vt/numpy time" +
          ("   vt/torch time" if "torch" in names else ""))
    for r in rows:
        line = f"{r['size']:>6} " + " ".join(f"{r['gflops'][n]:>11.1f}" for n in names)
        line += f"   {r['time_ratio_vs_numpy']:>14.2f}"
        if "torch" in names:
            line += f"   {r['time_ratio_vs_torch']:>14.2f}"
        print(line)


def single_thread_rows(args):
    """The same measurement in a child process whose libraries all run on one thread."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--rows-only", "--sizes", *map(str, args.sizes),
           "--rounds", str(args.rounds), "--block-time", str(args.block_time), "--settle", str(args.settle)]
    out = subprocess.run(cmd, env=dict(os.environ, **SINGLE_THREAD_ENV), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--rounds", type=int, default=5, help="blocks of timed calls per library and size")
    p.add_argument("--block-time", type=float, default=0.2, help="seconds of timed calls per block (>= 1 call)")
    p.add_argument("--settle", type=float, default=0.3, help="idle seconds before each block")
    p.add_argument("--no-single-thread", action="store_true", help="skip the one-thread-per-library table")
    p.add_argument("--rows-only", action="store_true", help=argparse.SUPPRESS)  # the single-thread child
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    gen = np.random.default_rng(0)
    if args.rows_only:
        print(json.dumps([time_size(n, args.rounds, args.block_time, args.settle, gen) for n in args.sizes]))
        return 0
    load_before = os.getloadavg()[0]
    rows = [time_size(n, args.rounds, args.block_time, args.settle, gen) for n in args.sizes]
    single = None if args.no_single_thread else single_thread_rows(args)
    load_after = os.getloadavg()[0]

    print_table(f"float32 matmul, GFLOP/s (median), {cpu_model()}, load average {load_before:.2f} -> "
                f"{load_after:.2f}\ndefault threads (vibetensor {vt.get_num_threads()}, "
                f"torch {torch.get_num_threads() if torch else '-'}, numpy: its BLAS default)", rows)
    if single:
        print_table("one thread each", single)

    result = {
        "benchmark": "cpu_matmul", "dtype": "float32", "device": cpu_model(), "cpu_count": os.cpu_count(),
        "threads": {"vibetensor": vt.get_num_threads(), "torch": torch.get_num_threads() if torch else None},
        "versions": {"python": platform.python_version(), "vibetensor": getattr(vt, "__version__", "?"),
                     "numpy": np.__version__, "numpy_blas": numpy_blas(),
                     "torch": torch.__version__ if torch else None},
        "timing": "median of time.perf_counter samples taken in alternating per-library blocks, each after an "
                  "idle pause and a warm-up call; every result validated against float64 first",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        # The machine may be shared: a 1-minute load well above the core count means contended timings.
        "load_average_1min": {"before": load_before, "after": load_after},
        "results": rows,
    }
    if single:
        result["single_thread"] = {"env": SINGLE_THREAD_ENV, "results": single}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
