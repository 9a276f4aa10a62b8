"""Where a training step's time goes: the workloads of cuda_train_steps.py, one eager step of vibetensor and of
torch profiled side by side on one GPU with torch.profiler (CUPTI sees every kernel of the process, ours
included: they are launched through the driver API).

    python benchmarks/cuda_step_profile.py                       # all workloads
    python benchmarks/cuda_step_profile.py --only gpt_tiny gpt_small --steps 10

Per workload and library, per step: kernels launched, GPU busy time (the kernels' summed durations), host
time to issue the step (the steps queued behind a sleep kernel, so the GPU never waits for nothing), and the
wall time of back-to-back steps; then the kernel families taking the most GPU time. Eager minus busy is time
the GPU waited for the host. --device cpu runs the same bookkeeping on CPU (no kernels; a smoke test).
"""
import argparse
import collections
import dataclasses
import os
import re
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
from common import print_table, versions, write_results  # noqa: E402
import cuda_train_steps as steps  # noqa: E402
from cuda_timing import sync_both  # noqa: E402

import torch  # noqa: E402

import vibetensor.torch as vtorch  # noqa: E402

SLEEP_CYCLES = 20_000_000  # ~10 ms on an H100: the host queues the timed steps while the GPU sleeps
TOP = 8


def family(name):
    """A kernel's family: its name without template arguments, specialisation suffixes and numbers."""
    name = re.sub(r"<.*", "", name.split("(")[0])
    return re.sub(r"(_\d+)+$|\d+$", "", name)[:60] or name[:60]


def sync(device):
    if device == "cuda":
        sync_both()


def profile_step(lib, w, device, n):
    """Per-step figures of n eager steps of workload w in `lib` (vibetensor.torch or torch)."""
    model, opt = steps.build(lib, w, device)
    step = steps.stepper(lib, w, model, opt, device)
    x, y = steps.to_device(lib, steps.batch(w, np.random.default_rng(3)), device)
    for _ in range(3):
        step(x, y)
    sync(device)
    t = time.perf_counter()
    for _ in range(n):
        step(x, y)
    sync(device)
    wall = (time.perf_counter() - t) / n
    if device == "cuda":
        torch.cuda._sleep(SLEEP_CYCLES)  # the GPU is busy: what follows measures the host alone
    t = time.perf_counter()
    for _ in range(n):
        step(x, y)
    issue = (time.perf_counter() - t) / n
    sync(device)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(n):
            step(x, y)
        sync(device)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    by_family = collections.Counter()
    for e in kernels:
        by_family[family(e.name)] += e.time_range.elapsed_us()
    busy = sum(by_family.values()) / n
    return {"kernels_per_step": len(kernels) / n, "gpu_busy_ms": busy / 1e3, "host_issue_ms": issue * 1e3,
            "wall_ms": wall * 1e3,
            "top_kernels_ms": {k: v / n / 1e3 for k, v in by_family.most_common(TOP)}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=sorted(steps.WORKLOADS), help="these workloads (default: all)")
    p.add_argument("--steps", type=int, default=10, help="steps per measurement")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--shrink", action="store_true", help="tiny versions of the workloads (for a CPU smoke test)")
    p.add_argument("--out", help="JSON path (default benchmarks/results/cuda_step_profile.json)")
    args = p.parse_args(argv)
    rows, table = [], []
    for key in args.only or steps.WORKLOADS:
        w = steps.WORKLOADS[key]
        if args.shrink:
            w = dataclasses.replace(w, batch=2, layers=1, d_model=32, heads=4, block=min(w.block, 16),
                                    vocab=min(w.vocab, 64))
        for name, lib in (("vibetensor", vtorch), ("torch", torch)):
            r = {"workload": key, "library": name, **profile_step(lib, w, args.device, args.steps)}
            rows.append(r)
            top = ", ".join(f"{k} {v:.2f}" for k, v in list(r["top_kernels_ms"].items())[:3])
            table.append([key, name, f"{r['kernels_per_step']:.0f}", f"{r['gpu_busy_ms']:.2f}",
                          f"{r['host_issue_ms']:.2f}", f"{r['wall_ms']:.2f}", top])
            print(" | ".join(table[-1]), flush=True)
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print_table(f"eager training step, per step, on {device}",
                ["workload", "library", "kernels", "GPU busy ms", "host issue ms", "wall ms", "top kernels (ms)"],
                table)
    path = args.out or (None if args.device == "cuda" else os.devnull)  # CPU runs are smoke tests: not kept
    gpu = {"gpu": device} if args.device == "cuda" else {}
    write_results("cuda_step_profile", rows, path=path, versions=versions(), steps=args.steps, **gpu)
    return rows


if __name__ == "__main__":
    main()
