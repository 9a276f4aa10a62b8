"""Host cost of autocast per op call: vibetensor vs torch, autocast off and on, on tiny tensors.

    python benchmarks/autocast_overhead.py            # CPU, bfloat16
    python benchmarks/autocast_overhead.py --device cuda

Off, an op pays nothing for autocast (benchmarks/cpu_overhead.py is the before/after check of that); on,
an op outside the table pays one flag test, an op in it the casts it needs. The region is entered once
around each timing loop (entering and leaving one is its own row), so the weight casts of `linear` are
the cache's hits, as in a forward pass that reuses a weight.
"""
import argparse
import contextlib
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: spinning OpenMP workers distort tiny ops
sys.path.insert(0, os.path.dirname(__file__))
from common import median_time, print_table, versions, write_results  # noqa: E402

import vibetensor as vt  # noqa: E402

try:
    import torch
    torch.set_num_threads(vt.get_num_threads())
except ImportError:
    torch = None


def cases(lib, device):
    F = lib.nn.functional
    x32 = lib.ones(4, 16, device=device)
    x16 = x32.to(lib.bfloat16)
    m32, m16 = lib.ones(16, 16, device=device), lib.ones(16, 16, device=device).to(lib.bfloat16)
    w, b = lib.nn.Parameter(lib.ones(16, 16, device=device)), lib.nn.Parameter(lib.ones(16, device=device))
    return {
        "a + b (not in the table)": lambda: x32 + x32,
        "mm, bf16 inputs (no cast)": lambda: lib.mm(m16, m16),
        "mm, fp32 inputs (2 casts)": lambda: lib.mm(m32, m32),
        "linear, fp32 (x cast, weights cached)": lambda: F.linear(x32, w, b),
        "softmax (CUDA: fp32 dtype)": lambda: x16.softmax(-1),
        "layer_norm (a Python op)": lambda: F.layer_norm(x32, (16,)),
        "enter + exit a region": None,
    }


def time_case(lib, fn, device, on):
    if fn is None:  # the region itself
        return median_time(lambda: lib.autocast(device, dtype=lib.bfloat16).__enter__().__exit__(None, None, None))
    region = lib.autocast(device, dtype=lib.bfloat16) if on else contextlib.nullcontext()
    with region:
        return median_time(fn)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args()
    libs = [("vibetensor", vt)] + ([("torch", torch)] if torch else [])
    table = {name: {} for name in cases(vt, args.device)}
    for lib_name, lib in libs:
        for name, fn in cases(lib, args.device).items():
            for on in (False, True):
                if fn is None and not on:
                    continue
                table[name][(lib_name, on)] = time_case(lib, fn, args.device, on) * 1e6
    rows, results = [], []
    for name, t in table.items():
        def cell(lib, on):
            return f"{t[(lib, on)]:.2f}" if (lib, on) in t else "-"
        rows.append([name, cell("vibetensor", False), cell("vibetensor", True), cell("torch", False),
                     cell("torch", True)])
        results.append({"op": name, **{f"{lib}_{'on' if on else 'off'}_us": v for (lib, on), v in t.items()}})
    print_table(f"Autocast host cost per call on {args.device} (median microseconds)",
                ["op", "vt off", "vt on", "torch off", "torch on"], rows)
    gpu = vt.cuda.get_device_name() if args.device == "cuda" else None  # the card whose calls were timed
    write_results(f"autocast_overhead_{args.device}", results, versions=versions(), gpu=gpu)


if __name__ == "__main__":
    main()
