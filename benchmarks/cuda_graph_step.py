"""A whole training step captured in a CUDA graph vs the same step in eager mode (vibetensor), and torch's
eager step and its own CUDA-graph replay for reference, on the same GPU in one run.

    python benchmarks/cuda_graph_step.py

The model is a small MLP classifier (batch 64, 512 -> 1024 -> 1024 -> 10, GELU, Adam): small kernels, so the
step is bound by launch overhead, which is what a graph removes.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import device_ms  # noqa: E402

import torch  # noqa: E402

import vibetensor as vt  # noqa: E402

B, D, H, C = 64, 512, 1024, 10


def make_step(lib, **adam_kwargs):
    """The same model, loss and Adam step in `lib` (vibetensor or torch: their APIs match)."""
    lib.manual_seed(0)
    nn = lib.nn
    model = nn.Sequential(nn.Linear(D, H), nn.GELU(), nn.Linear(H, H), nn.GELU(), nn.Linear(H, C)).cuda()
    opt = lib.optim.Adam(model.parameters(), lr=1e-3, **adam_kwargs)
    x, y = lib.randn(B, D, device="cuda"), lib.randint(0, C, (B,), device="cuda")

    def step(x, y):
        opt.zero_grad(set_to_none=False)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return step, x, y


def torch_graphed(step, x, y):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            step(x, y)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        step(x, y)
    return g.replay


def main():
    name = torch.cuda.get_device_name()
    vstep, vx, vy = make_step(vt)
    graphed = vt.cuda.make_graphed_step(vstep, (vx, vy), warmup_iters=3)
    ve = device_ms(lambda: vstep(vx, vy), n=50)
    vg = device_ms(lambda: graphed(vx, vy), n=50)
    tstep, tx, ty = make_step(torch, capturable=True)  # torch needs it to capture Adam
    te = device_ms(lambda: tstep(tx, ty), n=50)
    tg = device_ms(torch_graphed(tstep, tx, ty), n=50)
    rows = [("vibetensor", f"{ve * 1e3:.0f}", f"{vg * 1e3:.0f}", f"{ve / vg:.1f}x"),
            ("torch", f"{te * 1e3:.0f}", f"{tg * 1e3:.0f}", f"{te / tg:.1f}x")]
    print_table(f"MLP training step (batch {B}, {D}->{H}->{H}->{C}, Adam) on {name}: time per step",
                ["", "eager us", "graph replay us", "eager/replay"], rows)
    print(f"vibetensor replay vs torch replay: {tg / vg:.2f}x; vibetensor replay vs torch eager: {te / vg:.2f}x")
    write_results("cuda_graph_step", [
        {"case": "MLP step, eager", "vibetensor_ms": ve, "torch_ms": te},
        {"case": "MLP step, CUDA graph replay", "vibetensor_ms": vg, "torch_ms": tg},
        {"case": "eager / replay ratio", "vibetensor": ve / vg, "torch": te / tg},
    ], gpu=name, versions=versions(), model=f"{D}-{H}-{H}-{C} MLP, batch {B}, Adam")


if __name__ == "__main__":
    main()
