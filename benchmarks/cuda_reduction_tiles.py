"""Row-reduction tile sweep on one GPU: the row layout's (BLOCK_O rows x BLOCK_R elements) tiles of
csrc/cuda/reduce.cpp launched directly for sums over rows, per dtype and shape, with torch's sum and our default
in the same run (medians of CUDA-event timings, the calls queued behind a sleep kernel).

    python benchmarks/cuda_reduction_tiles.py

Each tile's result is checked against float64 (max relative error in the row "<tile> err"). What it showed on an
H100 set k16BitRowElems in reduce.cpp.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import versions, write_results  # noqa: E402
from cuda_timing import queued_ms  # noqa: E402

import torch  # noqa: E402

import vibetensor as vt  # noqa: E402
from vibetensor import _C  # noqa: E402

TILES = ((1, 4096), (1, 2048), (2, 2048), (1, 1024), (2, 1024), (4, 1024), (8, 1024), (2, 512), (8, 512), (1, 8192))
SHAPES = ((4096, 4096), (2560, 4096), (16384, 1024), (8192, 8192))


def main():
    rows = []
    for dtype, tname in ((vt.bfloat16, "bfloat16"), (vt.float32, "float32")):
        for O, R in SHAPES:
            x = vt.randn(O, R, device="cuda", dtype=dtype)
            t = torch.from_dlpack(x)
            out = vt.empty(O, device="cuda", dtype=dtype)
            want = t.double().sum(1)
            row = {"dtype": tname, "shape": [O, R], "torch_us": queued_ms(lambda: t.sum(1), n=50) * 1e3,
                   "default_us": queued_ms(lambda: x.sum(1), n=50) * 1e3}
            for bo, br in TILES:
                if br > R or bo * br > 8192:
                    continue
                key = f"red|sum|{dtype.name}|{dtype.name}|float32|{bo}|{br}|1|r"
                args = [("ptr", x.data_ptr()), ("ptr", out.data_ptr())] + \
                    [("i64", v) for v in (O, R, 1, R, 1, 1, R)] + [("f64", 0.0)]
                grid = (-(-O // bo), 1, 1)
                _C._cuda.launch_kernel(key, grid, args)
                got = torch.from_dlpack(out).double()
                row[f"{bo}x{br} err"] = ((got - want).abs() / (1 + want.abs())).max().item()
                row[f"{bo}x{br}"] = queued_ms(lambda: _C._cuda.launch_kernel(key, grid, args), n=50) * 1e3
            best = min((k for k in row if "x" in k and not k.endswith("err")), key=row.get)
            row["best"] = best
            print(tname, O, R, f"torch {row['torch_us']:.1f} us, default {row['default_us']:.1f}, best {best} "
                  f"{row[best]:.1f}", flush=True)
            rows.append(row)
    name = torch.cuda.get_device_name()
    write_results("cuda_reduction_tiles", rows, gpu=name, versions=versions(), unit="us per sum over rows")


if __name__ == "__main__":
    main()
