"""AdamW over a 124M-parameter GPT's tensors (GPT-2 small's shapes): vibetensor's fused multi-tensor step vs
torch.optim.AdamW(fused=True) on the same GPU, one run; also the per-parameter path and clip_grad_norm_.

    python benchmarks/cuda_adamw.py                 # float32 params (and states)
    python benchmarks/cuda_adamw.py --dtype bfloat16

The step reads param, grad, exp_avg, exp_avg_sq and writes param, exp_avg, exp_avg_sq: "GB/s" counts those
seven passes (clipping: three). "ms" is GPU time per step with the queue kept full (calls queued behind a
sleep kernel, so host time to issue them is hidden); "loop ms" is the plain back-to-back loop, where host
overhead shows.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import device_ms  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import vibetensor as vt  # noqa: E402

SLEEP_CYCLES = 20_000_000  # ~10 ms on an H100: longer than the host takes to queue the timed steps


def gpt2_small_shapes(vocab=50304, d=768, layers=12, ctx=1024):
    """Every parameter tensor of GPT-2 small (124M with a 50304 vocabulary)."""
    shapes = [(vocab, d), (ctx, d)]
    for _ in range(layers):
        shapes += [(d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, 4 * d), (4 * d,), (4 * d, d), (d,)]
    return shapes + [(d,), (d,)]  # the final LayerNorm


def make(shapes, dtype, seed=0):
    gen = np.random.default_rng(seed)
    host = [gen.standard_normal(s).astype(np.float32) * 0.02 for s in shapes]
    grads = [gen.standard_normal(s).astype(np.float32) * 0.01 for s in shapes]
    tdt = getattr(torch, dtype)
    vps = [vt.tensor(h).to(getattr(vt, dtype)).cuda().requires_grad_(True) for h in host]
    tps = [torch.tensor(h, dtype=tdt, device="cuda", requires_grad=True) for h in host]
    for p, g in zip(vps, grads):
        p.grad = vt.tensor(g).to(getattr(vt, dtype)).cuda()
    for p, g in zip(tps, grads):
        p.grad = torch.tensor(g, dtype=tdt, device="cuda")
    return vps, tps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = ap.parse_args()
    name = torch.cuda.get_device_name()
    shapes = gpt2_small_shapes()
    vps, tps = make(shapes, args.dtype)
    n = sum(p.numel() for p in tps)
    kw = dict(lr=6e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    cases = [("vibetensor fused", vt.optim.AdamW(vps, **kw).step),
             ("vibetensor fused, capturable", vt.optim.AdamW(vps, capturable=True, **kw).step),
             ("vibetensor per-parameter", vt.optim.AdamW(vps, fused=False, **kw).step),
             ("torch fused", torch.optim.AdamW(tps, fused=True, **kw).step),
             ("torch foreach", torch.optim.AdamW(tps, foreach=True, **kw).step),
             ("vibetensor clip_grad_norm_", lambda: vt.nn.utils.clip_grad_norm_(vps, 1e9)),
             ("torch clip_grad_norm_", lambda: torch.nn.utils.clip_grad_norm_(tps, 1e9))]
    rows, results, base = [], [], None
    for label, step in cases:
        nbytes = (3 if "clip" in label else 7) * n * tps[0].element_size()  # clip: read twice, write once
        queued = device_ms(step, sleep_cycles=SLEEP_CYCLES)
        loop = device_ms(step)
        base = queued if label == "torch fused" else base
        results.append({"case": label, "gpu": name, "dtype": args.dtype, "params": n, "ms": queued,
                        "loop_ms": loop, "GBps": nbytes / queued / 1e6})
        rows.append((label, f"{queued:.3f}", f"{loop:.3f}", f"{nbytes / queued / 1e6:.0f}"))
    for r in results:
        r["torch_fused_over_this"] = base / r["ms"]
    rows = [(*row, f"{r['torch_fused_over_this']:.2f}x") for row, r in zip(rows, results)]
    print_table(f"AdamW over GPT-2 small ({n / 1e6:.1f}M params, {len(shapes)} tensors, {args.dtype}) on {name} "
                "(medians of CUDA-event timings; torch fused / this > 1: faster than torch fused)",
                ["case", "ms", "loop ms", "GB/s", "torch fused / this"], rows)
    write_results("cuda_adamw" if args.dtype == "float32" else f"cuda_adamw_{args.dtype}", results, gpu=name,
                  versions=versions())


if __name__ == "__main__":
    main()
