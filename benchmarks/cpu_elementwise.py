"""Elementwise bandwidth on CPU: vibetensor vs torch vs numpy at three sizes (GB/s of bytes read + written).

    python benchmarks/cpu_elementwise.py
"""
import sys

import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__file__))
from common import median_time, print_table, versions, write_results  # noqa: E402

import vibetensor as vt  # noqa: E402

try:
    import torch
    torch.set_num_threads(vt.get_num_threads())
except ImportError:
    torch = None

SIZES = [1 << 12, 1 << 18, 1 << 24]  # 16 KiB (cache), 1 MiB (L2/L3), 64 MiB (memory) per float32 operand


def ops(n):
    gen = np.random.default_rng(0)
    a_n, b_n = gen.uniform(0.5, 2, n).astype(np.float32), gen.uniform(0.5, 2, n).astype(np.float32)
    a_v, b_v = vt.tensor(a_n), vt.tensor(b_n)
    a_t, b_t = (torch.from_numpy(a_n.copy()), torch.from_numpy(b_n.copy())) if torch else (None, None)
    # (name, bytes moved, vt, torch, numpy, check)
    return [
        ("a + b", 12 * n, lambda: a_v + b_v, (lambda: a_t + b_t) if torch else None, lambda: a_n + b_n,
         lambda: np.allclose((a_v + b_v).numpy(), a_n + b_n)),
        ("a * 2.5", 8 * n, lambda: a_v * 2.5, (lambda: a_t * 2.5) if torch else None, lambda: a_n * np.float32(2.5),
         lambda: np.allclose((a_v * 2.5).numpy(), a_n * 2.5)),
        ("exp(a)", 8 * n, lambda: a_v.exp(), (lambda: a_t.exp()) if torch else None, lambda: np.exp(a_n),
         lambda: np.allclose(a_v.exp().numpy(), np.exp(a_n), rtol=1e-6)),
        ("a.add_(b)", 12 * n, lambda: a_v.add_(b_v), (lambda: a_t.add_(b_t)) if torch else None,
         lambda: np.add(a_n, b_n, out=a_n), lambda: True),
    ]


def main():
    rows, results = [], []
    for n in SIZES:
        for name, nbytes, fv, ft, fn, check in ops(n):
            assert check(), f"{name} gave a wrong result at n={n}"
            tv, tn = median_time(fv), median_time(fn)
            tt = median_time(ft) if ft else None
            gb = lambda t: nbytes / t / 1e9  # noqa: E731
            rows.append((name, n, f"{gb(tv):.1f}", f"{gb(tt):.1f}" if tt else "-", f"{gb(tn):.1f}",
                         f"{tt / tv:.2f}x" if tt else "-", f"{tn / tv:.2f}x"))
            results.append({"op": name, "numel": n, "bytes": nbytes, "vibetensor_s": tv, "torch_s": tt,
                            "numpy_s": tn, "vibetensor_GBps": gb(tv), "torch_GBps": gb(tt) if tt else None,
                            "numpy_GBps": gb(tn), "torch_over_vibetensor": tt / tv if tt else None,
                            "numpy_over_vibetensor": tn / tv})
    print_table(f"Elementwise float32 bandwidth, GB/s (median; {vt.get_num_threads()} threads; ratios > 1: we are faster)",
                ["op", "numel", "vibetensor", "torch", "numpy", "torch/vt", "numpy/vt"], rows)
    write_results("cpu_elementwise", results, versions=versions(), threads=vt.get_num_threads())


if __name__ == "__main__":
    main()
