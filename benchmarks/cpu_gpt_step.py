"""Training-step time of the small GPT (examples/gpt_reversal.py) on CPU: vibetensor vs PyTorch, one run.

Both libraries build the same model from the same numpy-seeded weights, use the same thread count and
time the same work: a full training step (forward, cross-entropy, backward, AdamW update) and a forward
pass under no_grad. Samples alternate between the libraries so a change in machine load hits both;
each figure is the median over rounds of median_time's medians. The first step's losses are compared
before timing (same weights and batch: they must agree).

    python benchmarks/cpu_gpt_step.py                  # both configs, 1 thread and vibetensor's default
    python benchmarks/cpu_gpt_step.py --threads 1 --rounds 5

The machine's load average is recorded with the results. OMP_WAIT_POLICY defaults to PASSIVE here (set
it to ACTIVE to override): PyTorch's OpenMP workers otherwise spin-wait, and on a shared CPU whose cores
other processes also want they starve each other, making PyTorch 10-50x slower at 2 threads: a figure
about the machine's load, not about PyTorch.
"""
import argparse
import contextlib
import os
import statistics
import sys

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported: see the docstring
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
from common import median_time, print_table, versions, write_results  # noqa: E402

import gpt_reversal as gpt  # noqa: E402
import vibetensor.torch as vtorch  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

CONFIGS = {  # name -> Config overrides; "example" is what the test suite trains
    "example d48 L2 T16 B32": dict(d_model=48, heads=4, layers=2, length=8, batch=32),
    "wider d128 L4 T64 B16": dict(d_model=128, heads=4, layers=4, length=32, batch=16, symbols=32),
}


def workload(lib, cfg, device="cpu", autocast=None):
    """(train_step, forward, first loss) closures for one library on one fixed batch; with `autocast` (a dtype
    name, "bfloat16") each step and forward runs inside lib.autocast(device, that dtype), float32 weights."""
    model, opt, _ = gpt.build(lib, cfg, device)
    inputs, targets = gpt.make_batch(np.random.default_rng(cfg.seed + 2), cfg, cfg.batch)
    x, y = lib.tensor(inputs, device=device), lib.tensor(targets, device=device)

    def region():
        return lib.autocast(device, dtype=getattr(lib, autocast)) if autocast else contextlib.nullcontext()

    with region():
        first = gpt.train_step(lib, model, opt, x, y).item()

    def step():
        with region():
            gpt.train_step(lib, model, opt, x, y)

    def forward():
        with lib.no_grad(), region():
            model(x)

    return step, forward, first


def time_config(name, overrides, libs, threads, rounds, min_time):
    """Result rows for one config at one thread count (the libraries alternate within each round)."""
    cfg = gpt.Config(**overrides)
    work = {lib_name: workload(lib, cfg) for lib_name, lib in libs.items()}
    if "torch" in work:
        a, b = work["vibetensor"][2], work["torch"][2]
        if abs(a - b) > 1e-4 * abs(b):
            raise SystemExit(f"{name}: first-step losses differ (vibetensor {a}, torch {b}): not the same work")
    times = {(lib_name, what): [] for lib_name in work for what in ("step", "forward")}
    for _ in range(rounds):
        for lib_name, (step, forward, _) in work.items():
            times[(lib_name, "step")].append(median_time(step, min_time=min_time, repeats=3))
            times[(lib_name, "forward")].append(median_time(forward, min_time=min_time / 2, repeats=3))
    med = {k: statistics.median(v) for k, v in times.items()}
    n_params = sum(p.numel() for p in gpt.build(vtorch, cfg)[0].parameters())
    results = []
    for what, label in (("step", "train step (fwd+bwd+AdamW)"), ("forward", "forward (no_grad)")):
        tv, tt = med[("vibetensor", what)], med.get(("torch", what))
        results.append({"config": name, "threads": threads, "what": label, "vibetensor_ms": tv * 1e3,
                        "torch_ms": tt * 1e3 if tt else None, "torch_over_vibetensor": tt / tv if tt else None,
                        "first_loss": work["vibetensor"][2], "parameters": n_params, "config_fields": overrides})
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=sorted({1, vtorch.get_num_threads()}))
    p.add_argument("--rounds", type=int, default=5, help="alternating vibetensor/torch timing rounds")
    p.add_argument("--min-time", type=float, default=0.5, help="seconds per library per round")
    args = p.parse_args(argv)
    libs = {"vibetensor": vtorch} | ({"torch": torch} if torch is not None else {})
    load_before = os.getloadavg()
    results = []
    for threads in args.threads:
        for lib in libs.values():
            lib.set_num_threads(threads)
        for name, overrides in CONFIGS.items():
            results += time_config(name, overrides, libs, threads, args.rounds, args.min_time)
    load_after = os.getloadavg()
    rows = [(r["config"], r["threads"], r["what"].split(" (")[0], f"{r['vibetensor_ms']:.2f}",
             f"{r['torch_ms']:.2f}" if r["torch_ms"] else "-",
             f"{r['torch_over_vibetensor']:.2f}x" if r["torch_ms"] else "-") for r in results]
    print_table(f"Small GPT on CPU: median ms per call (ratio > 1: vibetensor is faster); load average "
                f"{load_before[0]:.1f} -> {load_after[0]:.1f} on {os.cpu_count()} cores",
                ["config", "threads", "what", "vibetensor ms", "torch ms", "torch/vt"], rows)
    write_results("cpu_gpt_step", results, rounds=args.rounds, versions=versions(),
                  load_average={"before": load_before, "after": load_after},
                  omp_wait_policy=os.environ["OMP_WAIT_POLICY"])


if __name__ == "__main__":
    main()
