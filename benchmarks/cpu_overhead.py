"""Per-op host overhead on CPU: vibetensor vs torch vs numpy on tiny tensors, where overhead is all there is.

    python benchmarks/cpu_overhead.py
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


def cases():
    a_v, a_n = vt.arange(16.0), np.arange(16.0, dtype=np.float32)
    b_v, b_n = vt.arange(16.0), np.arange(16.0, dtype=np.float32)
    a_t = torch.arange(16.0) if torch else None
    b_t = torch.arange(16.0) if torch else None
    m_v, m_t, m_n = a_v.view(4, 4), (a_t.view(4, 4) if torch else None), a_n.reshape(4, 4)
    return [
        ("a + 1", lambda: a_v + 1, (lambda: a_t + 1) if torch else None, lambda: a_n + 1),
        ("a + b", lambda: a_v + b_v, (lambda: a_t + b_t) if torch else None, lambda: a_n + b_n),
        ("a.sum()", lambda: a_v.sum(), (lambda: a_t.sum()) if torch else None, lambda: a_n.sum()),
        ("a.view(4, 4)", lambda: a_v.view(4, 4), (lambda: a_t.view(4, 4)) if torch else None, lambda: a_n.reshape(4, 4)),
        ("a[3]", lambda: a_v[3], (lambda: a_t[3]) if torch else None, lambda: a_n[3]),
        ("m.t()", lambda: m_v.t(), (lambda: m_t.t()) if torch else None, lambda: m_n.T),
        ("a.exp()", lambda: a_v.exp(), (lambda: a_t.exp()) if torch else None, lambda: np.exp(a_n)),
        ("a.add_(1)", lambda: a_v.add_(1), (lambda: a_t.add_(1)) if torch else None, lambda: np.add(a_n, 1, out=a_n)),
        ("vt.zeros(16)", lambda: vt.zeros(16), (lambda: torch.zeros(16)) if torch else None, lambda: np.zeros(16, np.float32)),
    ] + autograd_cases()


def autograd_cases():
    """Recording with autograd (issue 8: a host-bound training step) and a tiny backward; numpy has neither."""
    g_v = [vt.arange(16.0).requires_grad_() for _ in range(2)]
    g_t = [torch.arange(16.0).requires_grad_() for _ in range(2)] if torch else None
    return [
        ("a * b, recorded", lambda: g_v[0] * g_v[1], (lambda: g_t[0] * g_t[1]) if torch else None, None),
        ("(a * b).sum().backward()", lambda: (g_v[0] * g_v[1]).sum().backward(),
         (lambda: (g_t[0] * g_t[1]).sum().backward()) if torch else None, None),
    ]


def main():
    rows, results = [], []
    for name, fv, ft, fn in cases():
        tv = median_time(fv)
        tt = median_time(ft) if ft else None
        tn = median_time(fn) if fn else None
        ratio = tt / tv if tt else None
        rows.append((name, f"{tv * 1e6:.2f}", f"{tt * 1e6:.2f}" if tt else "-", f"{tn * 1e6:.2f}" if tn else "-",
                     f"{ratio:.2f}x" if ratio else "-"))
        results.append({"op": name, "vibetensor_us": tv * 1e6, "torch_us": tt * 1e6 if tt else None,
                        "numpy_us": tn * 1e6 if tn else None, "torch_over_vibetensor": ratio})
    print_table("Host overhead per call on 16-element float32 tensors (median, microseconds; ratio > 1: we are faster)",
                ["op", "vibetensor", "torch", "numpy", "torch/vt"], rows)
    write_results("cpu_overhead", results, versions=versions())


if __name__ == "__main__":
    main()
