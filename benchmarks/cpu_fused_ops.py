"""The CPU's fused ops, forward + backward, against torch on the same cores: GELU (exact and tanh), SiLU,
LayerNorm, RMSNorm, cross-entropy and causal attention, at the main job's shapes (examples/gpt_reversal.py:
32 rows of 16 tokens, d_model 48, 4 heads) and at a larger one. Each call is what a training step does: the op on tensors that
require grad, then backward with a random gradient (fresh values, never zeros). Both libraries see the same
values and thread count; timings alternate between them; the first call of each is compared (float32 rtol 1e-4;
the bfloat16 attention case, which each library computes in float32 with its own roundings, 3e-2).

    python benchmarks/cpu_fused_ops.py [--threads N]
"""
import argparse
import os
import sys

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see cpu_gpt_step.py
sys.path.insert(0, os.path.dirname(__file__))
from common import median_time, print_table, versions, write_results  # noqa: E402

import vibetensor as vt  # noqa: E402

import torch  # noqa: E402


CONFIGS = (("GPT step", 512, 48, 192, 4, 16, 40), ("larger", 8192, 512, 2048, 8, 256, 8192))  # tag, rows, d,
# hidden, heads, tokens per sequence, classes


def cases(configs=CONFIGS):
    """(name, shapes of the differentiable inputs, fn(lib, *inputs) -> output, dtype)."""
    def ln(lib, x, w, b):
        return lib.nn.functional.layer_norm(x, (x.shape[-1],), w, b)

    def rms(lib, x, w):
        return lib.nn.functional.rms_norm(x, (x.shape[-1],), w, 1e-5)

    def gelu(lib, x):
        return lib.nn.functional.gelu(x)

    def gelu_tanh(lib, x):
        return lib.nn.functional.gelu(x, approximate="tanh")

    def silu(lib, x):
        return lib.nn.functional.silu(x)

    def sdpa(lib, q, k, v):
        return lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    def xent(lib, x):
        targets = lib.tensor(np.arange(x.shape[0]) % x.shape[1])
        return lib.nn.functional.cross_entropy(x, targets)
    out = []
    for tag, rows, d, hidden, heads, t, vocab in configs:
        out += [(name, shapes, fn, "float32") for name, shapes, fn in [
            (f"gelu [{rows},{hidden}] ({tag})", [(rows, hidden)], gelu),
            (f"gelu tanh [{rows},{hidden}] ({tag})", [(rows, hidden)], gelu_tanh),
            (f"silu [{rows},{hidden}] ({tag})", [(rows, hidden)], silu),
            (f"layer_norm [{rows},{d}] ({tag})", [(rows, d), (d,), (d,)], ln),
            (f"rms_norm [{rows},{d}] ({tag})", [(rows, d), (d,)], rms),
            (f"cross_entropy [{rows},{vocab}] ({tag})", [(rows, vocab)], xent),
            (f"sdpa causal [{rows // t},{heads},{t},{d // heads}] ({tag})", [(rows // t, heads, t, d // heads)] * 3,
             sdpa)]]
        out.append((f"sdpa causal bf16 [{rows // t},{heads},{t},{d // heads}] ({tag})",
                    [(rows // t, heads, t, d // heads)] * 3, sdpa, "bfloat16"))  # what autocast sends
    return out


def run(all_cases, min_time=0.2):
    """(table rows, result dicts): each case checked against torch, then timed, alternating the libraries."""
    gen = np.random.default_rng(0)
    rows, results = [], []
    for name, shapes, fn, dtype in all_cases:
        arrays = [gen.standard_normal(s).astype(np.float32) for s in shapes]
        grad = None
        sides = {}
        for lib in (vt, torch):
            xs = [lib.tensor(a).to(getattr(lib, dtype)).requires_grad_() for a in arrays]
            out = fn(lib, *xs)
            if grad is None:
                grad = gen.standard_normal(tuple(out.shape)).astype(np.float32)
            g = lib.tensor(grad).to(getattr(lib, dtype))

            def step(xs=xs, lib=lib, g=g):
                fn(lib, *xs).backward(g)
            out.backward(g)
            sides[lib] = (step, [out.detach().float().numpy().copy()] + [x.grad.float().numpy().copy() for x in xs])
        tol = 1e-4 if dtype == "float32" else 3e-2
        for a, b in zip(sides[vt][1], sides[torch][1]):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max())))
        tv, tt = median_time(sides[vt][0], min_time), median_time(sides[torch][0], min_time)
        # a second pair, alternating: load on the machine hits both libraries
        tv, tt = min(tv, median_time(sides[vt][0], min_time)), min(tt, median_time(sides[torch][0], min_time))
        rows.append((name, f"{tv * 1e6:.1f}", f"{tt * 1e6:.1f}", f"{tt / tv:.2f}x"))
        results.append({"op": name, "dtype": dtype, "what": "forward + backward", "vibetensor_us": tv * 1e6,
                        "torch_us": tt * 1e6, "torch_over_vibetensor": tt / tv})
    return rows, results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    vt.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rows, results = run(cases())
    print_table(f"CPU fused ops, forward + backward, {args.threads} thread(s): median us per call "
                "(ratio > 1: vibetensor is faster)", ["op", "vibetensor us", "torch us", "torch/vt"], rows)
    write_results("cpu_fused_ops", results, versions=versions(), threads=args.threads,
                  cpu_capability=vt.backends.cpu.get_cpu_capability())


if __name__ == "__main__":
    main()
