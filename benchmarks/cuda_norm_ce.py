"""Fused LayerNorm / RMSNorm and cross-entropy on CUDA: vibetensor vs torch on the same GPU, one run.

    python benchmarks/cuda_norm_ce.py

Cases: LayerNorm and RMSNorm on 16384x4096 bf16 (with weight, and bias for LayerNorm), forward and
forward+backward (autograd.grad of every input); cross-entropy from 8192x32768 bf16 logits, forward and
forward+backward. Times are GPU medians with the calls queued behind a sleep kernel (no host overhead).
GB/s counts the bytes the fused kernels must move: norm forward reads x and writes y; its backward reads x
and dy and writes dx; cross-entropy's forward reads the logits, its backward reads them again and writes
their gradient. "of copy" compares that with torch's device-to-device copy of the same tensor in this run.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import close, queued_ms, same  # noqa: E402

import torch  # noqa: E402

import vibetensor as vt  # noqa: E402

NORM_SHAPE, CE_SHAPE = (16384, 4096), (8192, 32768)


def norm_cases():
    m, n = NORM_SHAPE
    x, tx = same(NORM_SHAPE, requires_grad=True)
    w, tw = same((n,), requires_grad=True)
    b, tb = same((n,), requires_grad=True)
    dy, tdy = same(NORM_SHAPE)
    elem = m * n * 2
    layer = (lambda: vt.nn.functional.layer_norm(x, [n], w, b), lambda: torch.nn.functional.layer_norm(tx, [n], tw, tb),
             [x, w, b], [tx, tw, tb])
    rms = (lambda: vt.nn.functional.rms_norm(x, [n], w, 1e-6), lambda: torch.nn.functional.rms_norm(tx, [n], tw, 1e-6),
           [x, w], [tx, tw])
    for name, (fv, ft, iv, it) in (("layer_norm", layer), ("rms_norm", rms)):
        close(fv(), ft())
        yield f"{name} {m}x{n} bf16 fwd", fv, ft, 2 * elem
        gv = lambda fv=fv, iv=iv: vt.autograd.grad(fv(), iv, dy)  # noqa: E731
        gt = lambda ft=ft, it=it: torch.autograd.grad(ft(), it, tdy)  # noqa: E731
        for a, b_ in zip(gv(), gt()):
            close(a, b_, tol=5e-2)  # weight gradients sum 16384 rows of bf16 products
        yield f"{name} {m}x{n} bf16 fwd+bwd", gv, gt, 5 * elem


def ce_cases():
    rows, classes = CE_SHAPE
    x, tx = same(CE_SHAPE, scale=2.0, requires_grad=True)
    target_host = vt.randint(0, classes, [rows])
    target_host[::97] = -100  # a few ignored rows, as padding would give
    target, ttarget = target_host.cuda(), torch.from_dlpack(target_host).cuda()
    fv = lambda: vt.nn.functional.cross_entropy(x, target)  # noqa: E731
    ft = lambda: torch.nn.functional.cross_entropy(tx, ttarget)  # noqa: E731
    close(fv(), ft())
    elem = rows * classes * 2
    yield f"cross_entropy {rows}x{classes} bf16 fwd", fv, ft, elem
    gv = lambda: vt.autograd.grad(fv(), [x])  # noqa: E731
    gt = lambda: torch.autograd.grad(ft(), [tx])  # noqa: E731
    close(gv()[0], gt()[0], tol=1e-2)
    yield f"cross_entropy {rows}x{classes} bf16 fwd+bwd", gv, gt, 3 * elem


def main():
    name = torch.cuda.get_device_name()
    copy_src = torch.randn(*NORM_SHAPE, device="cuda", dtype=torch.bfloat16)
    copy_ms = queued_ms(lambda: copy_src.clone())
    copy_gbps = 2 * copy_src.numel() * 2 / copy_ms / 1e6
    rows, results = [], []
    for case, fv, ft, nbytes in [*norm_cases(), *ce_cases()]:
        mv, mt = queued_ms(fv), queued_ms(ft)
        gbps = nbytes / mv / 1e6
        rows.append((case, f"{mv * 1e3:.1f}", f"{mt * 1e3:.1f}", f"{mt / mv:.2f}x", f"{gbps:.0f}",
                     f"{nbytes / mt / 1e6:.0f}", f"{gbps / copy_gbps:.0%}"))
        results.append({"case": case, "device": name, "vibetensor_ms": mv, "torch_ms": mt, "speedup_vs_torch": mt / mv,
                        "vibetensor_GBps": gbps, "torch_GBps": nbytes / mt / 1e6, "copy_GBps": copy_gbps,
                        "fraction_of_copy": gbps / copy_gbps})
    print_table(f"Fused norms and cross-entropy on {name} (GPU medians; torch/vt > 1: vibetensor faster; "
                f"torch copy {copy_gbps:.0f} GB/s)",
                ["case", "vt us", "torch us", "torch/vt", "vt GB/s", "torch GB/s", "vt of copy"], rows)
    write_results("cuda_norm_ce", results, device=name, gpu=name, versions=versions())


if __name__ == "__main__":
    main()
