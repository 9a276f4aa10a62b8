"""Whole training steps (forward, backward, AdamW) of four workloads on one GPU: vibetensor eager and captured
in a CUDA graph, against PyTorch eager and torch.compile, from the same initial weights, in one run.

    python benchmarks/cuda_train_steps.py                          # all workloads
    python benchmarks/cuda_train_steps.py --only gpt_tiny vit_tiny --no-compile

Workloads (VibeTensor's, the system we are outdoing, and a GPT-2-small-like one):
- gpt_tiny: vocab 36, d128, 4 heads, 2 layers, T64, B64, float32
- gpt_small / gpt_small_bf16: vocab 4096, d256, 8 heads, 6 layers, T128, B64, float32 / bfloat16 autocast
- vit_tiny: 32x32x3 images, patch 4, d256, depth 6, 8 heads, B256, 10 classes, float32
- gpt_124m: vocab 50304, d768, 12 layers, 12 heads, T1024, B8, bfloat16 autocast
bfloat16 runs are autocast over float32 weights (master weights in float32) in both libraries.

Per workload: ms per step (median of CUDA-event timings of back-to-back steps on one batch) for each variant,
and the loss curves of the eager runs over --curve-steps fresh batches (both libraries see the same batches):
the largest difference between them is reported. "vt captured" is the step captured by
vt.cuda.make_graphed_step and replayed (new batch values are copied in), so eager - captured is about the
host time a step costs in eager mode. torch.compile compiles the model (default mode); its optimizer step runs
eagerly, as torch's examples do.
"""
import argparse
import contextlib
import dataclasses
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import device_ms, sync_both as sync  # noqa: E402

import gpt_reversal as gpt  # noqa: E402
from torchlike import init_from_numpy  # noqa: E402
import torch  # noqa: E402

import vibetensor as vt  # noqa: E402
import vibetensor.torch as vtorch  # noqa: E402


@dataclasses.dataclass
class Workload:
    kind: str  # "gpt" or "vit"
    d_model: int
    heads: int
    layers: int
    batch: int
    vocab: int = 0  # gpt
    block: int = 0  # gpt: tokens per row
    image: int = 32  # vit
    patch: int = 4
    classes: int = 10
    autocast: str = ""  # "bfloat16": autocast over float32 weights
    lr: float = 3e-4
    weight_decay: float = 0.1


WORKLOADS = {
    "gpt_tiny": Workload("gpt", 128, 4, 2, 64, vocab=36, block=64),
    "gpt_small": Workload("gpt", 256, 8, 6, 64, vocab=4096, block=128),
    "gpt_small_bf16": Workload("gpt", 256, 8, 6, 64, vocab=4096, block=128, autocast="bfloat16"),
    "vit_tiny": Workload("vit", 256, 8, 6, 256),
    "gpt_124m": Workload("gpt", 768, 12, 12, 8, vocab=50304, block=1024, autocast="bfloat16"),
}


def gpt_config(w):
    """The example GPT (examples/gpt_reversal.py) at this size: vocab = symbols + 1, block = 2 * length."""
    return gpt.Config(symbols=w.vocab - 1, length=w.block // 2, d_model=w.d_model, heads=w.heads, layers=w.layers,
                      batch=w.batch, lr=w.lr, weight_decay=w.weight_decay)


def make_vit(torch, w):
    """A pre-norm ViT: non-overlapping patches by reshape + Linear (a stride-`patch` convolution), learned
    positions, encoder blocks (bidirectional attention, GELU MLP), mean pooling, a linear head."""
    nn, F = torch.nn, torch.nn.functional
    grid = w.image // w.patch
    head_dim = w.d_model // w.heads

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(w.d_model, 3 * w.d_model)
            self.proj = nn.Linear(w.d_model, w.d_model)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = (t.reshape(B, T, w.heads, head_dim).transpose(1, 2) for t in self.qkv(x).split(C, dim=2))
            return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, C))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(w.d_model), nn.LayerNorm(w.d_model)
            self.attn = Attention()
            self.mlp = nn.Sequential(nn.Linear(w.d_model, 4 * w.d_model), nn.GELU(),
                                     nn.Linear(4 * w.d_model, w.d_model))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch_emb = nn.Linear(3 * w.patch * w.patch, w.d_model)
            self.pos_emb = nn.Parameter(torch.zeros(1, grid * grid, w.d_model))
            self.blocks = nn.ModuleList([Block() for _ in range(w.layers)])
            self.ln_f = nn.LayerNorm(w.d_model)
            self.head = nn.Linear(w.d_model, w.classes)

        def forward(self, images):
            B = images.shape[0]
            p = images.reshape(B, 3, grid, w.patch, grid, w.patch).permute(0, 2, 4, 1, 3, 5)
            x = self.patch_emb(p.reshape(B, grid * grid, 3 * w.patch * w.patch)) + self.pos_emb
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln_f(x).mean(1))

    return ViT()


def build(lib, w, device="cuda"):
    """(model, AdamW) with the same numpy-drawn initial weights in either library."""
    if w.kind == "gpt":
        cfg = gpt_config(w)
        model = gpt.make_model(lib, cfg)
    else:
        cfg = gpt.Config(lr=w.lr, weight_decay=w.weight_decay)
        model = make_vit(lib, w)
    model = init_from_numpy(lib, model, 1, std=0.02).to(device)
    return model, gpt.make_optimizer(lib, model, cfg)


