"""Data-parallel training throughput from 1 to all GPUs: the main job (examples/train_gpt.py) under
`vibetensor-launch` vs the same model, data and optimizer under torchrun with DistributedDataParallel
(benchmarks/torch_ddp_gpt.py).

    python benchmarks/multigpu_train.py                                  # 1..all visible GPUs
    python benchmarks/multigpu_train.py --ranks 1,2,4,8                   # fewer launches on 8 GPUs
    python benchmarks/multigpu_train.py --max-ranks 4 --steps 60 --d-model 1024
    python benchmarks/multigpu_train.py --device cpu --steps 5 --out /tmp/mgt.json   # 1..2 CPU ranks, tiny model

Weak scaling: every rank trains on --batch-per-rank rows a step, so k ranks do k times the work of one,
and scaling efficiency at k = tokens/s at k / (k * tokens/s at 1) for the same library (1.0 is perfect).
tokens/s are global (all ranks') tokens per second over the steps after --timing-warmup (kernel compiles,
allocator and communicator set-up left out), timed on rank 0 between device synchronizations; both loops
draw numpy batches, copy them to the device and read the loss every step, as the main job does.
A run that fails or times out is a row with ok: false and the tail of its stderr.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import cpu_name, print_table, versions, write_results  # noqa: E402

import torch  # noqa: E402

MAIN_JOB = os.path.join(os.path.dirname(HERE), "examples", "train_gpt.py")
TORCH_TWIN = os.path.join(HERE, "torch_ddp_gpt.py")
# The machines' owners require NVLink multicast (NVLS) off in NCCL, torch symmetric memory and NVSHMEM.
NO_MULTICAST = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
# Per device: a model with real GPU work that still runs in well under a minute on an H100, and the
# main job's tiny default on CPU (a smoke test of both paths more than a measurement).
DEFAULTS = {
    "cuda": dict(d_model=512, layers=8, heads=8, block=256, batch_per_rank=64, steps=40, timing_warmup=10),
    "cpu": dict(d_model=48, layers=2, heads=4, block=16, batch_per_rank=16, steps=20, timing_warmup=2),
}
LAUNCHER_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                 "VIBETENSOR_DEVICE", "VIBETENSOR_FABRIC_JOB")


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.device_count() else "cpu")
    p.add_argument("--max-ranks", type=int, default=None, help="default: every visible GPU, or 2 CPU ranks")
    p.add_argument("--ranks", default=None, metavar="K,K", help="only these sizes, e.g. 1,2,4,8 (default 1..max)")
    for name, value in DEFAULTS["cuda"].items():
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=None,
                       help=f"default {value} on cuda, {DEFAULTS['cpu'][name]} on cpu")
    p.add_argument("--timeout", type=float, default=300, help="seconds one launch may run before it is stopped")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/multigpu_train.json)")
    args = p.parse_args(argv)
    for name, value in DEFAULTS[args.device].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.max_ranks is None:
        args.max_ranks = torch.cuda.device_count() if args.device == "cuda" else 2
    args.ranks = sorted({int(k) for k in args.ranks.split(",")}) if args.ranks else range(1, args.max_ranks + 1)
    if not args.ranks or min(args.ranks) < 1:
        p.error("no rank counts to run (no GPU visible? try --device cpu)")
    return args


def job_args(args, ranks, out):
    """train_gpt.py's flags (the twin takes the same) for `ranks` ranks; --batch is global there."""
    return ["--batch", str(args.batch_per_rank * ranks), "--block", str(args.block), "--d-model", str(args.d_model),
            "--layers", str(args.layers), "--heads", str(args.heads), "--steps", str(args.steps),
            "--timing-warmup", str(args.timing_warmup), "--out", out]


def commands(args, ranks, out):
    """{library: argv} for one launch of each side with `ranks` processes."""
    vt_launch = [sys.executable, "-m", "vibetensor.launch", "--nproc-per-node", str(ranks), "--device", args.device,
                 "--timeout", str(args.timeout)]  # it stops its own ranks, which lead their own process groups
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks)]
    return {"vibetensor": [*vt_launch, MAIN_JOB, *job_args(args, ranks, os.path.join(out, "vibetensor"))],
            "torch": [*torchrun, TORCH_TWIN, *job_args(args, ranks, os.path.join(out, "torch"))]}


def child_env(args, library, ranks):
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}  # in case this runs under a launcher
    env.update(NO_MULTICAST)
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # both sides on CPU ranks even on a GPU machine
        if library == "torch":  # torchrun gives each rank 1 thread (or all cores alone): match vibetensor-launch
            env.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // ranks)))
    return env


