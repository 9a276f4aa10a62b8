"""CUDA GEMM throughput: vibetensor (cuBLASLt, and its Triton fallback) vs torch.matmul on the same GPU, one run.

    python benchmarks/cuda_matmul.py

Both libraries get the same input values; each case is timed with its own library's CUDA events (medians of
7 samples of back-to-back calls, vibetensor and torch samples interleaved), then the outputs are compared.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import vibetensor as vt  # noqa: E402

# (label, batch (0: a plain mm), m, n, k, dtype, tf32, vibetensor backend)
CASES = [
    ("bf16 mm 4096^3", 0, 4096, 4096, 4096, "bfloat16", False, "cublaslt"),
    ("bf16 mm 8192^3", 0, 8192, 8192, 8192, "bfloat16", False, "cublaslt"),
    ("fp16 mm 4096^3", 0, 4096, 4096, 4096, "float16", False, "cublaslt"),
    ("tf32 mm 4096^3", 0, 4096, 4096, 4096, "float32", True, "cublaslt"),
    ("fp32 mm 4096^3", 0, 4096, 4096, 4096, "float32", False, "cublaslt"),
    ("bf16 bmm 32x1024^3", 32, 1024, 1024, 1024, "bfloat16", False, "cublaslt"),
    ("bf16 mm 4096^3 (vt Triton GEMM)", 0, 4096, 4096, 4096, "bfloat16", False, "triton"),
    ("tf32 mm 4096^3 (vt Triton GEMM)", 0, 4096, 4096, 4096, "float32", True, "triton"),
]
SAMPLE_MS = 50  # each timing sample runs back-to-back calls for about this long
ROUNDS = 7


def inputs(batch, m, n, k, dtype, seed):
    """The same standard-normal operands for both libraries (made once in float32 on the host)."""
    gen = np.random.default_rng(seed)
    lead = (batch,) if batch else ()
    a = gen.standard_normal(lead + (m, k), dtype=np.float32)
    b = gen.standard_normal(lead + (k, n), dtype=np.float32)
    tdt = getattr(torch, dtype)
    vdt = getattr(vt, dtype)
    return (vt.tensor(a).cuda().to(vdt), vt.tensor(b).cuda().to(vdt),
            torch.from_numpy(a).cuda().to(tdt), torch.from_numpy(b).cuda().to(tdt))


def sample_ms(fn, event, n):
    start, end = event(enable_timing=True), event(enable_timing=True)
    start.record()
    for _ in range(n):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / n


def calls_per_sample(fn, event):
    for _ in range(3):  # warm up: plans, heuristics, kernel compiles
        fn()
    return max(2, int(SAMPLE_MS / max(sample_ms(fn, event, 2), 1e-3)))


def compare(out_vt, out_torch):
    """Max |vt - torch| over a 256 x 256 corner, relative to torch's largest magnitude there."""
    if out_vt.dim() == 3:
        out_vt, out_torch = out_vt[0], out_torch[0]
    v = out_vt[:256, :256].cpu().float().numpy()
    t = out_torch[:256, :256].float().cpu().numpy()
    return float(np.abs(v - t).max() / max(np.abs(t).max(), 1e-30))


def run_case(label, batch, m, n, k, dtype, tf32, backend, seed):
    va, vb, ta, tb = inputs(batch, m, n, k, dtype, seed)
    vt.backends.cuda.preferred_blas_library(backend)
    vt.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        used = vt.backends.cuda.matmul.backend
        fv, ft = (lambda: vt.matmul(va, vb)), (lambda: torch.matmul(ta, tb))
        nv, nt = calls_per_sample(fv, vt.cuda.Event), calls_per_sample(ft, torch.cuda.Event)
        sv, st = [], []
        for _ in range(ROUNDS):  # interleaved, so clock and thermal drift hit both alike
            sv.append(sample_ms(fv, vt.cuda.Event, nv))
            st.append(sample_ms(ft, torch.cuda.Event, nt))
        mv, mt = statistics.median(sv), statistics.median(st)
        rel_diff = compare(fv(), ft())
    finally:
        vt.backends.cuda.preferred_blas_library("cublaslt")
        vt.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    flops = 2.0 * max(batch, 1) * m * n * k
    return {"case": label, "batch": batch, "m": m, "n": n, "k": k, "dtype": dtype, "tf32": tf32,
            "vibetensor_backend": used, "vibetensor_ms": mv, "torch_ms": mt,
            "vibetensor_TFLOPs": flops / mv / 1e9, "torch_TFLOPs": flops / mt / 1e9,
            "vt_over_torch_throughput": mt / mv, "max_rel_diff_vs_torch": rel_diff}


def main():
    if not vt.cuda.is_available() or not torch.cuda.is_available():
        sys.exit("cuda_matmul.py needs a CUDA GPU visible to both vibetensor and torch")
    name = torch.cuda.get_device_name()
    results, rows = [], []
    for i, case in enumerate(CASES):
        r = run_case(*case, seed=i)
        results.append(r)
        rows.append((r["case"], r["vibetensor_backend"], f"{r['vibetensor_ms']:.3f}", f"{r['torch_ms']:.3f}",
                     f"{r['vibetensor_TFLOPs']:.0f}", f"{r['torch_TFLOPs']:.0f}",
                     f"{r['vt_over_torch_throughput']:.3f}", f"{r['max_rel_diff_vs_torch']:.1e}"))
        torch.cuda.empty_cache()
        vt.cuda.empty_cache()
    print_table(f"CUDA GEMM on {name} (medians; vt/torch > 1: vibetensor faster)",
                ["case", "vt backend", "vt ms", "torch ms", "vt TFLOP/s", "torch TFLOP/s", "vt/torch", "rel diff"],
                rows)
    write_results("cuda_matmul", results, gpu=name, versions=versions(), cublaslt=vt.backends.cuda.cublaslt_info())


if __name__ == "__main__":
    main()