def batch(w, gen):
    """(inputs, targets) as numpy: random tokens and their next tokens, or random images and labels."""
    if w.kind == "gpt":
        tokens = gen.integers(0, w.vocab, size=(w.batch, w.block + 1))
        return tokens[:, :-1].copy(), tokens[:, 1:].copy()
    images = gen.standard_normal((w.batch, 3, w.image, w.image), dtype=np.float32)
    return images, gen.integers(0, w.classes, size=(w.batch,))


def stepper(lib, w, model, opt, device="cuda"):
    """step(x, y) -> loss: one training step, under autocast where the workload asks for it."""
    def step(x, y):
        region = lib.autocast(device, dtype=getattr(lib, w.autocast)) if w.autocast else contextlib.nullcontext()
        with region:
            return gpt.train_step(lib, model, opt, x, y).detach()
    return step


def to_device(lib, arrays, device="cuda"):
    return tuple(lib.tensor(a, device=device) for a in arrays)


def curve(lib, w, steps, device="cuda"):
    """Eager losses over `steps` fresh batches (the same batches in either library)."""
    model, opt = build(lib, w, device)
    step = stepper(lib, w, model, opt, device)
    gen = np.random.default_rng(7)
    return [step(*to_device(lib, batch(w, gen), device)).item() for _ in range(steps)]


def timed_variants(w, args):
    """ms per step of each variant on one fixed batch; errors are kept as strings (a variant may not run)."""
    fixed = batch(w, np.random.default_rng(3))
    out = {}

    def run(name, lib, make):
        try:
            t0 = time.perf_counter()
            f = make()
            sync()
            out[name + "_setup_s"] = time.perf_counter() - t0
            # a second of steps before timing: GPT-124M's eager step read 29.4 ms after 3 warm-up steps and 25.7
            # after the loss curves' 50 (H100; clocks and caching allocators settle)
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 1.0:
                f()
                sync()
            out[name + "_ms"] = device_ms(f, n=args.iters, rounds=args.rounds)
        except Exception as e:  # noqa: BLE001 - a row says why a variant did not run
            out[name + "_error"] = f"{type(e).__name__}: {e}"[:300]
        sync()

    def eager(lib, compiled=False):
        def make():
            model, opt = build(lib, w)
            step = stepper(lib, w, torch.compile(model) if compiled else model, opt)
            x, y = to_device(lib, fixed)
            for _ in range(3):  # warm-up (torch.compile compiles here)
                step(x, y)
            return lambda: step(x, y)
        return make

    def captured():
        model, opt = build(vtorch, w)
        x, y = to_device(vtorch, fixed)
        replay = vt.cuda.make_graphed_step(stepper(vtorch, w, model, opt), (x, y), warmup_iters=3)
        loss = replay(x, y)
        if not np.isfinite(loss.item()):
            raise RuntimeError(f"captured step's loss is {loss.item()}")
        return lambda: replay(x, y)

    run("vt_eager", vtorch, eager(vtorch))
    run("vt_captured", vtorch, captured)
    run("torch_eager", torch, eager(torch))
    if args.compile:
        run("torch_compile", torch, eager(torch, compiled=True))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=sorted(WORKLOADS), help="these workloads (default: all)")
    p.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    p.add_argument("--curve-steps", type=int, default=50, help="steps of the loss-curve comparison (0: none)")
    p.add_argument("--iters", type=int, default=10, help="steps per timed round")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds; the median is kept")
    p.add_argument("--out", help="JSON path (default benchmarks/results/cuda_train_steps.json)")
    args = p.parse_args(argv)
    if not torch.cuda.is_available() or not vt.cuda.is_available():
        sys.exit("cuda_train_steps: needs a CUDA GPU (torch and vibetensor both see none)")
    name = torch.cuda.get_device_name()
    rows = []
    for key in args.only or WORKLOADS:
        w = WORKLOADS[key]
        row = {"workload": key, "config": dataclasses.asdict(w)}
        if args.curve_steps:
            ours, theirs = curve(vtorch, w, args.curve_steps), curve(torch, w, args.curve_steps)
            diff = [abs(a - b) for a, b in zip(ours, theirs)]
            row.update(vt_losses=ours, torch_losses=theirs, max_loss_diff=max(diff),
                       max_loss_diff_step=int(np.argmax(diff)))
        row.update(timed_variants(w, args))
        for other in ("torch_eager", "torch_compile"):
            for ours in ("vt_eager", "vt_captured"):
                if f"{ours}_ms" in row and f"{other}_ms" in row:
                    row[f"{other}_over_{ours}"] = row[f"{other}_ms"] / row[f"{ours}_ms"]  # > 1: ours faster
        rows.append(row)
        print(key, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
                    if not k.endswith("losses") and k != "config"}, flush=True)

    def cell(r, k):
        v = r.get(f"{k}_ms")
        return f"{v:.2f}" if v is not None else ("error" if f"{k}_error" in r else "-")
    variants = ("vt_eager", "vt_captured", "torch_eager", "torch_compile")
    print_table(f"training step, ms (medians of CUDA-event timings) on {name}",
                ["workload", *variants, "torch eager / vt eager", "torch.compile / vt captured", "max loss diff"],
                [(r["workload"], *(cell(r, k) for k in variants),
                  f"{r.get('torch_eager_over_vt_eager', float('nan')):.2f}",
                  f"{r.get('torch_compile_over_vt_captured', float('nan')):.2f}",
                  f"{r.get('max_loss_diff', float('nan')):.2e}") for r in rows])
    write_results("cuda_train_steps", rows, path=args.out, device=name, gpu=name, versions=versions(),
                  iters=args.iters, rounds=args.rounds, curve_steps=args.curve_steps)


if __name__ == "__main__":
    main()