def launch(argv, env, timeout):
    """(exit status or None on timeout, stdout, stderr). On timeout the launcher's process group gets
    SIGTERM (both launchers pass it to their ranks), then SIGKILL."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, None)):
            try:
                os.killpg(proc.pid, sig)
                out, err = proc.communicate(timeout=wait)
                return None, out, err
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        out, err = proc.communicate()
        return None, out, err


def tail(text, lines=60):
    # 60: a rank's own last words (a C++ abort's "what():") sit above torchrun's ~40-line failure summary
    return "\n".join(text.strip().splitlines()[-lines:])


# A rank that a signal killed, as torchrun's summary, vibetensor-launch's message or a lone process's status says.
SIGNAL_DEATH = re.compile(r"\(SIG[A-Z]+\)|signal SIG[A-Z]+ \(\d+\)|^exit status -\d+")


def one_run(args, library, ranks, argv, out_dir):
    """One launch as a row; a launch whose rank a signal killed (seen once in CI: a gloo rank's SIGABRT on a
    loaded 2-core machine, not reproduced in dozens of runs) is run once more, and the row keeps the first
    failure under "retried_after". Exit statuses and timeouts are not retried: those are answers."""
    row = attempt(args, library, ranks, argv, out_dir)
    if not row["ok"] and SIGNAL_DEATH.search(row["error"]):
        first = row["error"]
        shutil.rmtree(out_dir, ignore_errors=True)
        row = {**attempt(args, library, ranks, argv, out_dir), "retried_after": first}
    return row


def attempt(args, library, ranks, argv, out_dir):
    # vibetensor-launch stops its job itself at --timeout and says where each rank was: this is a backstop.
    rc, out, err = launch(argv, child_env(args, library, ranks), args.timeout + (30 if library == "vibetensor" else 0))
    row = {"library": library, "ranks": ranks, "ok": False, "command": shlex.join(argv)}
    summary_path = os.path.join(out_dir, "summary.json")
    if rc != 0 or not os.path.exists(summary_path):
        why = "timed out" if rc is None else f"exit status {rc}" if rc else "no summary.json written"
        return {**row, "error": f"{why}\n{tail(err) or tail(out)}"}
    with open(summary_path) as f:
        s = json.load(f)
    if not s["device"].startswith(args.device):  # e.g. a CPU-only torch build would time CPU against GPU
        return {**row, "error": f"ran on {s['device']}, not {args.device}", "summary": s}
    return {**row, "ok": True, **{k: s[k] for k in ("tokens_per_s", "timed_steps", "seconds", "final_loss",
                                                     "step_time_ms_median", "step_times_ms", "device")}}


def add_efficiency(rows):
    """tokens/s at k / (k * tokens/s at 1), per library; None where a run it needs failed."""
    base = {r["library"]: r["tokens_per_s"] for r in rows if r["ranks"] == 1 and r["ok"]}
    for r in rows:
        one = base.get(r["library"])
        r["scaling_efficiency"] = r["tokens_per_s"] / (r["ranks"] * one) if r["ok"] and one else None


def table_rows(rows):
    def cell(r, key, fmt):
        return "failed" if not r["ok"] else "-" if r[key] is None else fmt.format(r[key])
    by = {(r["library"], r["ranks"]): r for r in rows}
    out = []
    for k in sorted({r["ranks"] for r in rows}):
        v, t = by[("vibetensor", k)], by[("torch", k)]
        ratio = f"{v['tokens_per_s'] / t['tokens_per_s']:.2f}x" if v["ok"] and t["ok"] else "-"
        out.append([k, cell(v, "tokens_per_s", "{:,.0f}"), cell(v, "scaling_efficiency", "{:.2f}"),
                    cell(t, "tokens_per_s", "{:,.0f}"), cell(t, "scaling_efficiency", "{:.2f}"), ratio,
                    cell(v, "final_loss", "{:.4f}"), cell(t, "final_loss", "{:.4f}")])
    return out


def nccl_version():
    v = torch.cuda.nccl.version()  # a tuple in recent torch, an int such as 2708 in older ones
    return ".".join(map(str, v)) if isinstance(v, tuple) else str(v)


def main(argv=None):
    args = parse(argv)
    os.environ.update(NO_MULTICAST)  # for anything this process starts, not only the launches below
    rows = []
    with tempfile.TemporaryDirectory(prefix="multigpu_train_") as tmp:
        for k in args.ranks:
            out = os.path.join(tmp, f"ranks{k}")
            for library, cmd in commands(args, k, out).items():  # alternate the sides at each size
                print(f"{library}, {k} rank(s) on {args.device} ...", flush=True)
                rows.append(one_run(args, library, k, cmd, os.path.join(out, library)))
                r = rows[-1]
                print(f"  {r['tokens_per_s']:,.0f} tokens/s" if r["ok"] else f"  FAILED: {r['error']}", flush=True)
    add_efficiency(rows)
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else cpu_name()
    config = {k: getattr(args, k) for k in DEFAULTS["cuda"]}
    print_table(f"Weak scaling on {device}: {args.batch_per_rank} rows x {args.block} tokens per rank per step, "
                f"d_model {args.d_model}, {args.layers} layers (eff: tokens/s at k / (k * tokens/s at 1))",
                ["ranks", "vibetensor tok/s", "vt eff", "torch tok/s", "torch eff", "vt/torch", "vt loss",
                 "torch loss"], table_rows(rows))
    meta = dict(device=device, gpus=torch.cuda.device_count() if args.device == "cuda" else 0,
                versions={**versions(), **({"nccl": nccl_version()} if args.device == "cuda" else {})},
                config=config, scaling="weak", env=NO_MULTICAST)
    write_results("multigpu_train", rows, path=args.out, **meta)
    return rows


if __name__ == "__main__":
    main()
