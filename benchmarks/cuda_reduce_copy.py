"""The fabric's reduce-copy step (dst <- a + b) on one GPU: the CuTe DSL plugin, the Triton plugin and
torch.add(a, b, out=dst), at 2^26 float32 and bfloat16 elements. GB/s counts 3 * n * itemsize bytes (two
reads and a write), next to a device-to-device copy's 2 * n * itemsize.

    PYTHONPATH=$PWD/.site:$PWD/.site/nvidia_cutlass_dsl/python_packages python3 benchmarks/cuda_reduce_copy.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import device_ms  # noqa: E402

import torch  # noqa: E402

import vibetensor as vt  # noqa: E402
from vibetensor.fabric.collectives import reduce_copy as registry  # noqa: E402

N = 1 << 26


def main():
    name = torch.cuda.get_device_name()
    registry.plugin()  # loads the optional plugins: "cute" registers itself where nvidia-cutlass-dsl imports
    plugins = [p for p in ("cute", "triton") if p in registry.PLUGINS]
    rows, results = [], []
    for dtype, tdtype in ((vt.float32, torch.float32), (vt.bfloat16, torch.bfloat16)):
        nbytes = 3 * N * dtype.itemsize
        ta, tb, td = (torch.randn(N, device="cuda", dtype=tdtype) for _ in range(3))  # never time on constants
        a, b, d = (vt.randn(N + 8, device="cuda").to(dtype) for _ in range(3))
        a1, b1, d1 = (t.narrow(0, 1, N) for t in (a, b, d))  # one element off the 16-byte boundary
        a, b, d = (t.narrow(0, 0, N) for t in (a, b, d))
        copy_ms = device_ms(lambda: td.copy_(ta))
        copy_gbs = 2 * N * dtype.itemsize / copy_ms / 1e6
        cases = {f"{p} plugin": (lambda p=p: registry.reduce_copy(d, a, b, "sum", name=p)) for p in plugins}
        if "cute" in plugins:  # its scalar form, for pointers off the 16-byte boundary
            cases["cute plugin, 1 element off"] = lambda: registry.reduce_copy(d1, a1, b1, "sum", name="cute")
        cases["torch.add(out=)"] = lambda: torch.add(ta, tb, out=td)
        for case, fn in cases.items():
            ms = device_ms(fn)
            gbs = nbytes / ms / 1e6
            rows.append((f"{case} {dtype.name}", f"{ms:.3f}", f"{gbs:.0f}", f"{gbs / copy_gbs:.2f}"))
            results.append({"case": case, "dtype": dtype.name, "n": N, "ms": ms, "GBps": gbs,
                            "fraction_of_copy_GBps": gbs / copy_gbs, "copy_GBps": copy_gbs})
    print_table(f"reduce-copy dst <- a + b, 2^26 elements, on {name} (medians of CUDA-event timings)",
                ["case", "ms", "GB/s", "of copy"], rows)
    write_results("cuda_reduce_copy", results, gpu=name, versions=versions(),
                  missing=[p for p in ("cute", "triton") if p not in plugins])


if __name__ == "__main__":
    main()
