"""CUDA reductions and softmax: vibetensor vs torch on the same GPU, one run.

    python benchmarks/cuda_reduction.py

Each case reads its input once (R*C*bytes) and writes a small output: the floor is the copy bandwidth.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import device_ms  # noqa: E402

import torch  # noqa: E402

import vibetensor as vt  # noqa: E402

CASES = [  # (name, shape, vibetensor call, torch call, bytes moved per element read)
    ("sum over rows (dim=1)", (4096, 4096), lambda x: x.sum(1), lambda t: t.sum(1), 1),
    ("sum over columns (dim=0)", (4096, 4096), lambda x: x.sum(0), lambda t: t.sum(0), 1),
    ("sum over rows (dim=1)", (16384, 1024), lambda x: x.sum(1), lambda t: t.sum(1), 1),
    ("sum, all", (4096, 4096), lambda x: x.sum(), lambda t: t.sum(), 1),
    ("amax over rows", (4096, 4096), lambda x: x.amax(1), lambda t: t.amax(1), 1),
    ("softmax(dim=-1)", (4096, 4096), lambda x: vt.softmax(x, -1), lambda t: torch.softmax(t, -1), 2),
    ("softmax(dim=-1)", (16384, 1024), lambda x: vt.softmax(x, -1), lambda t: torch.softmax(t, -1), 2),
    ("log_softmax(dim=-1)", (4096, 4096), lambda x: vt.log_softmax(x, -1), lambda t: torch.log_softmax(t, -1), 2),
]


def main():
    name = torch.cuda.get_device_name()
    rows, results = [], []
    for dtype_name in ("float32", "bfloat16"):
        for label, shape, fv, ft, passes in CASES:
            t = torch.randn(*shape, device="cuda", dtype=getattr(torch, dtype_name))
            x = vt.randn(*shape, device="cuda", dtype=getattr(vt, dtype_name))
            mv, mt = device_ms(lambda: fv(x)), device_ms(lambda: ft(t))
            nbytes = passes * t.numel() * t.element_size()
            gv, gt = nbytes / mv / 1e6, nbytes / mt / 1e6
            case = f"{label} {shape[0]}x{shape[1]} {dtype_name}"
            rows.append((case, f"{mv * 1e3:.1f}", f"{mt * 1e3:.1f}", f"{gv:.0f}", f"{gt:.0f}", f"{mt / mv:.2f}x"))
            results.append({"case": case, "vibetensor_ms": mv, "torch_ms": mt, "vibetensor_GBps": gv,
                            "torch_GBps": gt, "speedup_vs_torch": mt / mv})
    print_table(f"CUDA reductions on {name} (medians of CUDA-event timings; ratio > 1: vibetensor faster)",
                ["case", "vt us", "torch us", "vt GB/s", "torch GB/s", "torch/vt"], rows)
    write_results("cuda_reduction", results, gpu=name, versions=versions())


if __name__ == "__main__":
    main()
