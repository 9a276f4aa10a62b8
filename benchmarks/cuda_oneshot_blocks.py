"""The one-shot (LL) all-reduce on virtual GPUs (N ranks on one GPU, one stream each) by LL words per program
step and program cap: the GPU's time per call, captured in a CUDA graph and replayed behind a sleep kernel
(cuda_allreduce.py's "graph" column). It chose cuda_peer.LL_BLOCKS for small messages; the multi-GPU form is
multigpu_oneshot_sweep.py.

    python benchmarks/cuda_oneshot_blocks.py [--ranks 2,4]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_allreduce import graphed  # noqa: E402
from cuda_timing import queued_ms  # noqa: E402

import torch  # noqa: E402

import vibetensor as vt  # noqa: E402
from vibetensor import fabric  # noqa: E402
from vibetensor.fabric.collectives import cuda_peer as peer  # noqa: E402

VARIANTS = [(1024, 64), (512, 64), (256, 64), (512, 128), (256, 128), (128, 128)]  # (words per step, cap)
SIZES = [4 << 10, 16 << 10, 64 << 10, 256 << 10]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", default="2,4", help="virtual GPUs per group, comma-separated")
    args = ap.parse_args()
    name = torch.cuda.get_device_name()
    saved = peer.LL_BLOCKS, peer.LL_MAX_PROGRAMS
    header = ["ranks", "dtype", "bytes", *(f"b{b} p{c}" for b, c in VARIANTS), "default"]
    rows, results = [], []
    for n in map(int, args.ranks.split(",")):
        group = fabric.LocalGroup(fabric.virtual_devices("cuda", n), capacity=64 << 20)
        for dtype in (vt.float32, vt.bfloat16):
            for nbytes in SIZES:
                xs = [vt.randn(nbytes // dtype.itemsize, device="cuda").to(dtype) for _ in range(n)]
                us = {}
                for (block, cap), key in zip(VARIANTS + [saved], header[3:]):
                    peer.LL_BLOCKS, peer.LL_MAX_PROGRAMS = (block if key == "default" else (block,)), cap
                    us[key] = queued_ms(graphed(group, xs, "oneshot"), n=50) * 1e3
                peer.LL_BLOCKS, peer.LL_MAX_PROGRAMS = saved
                rows.append([n, str(dtype).split(".")[-1], nbytes, *(f"{v:.1f}" for v in us.values())])
                print(" | ".join(map(str, rows[-1])), flush=True)
                results.append({"ranks": n, "dtype": str(dtype), "bytes": nbytes, "graph_us": us})
        group.synchronize()
    print_table(f"one-shot graph us by LL words per program step and program cap, virtual GPUs of {name}", header,
                rows)
    write_results("cuda_oneshot_blocks", results, gpu=name, versions=versions(),
                  note="N ranks share one GPU (one stream each); default: cuda_peer.LL_BLOCKS and LL_MAX_PROGRAMS")


if __name__ == "__main__":
    main()
