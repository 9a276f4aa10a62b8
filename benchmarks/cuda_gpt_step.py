"""Training-step time of the main job's GPT (examples/gpt_reversal.py, the model examples/train_gpt.py trains)
on one GPU: vibetensor vs PyTorch eager, same weights, same batch, one run; medians of CUDA-event timings.

    python benchmarks/cuda_gpt_step.py
    python benchmarks/cuda_gpt_step.py --autocast bfloat16   # steps under autocast, float32 weights

The first step's losses are compared before timing (they must agree: the same work; under autocast within
bfloat16's precision).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
from common import print_table, versions, write_results  # noqa: E402
from cpu_gpt_step import workload  # noqa: E402
from cuda_timing import device_ms  # noqa: E402

import gpt_reversal as gpt  # noqa: E402
import torch  # noqa: E402

import vibetensor.torch as vtorch  # noqa: E402

CONFIGS = {  # the main job's model, and a wider one where kernels matter more than launches
    "main job d48 L2 T16 B32": dict(d_model=48, heads=4, layers=2, length=8, batch=32),
    "wider d256 L4 T64 B64": dict(d_model=256, heads=8, layers=4, length=32, batch=64, symbols=32),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--autocast", choices=["bfloat16", "float16"], help="run the steps under autocast in this dtype")
    args = p.parse_args()
    rows, results = [], []
    for name, overrides in CONFIGS.items():
        cfg = gpt.Config(**overrides)
        work = {lib: workload(mod, cfg, "cuda", args.autocast)
                for lib, mod in (("vibetensor", vtorch), ("torch", torch))}
        a, b = work["vibetensor"][2], work["torch"][2]
        if abs(a - b) > (2e-2 if args.autocast else 1e-4) * abs(b):
            raise SystemExit(f"{name}: first-step losses differ (vibetensor {a}, torch {b}): not the same work")
        for what, idx in (("train step", 0), ("forward", 1)):
            t = {lib: device_ms(w[idx], n=20, rounds=7) for lib, w in work.items()}
            ratio = t["torch"] / t["vibetensor"]
            rows.append([name, what, f"{t['vibetensor']:.3f}", f"{t['torch']:.3f}", f"{ratio:.2f}x"])
            results.append({"config": name, "what": what, "vibetensor_ms": t["vibetensor"], "torch_ms": t["torch"],
                            "torch_over_vibetensor": ratio, "first_loss": a, "config_fields": overrides})
    gpu = torch.cuda.get_device_name()
    amp = f", autocast {args.autocast}" if args.autocast else ""
    print_table(f"GPT training step on {gpu}{amp}: ms per call (ratio > 1: vibetensor is faster)",
                ["config", "what", "vibetensor ms", "torch ms", "torch/vt"], rows)
    write_results("cuda_gpt_step" + (f"_autocast_{args.autocast}" if args.autocast else ""), results, gpu=gpu,
                  autocast=args.autocast, versions=versions())


if __name__ == "__main__":
    main()
