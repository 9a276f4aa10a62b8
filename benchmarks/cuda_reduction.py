"""CUDA reductions and softmax: vibetensor vs torch on the same GPU, one run.

    python benchmarks/cuda_reduction.py            # every case, float32 and bfloat16
    python benchmarks/cuda_reduction.py --sums     # only the row and column sums

Each case reads its input once (R*C*bytes) and writes a small output: the floor is the read bandwidth.
Columns: "us" is GPU time per call with the stream kept full (the host queues every call behind a sleep
kernel first, so host overhead cannot hide or inflate a kernel); "loop us" is the plain back-to-back loop
(what earlier results recorded: host overhead shows when it exceeds the kernel). "strided us" runs the same
op on an input whose first element is one element off a 16-byte boundary: the native side then takes the
generic element-by-element kernel (the tiles and splits of the path before 16-byte loads; bfloat16 results
no longer take a separate copy launch on either path), so old and new kernels compare in one run.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import SLEEP_CYCLES, device_ms  # noqa: E402

import torch  # noqa: E402

import vibetensor as vt  # noqa: E402

SUMS = [  # (name, shape, vibetensor call, torch call, bytes moved per element read)
    ("sum over rows (dim=1)", (4096, 4096), lambda x: x.sum(1), lambda t: t.sum(1), 1),
    ("sum over columns (dim=0)", (4096, 4096), lambda x: x.sum(0), lambda t: t.sum(0), 1),
    ("sum over rows (dim=1)", (16384, 1024), lambda x: x.sum(1), lambda t: t.sum(1), 1),
    ("sum over columns (dim=0)", (16384, 1024), lambda x: x.sum(0), lambda t: t.sum(0), 1),
    ("sum, all", (4096, 4096), lambda x: x.sum(), lambda t: t.sum(), 1),
]
OTHERS = [
    ("amax over rows", (4096, 4096), lambda x: x.amax(1), lambda t: t.amax(1), 1),
    ("softmax(dim=-1)", (4096, 4096), lambda x: vt.softmax(x, -1), lambda t: torch.softmax(t, -1), 2),
    ("softmax(dim=-1)", (16384, 1024), lambda x: vt.softmax(x, -1), lambda t: torch.softmax(t, -1), 2),
    ("log_softmax(dim=-1)", (4096, 4096), lambda x: vt.log_softmax(x, -1), lambda t: torch.log_softmax(t, -1), 2),
]


def queued_ms(f, n=20, rounds=7):
    """Median GPU ms per call of f, its n calls queued behind a sleep kernel (no host overhead in it)."""
    return device_ms(f, n=n, rounds=rounds, sleep_cycles=SLEEP_CYCLES)


def misaligned(shape, dtype):
    """A tensor of `shape` whose data starts 1 element past a 16-byte boundary (the generic kernel's input)."""
    n = shape[0] * shape[1]
    return vt.randn(n + 1, device="cuda", dtype=dtype)[1:].reshape(*shape)


def check(got, want, dtype_name):
    """vibetensor's result against torch's on the same input (float32 or bfloat16 rounding apart)."""
    got = torch.from_dlpack(got.cpu()).double()
    want = want.cpu().double()
    tol = 2e-2 if dtype_name == "bfloat16" else 1e-4
    scale = want.abs().max().item()
    assert torch.allclose(got, want, rtol=tol, atol=tol * scale), f"mismatch: max error {(got - want).abs().max()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sums", action="store_true", help="only the row and column sums")
    args = ap.parse_args()
    name = torch.cuda.get_device_name()
    rows, results = [], []
    for dtype_name in ("float32", "bfloat16"):
        for label, shape, fv, ft, passes in SUMS + ([] if args.sums else OTHERS):
            dt = getattr(vt, dtype_name)
            host = vt.randn(*shape, dtype=dt)
            x, t = host.cuda(), torch.from_dlpack(host).cuda()  # the same values on both sides
            check(fv(x), ft(t), dtype_name)
            xs = misaligned(shape, dt) if passes == 1 else None
            mv, mt = queued_ms(lambda: fv(x)), queued_ms(lambda: ft(t))
            ms = queued_ms(lambda: fv(xs)) if xs is not None else None
            lv, lt = device_ms(lambda: fv(x)), device_ms(lambda: ft(t))
            nbytes = passes * t.numel() * t.element_size()
            case = f"{label} {shape[0]}x{shape[1]} {dtype_name}"
            rows.append((case, f"{mv * 1e3:.1f}", f"{ms * 1e3:.1f}" if ms else "-", f"{mt * 1e3:.1f}",
                         f"{mt / mv:.2f}x", f"{nbytes / mv / 1e6:.0f}", f"{nbytes / mt / 1e6:.0f}",
                         f"{lv * 1e3:.1f}", f"{lt * 1e3:.1f}"))
            results.append({"case": case, "device": name, "vibetensor_ms": mv, "strided_path_ms": ms,
                            "torch_ms": mt, "speedup_vs_torch": mt / mv, "vibetensor_GBps": nbytes / mv / 1e6,
                            "torch_GBps": nbytes / mt / 1e6, "loop_vibetensor_ms": lv, "loop_torch_ms": lt})
    print_table(f"CUDA reductions on {name} (medians of CUDA-event timings; torch/vt > 1: vibetensor faster)",
                ["case", "vt us", "strided us", "torch us", "torch/vt", "vt GB/s", "torch GB/s", "loop vt us",
                 "loop torch us"], rows)
    write_results("cuda_reduction", results, device=name, gpu=name, versions=versions())


if __name__ == "__main__":
    main()
