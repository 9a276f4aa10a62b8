"""The main job: a small GPT trained data-parallel over every rank `vibetensor-launch` starts (GPUs, or CPU
ranks when there are none), with a progress bar, a loss-curve PNG and a final summary.

    vibetensor-launch --nproc-per-node gpu examples/train_gpt.py            # all GPUs, or 2 CPU ranks
    vibetensor-launch --nproc-per-node 2 examples/train_gpt.py --data notes.txt --steps 500
    python examples/train_gpt.py                                           # a world of one

Without --data the task is sequence reversal (examples/gpt_reversal.py): given ``a b c | `` continue with
``c b a``; with --data it is a character-level language model of the file. Each rank draws its own share of
the global batch; gradients are averaged across ranks by vt.fabric.DataParallel.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import vibetensor as vt
import vibetensor.torch as torch
from vibetensor import config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt_reversal import Config, build, exact_match, make_batch, train_step  # noqa: E402
from loss_png import loss_curve  # noqa: E402


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="a text file: train a character-level model of it (default: reversal task)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32, help="global batch (rows), split across ranks")
    p.add_argument("--block", type=int, default=16, help="context length in tokens")
    p.add_argument("--d-model", type=int, default=48)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timing-warmup", type=int, default=0, metavar="N",
                   help="leave the first N steps (kernel compiles, allocator and transport set-up) out of tokens/s")
    p.add_argument("--out", default="runs/train_gpt", help="where rank 0 writes loss.png and summary.json")
    return p.parse_args(argv)


class TextData:
    """Random windows of a text file, one token per character."""

    def __init__(self, path, block):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if len(text) < block + 2:
            raise ValueError(f"--data {path}: {len(text)} characters, need more than the context ({block + 1})")
        self.chars = sorted(set(text))
        index = {c: i for i, c in enumerate(self.chars)}
        self.ids = np.array([index[c] for c in text], np.int64)
        self.block = block

    def batch(self, gen, rows):
        starts = gen.integers(0, len(self.ids) - self.block - 1, size=rows)
        window = np.stack([self.ids[s:s + self.block + 1] for s in starts])
        return window[:, :-1], window[:, 1:]


def job_config(args, text, world):
    """The model/optimizer Config and the global tokens per step from the command line, or SystemExit on
    flags that do not fit together (shared with the PyTorch DDP twin, benchmarks/torch_ddp_gpt.py)."""
    if args.batch % world:
        raise SystemExit(f"--batch {args.batch} must be divisible by the number of ranks ({world})")
    if not 0 <= args.timing_warmup < args.steps:
        raise SystemExit(f"--timing-warmup {args.timing_warmup} must be in [0, --steps {args.steps})")
    cfg = Config(symbols=len(text.chars) - 1 if text else 16, length=args.block // 2, d_model=args.d_model,
                 heads=args.heads, layers=args.layers, batch=args.batch, steps=args.steps, lr=args.lr,
                 seed=args.seed)
    return cfg, args.batch * (args.block if text else cfg.block - 1)


def synchronize(device):
    """Waits for the GPU's queued work, so that a clock read next counts it (the host runs ahead)."""
    if device.startswith("cuda"):
        vt.cuda.synchronize()


def train_loop(torch, model, opt, sched, args, cfg, text, rank, world, device, tokens_per_step, synchronize):
    """The job's steps, shared with its PyTorch twin (benchmarks/torch_ddp_gpt.py): each rank draws its own
    rows, rank 0 shows progress. Returns (losses, step seconds, start, start of the timed steps, end) in
    perf_counter seconds; synchronize() waits for the device before the clock is read."""
    gen = np.random.default_rng(cfg.seed + 100 + rank)  # each rank its own rows
    rows = args.batch // world
    losses, step_times = [], []
    started = time.perf_counter()
    for step in range(args.steps):
        if step == args.timing_warmup:
            synchronize()
            timed_from = time.perf_counter()
        t0 = time.perf_counter()
        inputs, targets = text.batch(gen, rows) if text else make_batch(gen, cfg, rows)
        x, y = torch.tensor(inputs, device=device), torch.tensor(targets, device=device)
        loss = train_step(torch, model, opt, x, y)
        sched.step()
        losses.append(loss.item())
        step_times.append(time.perf_counter() - t0)
        if rank == 0 and (step % 5 == 0 or step + 1 == args.steps):
            progress(step, args.steps, losses[-1], tokens_per_step / np.median(step_times), started)
    synchronize()
    return losses, step_times, started, timed_from, time.perf_counter()


