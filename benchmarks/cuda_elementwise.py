"""CUDA elementwise bandwidth and small-op launch overhead: vibetensor vs torch on the same GPU, one run.

    python benchmarks/cuda_elementwise.py

Dense float32 ops on 2^28 elements, and the strided kinds a training step is full of, in bf16: a bias added
over the rows of 8192x3072 (a broadcast operand), a transposing copy of 4096x4096 and a sliced
add (every other column). GB/s counts the bytes each must move (reads and writes once).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import device_ms, host_us  # noqa: E402

import torch  # noqa: E402

import vibetensor as vt  # noqa: E402


def main():
    name = torch.cuda.get_device_name()
    rows, results = [], []
    a, ta = vt.ones(16, device="cuda"), torch.ones(16, device="cuda")
    tv, tt = host_us(lambda: a + 1), host_us(lambda: ta + 1)
    rows.append(("a + 1 (16 floats) host us", f"{tv:.2f}", f"{tt:.2f}", f"{tt / tv:.2f}x"))
    results.append({"case": "a + 1, 16 float32, host time per call", "vibetensor_us": tv, "torch_us": tt})
    n = 1 << 28
    tx, ty = torch.randn(n, device="cuda"), torch.randn(n, device="cuda")  # never time on constants
    x, y = vt.randn(n, device="cuda"), vt.randn(n, device="cuda")
    copy_ms = device_ms(lambda: ty.copy_(tx))
    copy_gbs = 2 * 4 * n / copy_ms / 1e6
    for op, fv, ft, k in [("copy", lambda: y.copy_(x), lambda: ty.copy_(tx), 2), ("add", lambda: x + y, lambda: tx + ty, 3),
                          ("mul by scalar", lambda: x * 2.0, lambda: tx * 2.0, 2),
                          ("gelu", lambda: vt.nn.functional.gelu(x), lambda: torch.nn.functional.gelu(tx), 2)]:
        mv, mt = device_ms(fv), device_ms(ft)
        gv, gt = k * 4 * n / mv / 1e6, k * 4 * n / mt / 1e6
        rows.append((f"{op} 2^28 f32 GB/s", f"{gv:.0f}", f"{gt:.0f}", f"{mt / mv:.2f}x"))
        results.append({"case": f"{op}, 2^28 float32", "vibetensor_ms": mv, "torch_ms": mt, "vibetensor_GBps": gv,
                        "torch_GBps": gt, "fraction_of_copy_bandwidth": gv / copy_gbs})
    bf = vt.bfloat16
    m = vt.randn(8192, 3072, device="cuda").to(bf)
    bias, sq = vt.randn(3072, device="cuda").to(bf), vt.randn(4096, 4096, device="cuda").to(bf)
    tm, tbias, tsq = (torch.from_dlpack(t) for t in (m, bias, sq))
    for op, fv, ft, nbytes in [
            ("bias add over rows 8192x3072 bf16", lambda: m + bias, lambda: tm + tbias, 2 * 2 * m.numel()),
            ("transposing copy 4096x4096 bf16", lambda: sq.t().contiguous(), lambda: tsq.t().contiguous(),
             2 * 2 * sq.numel()),
            ("add of every other column 4096x2048 bf16", lambda: sq[:, ::2] + sq[:, 1::2],
             lambda: tsq[:, ::2] + tsq[:, 1::2], 3 * sq.numel())]:
        mv, mt = device_ms(fv), device_ms(ft)
        gv, gt = nbytes / mv / 1e6, nbytes / mt / 1e6
        rows.append((f"{op} GB/s", f"{gv:.0f}", f"{gt:.0f}", f"{mt / mv:.2f}x"))
        results.append({"case": op, "vibetensor_ms": mv, "torch_ms": mt, "vibetensor_GBps": gv, "torch_GBps": gt,
                        "fraction_of_copy_bandwidth": gv / copy_gbs})
    print_table(f"CUDA elementwise on {name} (medians; ratio > 1: vibetensor faster)",
                ["case", "vibetensor", "torch", "torch/vt"], rows)
    write_results("cuda_elementwise", results, gpu=name, versions=versions(), copy_GBps=copy_gbs)


if __name__ == "__main__":
    main()
