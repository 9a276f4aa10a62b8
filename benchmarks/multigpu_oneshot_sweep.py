"""The GPU transport's one-shot (LL) all-reduce by program step and program cap, and size, against two-shot and ring:
device time per call (calls queued behind a sleep kernel, so the host's issuing is hidden) and eager time per
call. It chose cuda_peer.ONESHOT_MAX_BYTES, LL_BLOCKS and LL_MAX_PROGRAMS.

    vibetensor-launch --nproc-per-node gpu benchmarks/multigpu_oneshot_sweep.py      # two or more GPUs
"""
import os
import sys

os.environ.setdefault("NCCL_NVLS_ENABLE", "0")  # NVLink multicast stays off on the lent machines
sys.path.insert(0, os.path.dirname(__file__))
from common import versions, write_results  # noqa: E402
from cuda_timing import device_ms  # noqa: E402

import torch  # noqa: E402
import vibetensor as vt  # noqa: E402
from vibetensor import fabric  # noqa: E402
from vibetensor.fabric.collectives import cuda_peer as peer  # noqa: E402

g = fabric.init("cuda")
torch.cuda.set_device(g.device.index)

def timed(f, x, fresh, n=40, sleep=0):
    """Median us per call of f (cuda_timing.device_ms over 5 rounds of n calls); sleep > 0 queues each round
    behind a sleep kernel of that many cycles. Before each round the ranks meet and the data (x) is refilled
    from `fresh`: an in-place sum doubles it every call."""
    def refill():
        x.copy_(fresh)
        g.barrier()
        g.synchronize()

    def sync():
        g.synchronize()  # also raises if a peer rank failed
        torch.cuda.synchronize()
    return device_ms(f, n=n, sleep_cycles=sleep, sync=sync, before_round=refill) * 1e3

VARIANTS = [(256, 64), (1024, 32), (1024, 64), (1024, 128), (2048, 64)]  # (words per program step, program cap)
rows, results = [], []
saved = peer.LL_BLOCKS, peer.LL_MAX_PROGRAMS
for nbytes in (8 << 10, 32 << 10, 128 << 10, 512 << 10, 1 << 20, 2 << 20, 8 << 20):
    fresh = vt.randn(nbytes // 4, device=g.device)
    x = fresh.clone()
    n = 40 if nbytes <= (2 << 20) else 10
    us = {}
    for block, cap in VARIANTS:
        peer.LL_BLOCKS, peer.LL_MAX_PROGRAMS = (block,), cap
        us[f"ll b{block} p{cap}"] = timed(lambda: g.all_reduce(x, algorithm="oneshot"), x, fresh, n=n,
                                          sleep=20_000_000)
    peer.LL_BLOCKS, peer.LL_MAX_PROGRAMS = saved
    for algo in ("twoshot", "ring"):
        us[algo] = timed(lambda: g.all_reduce(x, algorithm=algo), x, fresh, n=n, sleep=20_000_000)
    for algo in ("oneshot", "twoshot", "ring"):
        us[f"{algo} eager"] = timed(lambda: g.all_reduce(x, algorithm=algo), x, fresh)
    rows.append([f"{nbytes >> 10}K", *(f"{v:.1f}" for v in us.values())])
    results.append({"bytes": nbytes, "dtype": "float32", "us": us})
if g.rank == 0:
    name = torch.cuda.get_device_name()
    print(f"{g.size} x {name}: device us per call (queued behind a sleep) of one-shot by (LL words per program "
          "step, program cap) and of the ring; eager us per call with the defaults")
    print("size   " + "  ".join(f"b{b}p{c}" for b, c in VARIANTS) + "  2shot  ring   1s-eager 2s-eager ring-eager")
    for r in rows:
        print("  ".join(f"{c:>6}" for c in r))
    write_results("multigpu_oneshot_sweep", results, gpu=name, world_size=g.size, versions=versions())
fabric.destroy()
