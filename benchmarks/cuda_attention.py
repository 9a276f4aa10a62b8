"""Fused attention on CUDA: vibetensor's scaled_dot_product_attention vs torch's, same inputs, same GPU, one run.

    python benchmarks/cuda_attention.py                  # the table, and benchmarks/results/cuda_attention.json
    python benchmarks/cuda_attention.py --sweep fwd:128  # time candidate configs of one pass and head dim
    python benchmarks/cuda_attention.py --sweep f32.dq:64  # ... of the float32 table

Cases: causal bf16 [B, H, T, D] q, k, v at B32 H10 T2048 and B2 H8 T1024, head dims 128 and 64, and float32
at the main job's GPU benchmark shape (B64 H8 T255 D64, benchmarks/multigpu_train.py) and B8 H8 T1024 D64; forward,
backward alone (autograd.grad on a kept graph) and forward+backward. Times are GPU medians over CUDA events
with the calls queued behind a sleep kernel (no host overhead). TFLOP/s counts causal attention's useful
work: forward 2 matmuls of B*H*T*T*D/2 multiply-adds each (4*B*H*T*T*D/2 FLOPs), backward 2.5 times that
(5 matmuls; our backward runs 7, FlashAttention-2 style without atomics), forward+backward 3.5 times.

--sweep PASS:D runs one fresh process per candidate with VIBETENSOR_ATTENTION_CONFIG set (the native core
reads its tuning table once), timing the pass's direction (fwd; delta, dkdv, dq: the backward) on the
cases of that head dim; copy the best row into kConfigs in csrc/cuda/attention.cpp.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import SLEEP_CYCLES, device_ms  # noqa: E402

SHAPES = [("bf16", 32, 10, 2048, 128), ("bf16", 2, 8, 1024, 128), ("bf16", 32, 10, 2048, 64), ("bf16", 2, 8, 1024, 64),
          ("f32", 64, 8, 255, 64), ("f32", 8, 8, 1024, 64)]
DTYPES = {"bf16": "bfloat16", "f32": "float32"}
TOL = {"bf16": (2e-2, 5e-2), "f32": (1e-4, 1e-4)}  # (output, gradients), relative to the largest value
# (BLOCK_M, BLOCK_N, warps, stages) worth trying per pass on Hopper; the first is the table's default
CANDIDATES = {
    "fwd": [(128, 64, 8, 3), (128, 128, 8, 3), (128, 64, 8, 4), (128, 128, 8, 2), (64, 64, 4, 3), (128, 64, 4, 3),
            (64, 128, 4, 3), (128, 64, 8, 2), (128, 32, 8, 3), (128, 32, 4, 4)],
    "dkdv": [(32, 128, 8, 3), (64, 128, 8, 3), (64, 128, 8, 2), (32, 128, 8, 2), (16, 128, 8, 3), (64, 64, 4, 3),
             (32, 64, 4, 3), (64, 64, 8, 3), (32, 128, 4, 3), (64, 64, 4, 2)],
    "dq": [(128, 64, 8, 2), (128, 64, 8, 3), (128, 32, 8, 3), (128, 128, 8, 2), (64, 64, 4, 3), (64, 32, 4, 3),
           (64, 64, 4, 2), (128, 32, 8, 2), (64, 128, 8, 2)],
    "delta": [(64, 0, 4, 1), (32, 0, 4, 1), (128, 0, 4, 1), (128, 0, 8, 1)],
}
# float32 operands are twice as wide (and each dot three TF32 dots): shorter tiles, shallower pipelines
CANDIDATES_F32 = {
    "fwd": [(64, 64, 4, 2), (64, 32, 4, 2), (128, 64, 8, 2), (64, 64, 8, 2), (128, 32, 8, 2)],
    "dkdv": [(64, 128, 8, 2), (32, 64, 4, 2), (64, 64, 4, 2), (64, 64, 8, 2), (32, 128, 8, 2)],
    "dq": [(64, 64, 4, 2), (64, 32, 4, 2), (128, 64, 8, 2), (64, 64, 8, 2), (128, 32, 8, 2)],
    "delta": CANDIDATES["delta"],
}


def flops(b, h, t, d):
    """Causal forward FLOPs: Q K^T and P V over the lower triangle."""
    return 4 * b * h * t * t * d / 2


def cases(only_d=None, modes=("fwd", "bwd", "fwd+bwd"), only_dtype=None):
    """(name, vibetensor call, torch call, FLOPs) for each shape and mode, checked against torch first."""
    import torch

    import vibetensor as vt
    for dt, b, h, t, d in SHAPES:
        if (only_d is not None and d != only_d) or (only_dtype is not None and dt != only_dtype):
            continue
        host = [vt.randn(b, h, t, d).to(getattr(vt, DTYPES[dt])) for _ in range(4)]
        ours = [x.cuda().requires_grad_(True) for x in host[:3]]
        theirs = [torch.from_dlpack(x).cuda().requires_grad_(True) for x in host[:3]]
        dy, tdy = host[3].cuda(), torch.from_dlpack(host[3]).cuda()
        sdpa, tsdpa = vt.nn.functional.scaled_dot_product_attention, torch.nn.functional.scaled_dot_product_attention
        fv = lambda ours=ours: sdpa(*ours, is_causal=True)  # noqa: E731
        ft = lambda theirs=theirs: tsdpa(*theirs, is_causal=True)  # noqa: E731
        yv, yt = fv(), ft()
        close(yv, yt, TOL[dt][0])
        for a, b_ in zip(vt.autograd.grad(yv, ours, dy, retain_graph=True),
                         torch.autograd.grad(yt, theirs, tdy, retain_graph=True)):
            close(a, b_, TOL[dt][1])
        name = f"causal {dt} B{b} H{h} T{t} D{d}"
        f = flops(b, h, t, d)
        calls = {
            "fwd": (fv, ft, f),
            "bwd": (lambda yv=yv, ours=ours, dy=dy: vt.autograd.grad(yv, ours, dy, retain_graph=True),
                    lambda yt=yt, theirs=theirs, tdy=tdy: torch.autograd.grad(yt, theirs, tdy, retain_graph=True),
                    2.5 * f),
            "fwd+bwd": (lambda fv=fv, ours=ours, dy=dy: vt.autograd.grad(fv(), ours, dy),
                        lambda ft=ft, theirs=theirs, tdy=tdy: torch.autograd.grad(ft(), theirs, tdy), 3.5 * f),
        }
        for mode in modes:
            yield (f"{name} {mode}", *calls[mode])


def close(got, want, tol):
    import torch
    got, want = torch.from_dlpack(got.detach().cpu().float()).double(), want.detach().cpu().double()
    err = (got - want).abs().max().item()
    assert err <= tol * max(1.0, want.abs().max().item()), f"mismatch: max error {err}"


def queued_ms(f):
    return device_ms(f, n=10, rounds=7, sleep_cycles=SLEEP_CYCLES)


def main():
    import torch
    name = torch.cuda.get_device_name()
    rows, results = [], []
    for case, fv, ft, f in cases():
        mv, mt = queued_ms(fv), queued_ms(ft)
        tv, tt = f / mv / 1e9, f / mt / 1e9
        rows.append((case, f"{mv:.3f}", f"{mt:.3f}", f"{mt / mv:.2f}x", f"{tv:.0f}", f"{tt:.0f}"))
        results.append({"case": case, "device": name, "vibetensor_ms": mv, "torch_ms": mt, "speedup_vs_torch": mt / mv,
                        "vibetensor_TFLOPs": tv, "torch_TFLOPs": tt, "flops": f})
    print_table(f"Fused attention on {name} (GPU medians; torch/vt > 1: vibetensor faster)",
                ["case", "vt ms", "torch ms", "torch/vt", "vt TFLOP/s", "torch TFLOP/s"], rows)
    write_results("cuda_attention", results, device=name, gpu=name, versions=versions(),
                  config=os.environ.get("VIBETENSOR_ATTENTION_CONFIG", ""))


def timed(d, mode, dt):
    """One process of a sweep: JSON {case: vibetensor ms} for the cases of head dim d and dtype dt."""
    print(json.dumps({case: queued_ms(fv) for case, fv, _, _ in cases(d, (mode,), dt)}))


def sweep(spec):
    dt = "f32" if spec.startswith("f32.") else "bf16"
    pass_, d = spec.removeprefix("f32.").split(":")
    mode = "fwd" if pass_ == "fwd" else "bwd"
    rows = []
    for cand in [None, *(CANDIDATES_F32 if dt == "f32" else CANDIDATES)[pass_]]:  # None: the built-in table
        entry = ("f32." if dt == "f32" else "") + f"{pass_}:{d}=" + ",".join(map(str, cand)) if cand else ""
        env = dict(os.environ, VIBETENSOR_ATTENTION_CONFIG=entry)
        r = subprocess.run([sys.executable, __file__, "--timed", f"{d}:{mode}:{dt}"], env=env, capture_output=True,
                           text=True)
        if r.returncode:
            rows.append((entry, "failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:100]))
            continue
        times = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append((entry or "(built-in table)",
                     "  ".join(f"{case.split(f' {dt} ')[1]}: {ms:.3f} ms" for case, ms in times.items())))
        print(*rows[-1], flush=True)
    print_table(f"Sweep of {pass_} at D={d} ({mode} times)", ["VIBETENSOR_ATTENTION_CONFIG", "times"], rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", metavar="[f32.]PASS:D", help="e.g. fwd:128, dkdv:64, f32.dq:64")
    ap.add_argument("--timed", metavar="D:MODE:DTYPE", help=argparse.SUPPRESS)  # one process of a sweep
    args = ap.parse_args()
    if args.timed:
        d, mode, dt = args.timed.split(":")
        timed(int(d), mode, dt)
    elif args.sweep:
        sweep(args.sweep)
    else:
        main()
