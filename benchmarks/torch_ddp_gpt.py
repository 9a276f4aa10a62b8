"""The main job's training loop (examples/train_gpt.py) on PyTorch: the same model, initial weights, per-rank
data, AdamW, schedule and steps, with torch.distributed (NCCL on GPUs, gloo on CPU) and
DistributedDataParallel, one process per GPU started by torchrun.

    python -m torch.distributed.run --standalone --nproc-per-node 8 benchmarks/torch_ddp_gpt.py \\
        --batch 512 --block 256 --d-model 512 --layers 8 --heads 8 --steps 40 --timing-warmup 10 --out /tmp/ddp

It takes train_gpt.py's flags (its parser, so both sides read them the same way) and rank 0 writes the
same summary.json fields that benchmarks/multigpu_train.py reads. Importing train_gpt loads vibetensor's
native module, which initializes the CUDA driver but creates no context.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import record
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
from gpt_reversal import build  # noqa: E402
from train_gpt import TextData, job_config, parse, train_loop  # noqa: E402


def synchronize(device):
    if device.startswith("cuda"):  # the host runs ahead of the GPU: wait before reading the clock
        torch.cuda.synchronize()


@record  # torchrun's failure summary (what the benchmark keeps of a failed run) then holds the traceback
def main(argv=None):
    args = parse(argv)
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))  # from torchrun
    device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    if device != "cpu":
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if device != "cpu" else "gloo")
    text = TextData(args.data, args.block) if args.data else None
    cfg, tokens_per_step = job_config(args, text, world)
    model, opt, sched = build(torch, cfg, device)
    ddp = DistributedDataParallel(model, device_ids=[local] if device != "cpu" else None)
    losses, step_times, started, timed_from, ended = train_loop(
        torch, ddp, opt, sched, args, cfg, text, rank, world, device, tokens_per_step, lambda: synchronize(device))
    if rank == 0:
        timed_steps = args.steps - args.timing_warmup
        summary = {"ranks": world, "device": device, "task": f"text {args.data}" if text else "reversal",
                   "steps": args.steps, "final_loss": losses[-1], "seconds": ended - started,
                   "timed_steps": timed_steps, "tokens_per_s": tokens_per_step * timed_steps / (ended - timed_from),
                   "step_time_ms_median": 1e3 * float(np.median(step_times)),
                   "step_times_ms": [round(1e3 * t, 3) for t in step_times],
                   "peak_memory_mib_rank0": round(torch.cuda.max_memory_allocated() / 2**20, 1)
                   if device != "cpu" else None,
                   "backend": dist.get_backend(), "torch": torch.__version__}
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        print(f"done: {world} rank(s) on {device} (torch DDP, {summary['backend']}), {args.steps} steps, "
              f"{summary['tokens_per_s']:,.0f} tokens/s, final loss {losses[-1]:.4f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
