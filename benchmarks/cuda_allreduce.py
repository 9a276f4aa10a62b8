"""All-reduce over peer memory on virtual GPUs (N ranks on one GPU, one stream each), by algorithm and
reduce-copy plugin, with torch's closest one-process equivalent timed in the same run.

    python benchmarks/cuda_allreduce.py

One GPU cannot run NCCL with several ranks (it refuses a duplicate GPU), so the comparison against NCCL waits
for a multi-GPU machine (issue 11). Here the figures are our latency (small messages: launch + flag
handshakes, which is what one-shot is for) and the bandwidth our programs reach when every rank's reads and
writes hit the same HBM: "bus GB/s" uses nccl-tests' formula (bytes * 2 (n - 1) / n / time). The torch column
is the same data movement written as torch ops in one process (sum the n tensors, copy the result back to
each): what a user without a collective library would write. "graph" columns replay the all-reduce captured
in a CUDA graph: the GPU programs' own latency, without Python's per-call work.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import device_ms  # noqa: E402

import torch  # noqa: E402

import vibetensor as vt  # noqa: E402
from vibetensor import fabric  # noqa: E402
from vibetensor.fabric.collectives import reduce_copy  # noqa: E402

SIZES = [8, 1 << 10, 16 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20]


def torch_equivalent(xs):
    def run():
        total = torch.stack(xs).sum(0)
        for x in xs:
            x.copy_(total)
    return run


def graphed(group, xs, algorithm):
    """The all-reduce captured in a CUDA graph: the GPU programs' own time, without Python's per-call work."""
    group.all_reduce(xs, algorithm=algorithm)
    g = vt.cuda.CUDAGraph()
    with vt.cuda.graph(g):
        group.all_reduce(xs, algorithm=algorithm)
    return g.replay


def main():
    rows, results = [], []
    reduce_copy.plugin()  # loads the optional plugins
    plugins = [p for p in ("triton", "cute") if p in reduce_copy.PLUGINS]
    for n in (2, 4, 8):
        group = fabric.LocalGroup(fabric.virtual_devices("cuda", n), capacity=64 << 20)
        for dtype, tdtype in ((vt.float32, torch.float32), (vt.bfloat16, torch.bfloat16)):
            for nbytes in SIZES:
                numel = max(1, nbytes // dtype.itemsize)
                xs = [vt.randn(numel, device="cuda").to(dtype) for _ in range(n)]
                txs = [torch.randn(numel, device="cuda", dtype=tdtype) for _ in range(n)]
                reps = 50 if nbytes <= (1 << 20) else 5
                times = {"torch": device_ms(torch_equivalent(txs), n=reps) * 1e3}
                times["oneshot"] = device_ms(lambda: group.all_reduce(xs, algorithm="oneshot"), n=reps) * 1e3
                times["oneshot graph"] = device_ms(graphed(group, xs, "oneshot"), n=reps) * 1e3
                for p in plugins:
                    os.environ["VIBETENSOR_FABRIC_REDUCE_COPY"] = p
                    times[f"ring/{p}"] = device_ms(lambda: group.all_reduce(xs, algorithm="ring"), n=reps) * 1e3
                    times[f"ring/{p} graph"] = device_ms(graphed(group, xs, "ring"), n=reps) * 1e3
                os.environ.pop("VIBETENSOR_FABRIC_REDUCE_COPY", None)
                ours = min((k for k in times if k != "torch"), key=times.get)
                bus = nbytes * 2 * (n - 1) / n / (times[ours] * 1e-6) / 1e9
                rows.append([n, str(dtype).split(".")[-1], nbytes, *(f"{times[k]:.1f}" for k in times), ours,
                             f"{bus:.0f}", f"{times['torch'] / times[ours]:.2f}x"])
                results.append({"ranks": n, "dtype": str(dtype), "bytes": nbytes, "us": times, "best": ours,
                                "bus_GBps": bus, "speedup_vs_torch": times["torch"] / times[ours]})
        group.synchronize()
    header = ["ranks", "dtype", "bytes", *[f"{k} us" for k in times], "best", "bus GB/s", "torch/ours"]
    print_table(f"all-reduce on virtual GPUs, {torch.cuda.get_device_name()}", header, rows)
    write_results("cuda_allreduce", results, gpu=torch.cuda.get_device_name(), versions=versions(),
                  note="N ranks share one GPU (one stream each): latency and same-HBM bandwidth, not NVLink")


if __name__ == "__main__":
    main()
