"""Fused bias-GELU / bias-SiLU, GELU's gradient, dropout, rotary embedding and embedding's backward on CUDA:
vibetensor vs torch eager on the same GPU, one run.

    python benchmarks/cuda_fused_act.py

Cases (bf16): the GPT-2 small MLP activation, 8192x3072 (F.bias_gelu / bias_silu vs torch's
gelu(x + b) / silu(x + b), forward and forward+backward with the bias gradient; plain F.gelu forward+backward;
F.dropout p=0.1 forward and forward+backward, one kernel each way against torch's fused native_dropout);
rotary embedding of q [8, 1024, 12, 64] with [1024, 32] fp32 tables (torch: the two-mul-add rotate_half
code, tables cast to bf16 and broadcast, as in HF Llama); the weight gradient of a 50304x768 embedding
from 8x1024 token indices, uniform and Zipf-distributed (torch: aten.embedding_dense_backward, what
nn.functional.embedding's backward runs). Times are GPU medians with the calls queued behind a sleep kernel
(no host overhead). GB/s counts the bytes the fused kernels must move (activation forward: read x, write y;
backward: read x and dy, write dx; dropout: read x, write y and the bool mask, its backward read dy and the
mask, write dx; rotary: read x, write y; embedding backward: read dy, write the whole gradient); "of copy"
compares that with torch's device-to-device copy in this run. The embedding backward is also run
repeatedly to say whether its bits change from call to call.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import close, queued_ms, same  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import vibetensor as vt  # noqa: E402

F, TF = vt.nn.functional, torch.nn.functional
MLP, ROPE, EMB = (8192, 3072), (8, 1024, 12, 64), (50304, 768, 8 * 1024)


def activation_cases():
    m, n = MLP
    x, tx = same(MLP, requires_grad=True)
    b, tb = same((n,), requires_grad=True)
    dy, tdy = same(MLP)
    elem = m * n * 2
    cases = {"bias_gelu": (lambda: F.bias_gelu(x, b), lambda: TF.gelu(tx + tb), [x, b], [tx, tb]),
             "bias_gelu tanh": (lambda: F.bias_gelu(x, b, approximate="tanh"),
                                lambda: TF.gelu(tx + tb, approximate="tanh"), [x, b], [tx, tb]),
             "bias_silu": (lambda: F.bias_silu(x, b), lambda: TF.silu(tx + tb), [x, b], [tx, tb]),
             "gelu": (lambda: F.gelu(x), lambda: TF.gelu(tx), [x], [tx])}
    for name, (fv, ft, iv, it) in cases.items():
        close(fv(), ft())
        if name != "gelu":
            yield f"{name} {m}x{n} bf16 fwd", fv, ft, 2 * elem
        gv = lambda fv=fv, iv=iv: vt.autograd.grad(fv(), iv, dy)  # noqa: E731
        gt = lambda ft=ft, it=it: torch.autograd.grad(ft(), it, tdy)  # noqa: E731
        for a, b_ in zip(gv(), gt()):
            close(a, b_, tol=5e-2)  # the bias gradient sums 8192 rows of bf16 products
        yield f"{name} {m}x{n} bf16 fwd+bwd", gv, gt, 5 * elem


def dropout_cases():
    p, n = 0.1, MLP[0] * MLP[1]
    x, tx = same(MLP, requires_grad=True)
    dy, tdy = same(MLP)
    fv = lambda: F.dropout(x, p)  # noqa: E731
    ft = lambda: TF.dropout(tx, p)  # noqa: E731
    # the masks are random, so check the kept fraction and the scale instead of comparing with torch's values
    y = fv().float()
    kept = (y != 0).float()
    assert abs(kept.mean().item() - (1 - p)) < 0.01, "dropout kept fraction"
    close(y, torch.from_dlpack((x.detach().float() / (1 - p) * kept).contiguous()), tol=1e-2)
    yield f"dropout p={p} {MLP[0]}x{MLP[1]} bf16 fwd", fv, ft, 5 * n
    gv = lambda: vt.autograd.grad(fv(), [x], dy)  # noqa: E731
    gt = lambda: torch.autograd.grad(ft(), [tx], tdy)  # noqa: E731
    yield f"dropout p={p} {MLP[0]}x{MLP[1]} bf16 fwd+bwd", gv, gt, 10 * n


def rotary_cases():
    b, t, h, d = ROPE
    x, tx = same(ROPE, requires_grad=True)
    dy, tdy = same(ROPE)
    ang = np.arange(t)[:, None] * 10000.0 ** (-np.arange(d // 2)[None, :] * 2 / d)
    cos, sin = (vt.tensor(f(ang).astype(np.float32)).cuda() for f in (np.cos, np.sin))
    tcos = torch.from_dlpack(cos).repeat(1, 2)[None, :, None].to(torch.bfloat16)
    tsin = torch.from_dlpack(sin).repeat(1, 2)[None, :, None].to(torch.bfloat16)

    def torch_rope():
        return tx * tcos + torch.cat([-tx[..., d // 2:], tx[..., :d // 2]], -1) * tsin

    fv = lambda: F.apply_rotary_emb(x, cos, sin)  # noqa: E731
    close(fv(), torch_rope())
    elem = x.numel() * 2
    yield f"rotary {b}x{t}x{h}x{d} bf16 fwd", fv, torch_rope, 2 * elem
    gv = lambda: vt.autograd.grad(fv(), [x], dy)  # noqa: E731
    gt = lambda: torch.autograd.grad(torch_rope(), [tx], tdy)  # noqa: E731
    close(gv()[0], gt()[0])
    yield f"rotary {b}x{t}x{h}x{d} bf16 fwd+bwd", gv, gt, 4 * elem


def embedding_cases(determinism):
    v, d, n = EMB
    dy, tdy = same((n, d))
    gen = np.random.default_rng(0)
    zipf = np.minimum(gen.zipf(1.2, size=n) - 1, v - 1)  # token frequencies of text: a few very common ones
    for dist, idx_np in (("uniform", gen.integers(0, v, size=n)), ("zipf", zipf)):
        idx = vt.tensor(idx_np.astype(np.int64)).cuda()
        tidx = torch.from_dlpack(idx)
        fv = lambda idx=idx: vt.ops.embedding_dense_backward(dy, idx, v, -1)  # noqa: E731
        ft = lambda tidx=tidx: torch.ops.aten.embedding_dense_backward(tdy, tidx, v, -1, False)  # noqa: E731
        close(fv(), ft(), tol=1e-2)
        first = torch.from_dlpack(fv())
        determinism[dist] = all(torch.equal(first, torch.from_dlpack(fv())) for _ in range(5))
        yield f"embedding bwd {v}x{d} bf16, {n} {dist} indices", fv, ft, (v * d + n * d) * 2


def main():
    name = torch.cuda.get_device_name()
    copy_src = torch.randn(*MLP, device="cuda", dtype=torch.bfloat16)
    copy_ms = queued_ms(lambda: copy_src.clone())
    copy_gbps = 2 * copy_src.numel() * 2 / copy_ms / 1e6
    rows, results, determinism = [], [], {}
    for case, fv, ft, nbytes in [*activation_cases(), *dropout_cases(), *rotary_cases(),
                                 *embedding_cases(determinism)]:
        mv, mt = queued_ms(fv), queued_ms(ft)
        gbps = nbytes / mv / 1e6
        rows.append((case, f"{mv * 1e3:.1f}", f"{mt * 1e3:.1f}", f"{mt / mv:.2f}x", f"{gbps:.0f}",
                     f"{nbytes / mt / 1e6:.0f}", f"{gbps / copy_gbps:.0%}"))
        results.append({"case": case, "device": name, "vibetensor_ms": mv, "torch_ms": mt, "speedup_vs_torch": mt / mv,
                        "bytes": nbytes, "vibetensor_GBps": gbps, "torch_GBps": nbytes / mt / 1e6,
                        "copy_GBps": copy_gbps, "fraction_of_copy": gbps / copy_gbps})
    print_table(f"Fused activations, rotary and embedding backward on {name} (GPU medians; torch/vt > 1: "
                f"vibetensor faster; torch copy {copy_gbps:.0f} GB/s)",
                ["case", "vt us", "torch us", "torch/vt", "vt GB/s", "torch GB/s", "vt of copy"], rows)
    print(f"embedding backward bits identical over 6 calls: {determinism}")
    write_results("cuda_fused_act", results, device=name, gpu=name, versions=versions(),
                  embedding_backward_deterministic=determinism)


if __name__ == "__main__":
    main()