def pick_device():
    device = config.get("VIBETENSOR_DEVICE") or ("cuda" if vt.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        vt.cuda.set_device(int(device.split(":")[1]) if ":" in device else 0)
    return device


def peak_memory(device):
    if device.startswith("cuda"):
        return vt.cuda.max_memory_allocated()
    return vt._C._cpu_memory_stats()["peak_allocated_bytes"]


def progress(step, steps, loss, tokens_per_s, started):
    done = (step + 1) / steps
    eta = (time.perf_counter() - started) / done * (1 - done)
    bar = "#" * int(30 * done) + "." * (30 - int(30 * done))
    end = "\n" if step + 1 == steps else ""
    print(f"\r[{bar}] {step + 1}/{steps} loss {loss:.4f} {tokens_per_s:,.0f} tok/s ETA {eta:4.0f}s", end=end, flush=True)


def main(argv=None):
    args = parse(argv)
    group = vt.fabric.init()
    rank, world = group.rank, group.size
    device = pick_device()
    if device.startswith("cuda"):
        vt.fabric.device_timing(True)  # a GPU collective returns before it runs: time it on the device
    text = TextData(args.data, args.block) if args.data else None
    cfg, tokens_per_step = job_config(args, text, world)
    model, opt, sched = build(torch, cfg, device)  # the same weights, AdamW groups and schedule as the twin
    # Every parameter gets a gradient: no graph walk per forward to find unused ones (DDP's default too).
    ddp = vt.fabric.DataParallel(model, find_unused_parameters=False)
    comm_before = vt.fabric.counters().get("all_reduce.seconds", 0.0)
    run = train_loop(torch, ddp, opt, sched, args, cfg, text, rank, world, device, tokens_per_step,
                     lambda: synchronize(device))
    losses, step_times, started, timed_from, ended = run
    seconds = ended - started
    timed_steps = args.steps - args.timing_warmup
    comm = vt.fabric.counters().get("all_reduce.seconds", 0.0) - comm_before
    peaks = vt.zeros(world, dtype=vt.float64)
    mine = vt.tensor([float(peak_memory(device))], dtype=vt.float64)
    group.all_gather(peaks, mine)
    if rank == 0:
        summary = {"ranks": world, "device": device, "task": f"text {args.data}" if text else "reversal",
                   "steps": args.steps, "final_loss": losses[-1], "seconds": seconds, "timed_steps": timed_steps,
                   "tokens_per_s": tokens_per_step * timed_steps / (ended - timed_from),
                   "tokens_per_s_median_step": tokens_per_step / float(np.median(step_times)),
                   "step_time_ms_median": 1e3 * float(np.median(step_times)),
                   "step_times_ms": [round(1e3 * t, 3) for t in step_times],  # a slow run: a few steps, or all?
                   "peak_memory_mib_per_rank": [round(p / 2**20, 1) for p in peaks.tolist()],
                   "collective_time_share": comm / seconds}
        if not text:
            summary["exact_match"] = exact_match(torch, model, cfg, np.random.default_rng(cfg.seed + 3))
        os.makedirs(args.out, exist_ok=True)
        loss_curve(os.path.join(args.out, "loss.png"), losses)
        with open(os.path.join(args.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        print(f"done: {world} rank(s) (rank 0 on {device}), {args.steps} steps in {seconds:.1f} s, "
              f"{summary['tokens_per_s']:,.0f} tokens/s over the steps, {summary['tokens_per_s_median_step']:,.0f} at "
              f"the median step ({summary['step_time_ms_median']:.1f} ms; on a GPU the first steps compile kernels), "
              f"final loss {losses[-1]:.4f}" + (f", exact-match reversal {summary['exact_match']:.2f}" if not text else ""))
        print(f"peak memory per rank (MiB): {summary['peak_memory_mib_per_rank']}; "
              f"collectives took {100 * summary['collective_time_share']:.1f}% of the time; "
              f"loss curve: {os.path.join(args.out, 'loss.png')}")
    vt.fabric.destroy()
    return losses


if __name__ == "__main__":
    main()
