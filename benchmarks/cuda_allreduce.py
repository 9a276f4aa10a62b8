"""All-reduce over peer memory on virtual GPUs (N ranks on one GPU, one stream each; the one-shot of every rank
goes as one launch there), by algorithm and reduce-copy plugin, with torch's closest one-process equivalent
timed in the same run.

    python benchmarks/cuda_allreduce.py [--ranks 2,4] [--max-bytes 1073741824] [--out PATH]

One GPU cannot run NCCL with several ranks (it refuses a duplicate GPU), so the comparison against NCCL is
multigpu_collectives.py's, on several GPUs. Here the figures are our latency (small messages: launch + flag
handshakes, which is what one-shot is for) and the bandwidth our programs reach when every rank's reads and
writes hit the same HBM. Columns:
- "eager": a Python call per all-reduce (host work included: one process issues every rank's program);
- "graph": the all-reduce captured in a CUDA graph and replayed behind a sleep kernel, so the host's time to
  issue the replays is hidden: the GPU programs' own time per all-reduce;
- "bus GB/s": nccl-tests' formula, bytes * 2 (n - 1) / n / time, of the fastest graph time; "of copy": that
  against a device-to-device copy of the same bytes in this run (2 * bytes / time), the HBM's ceiling here;
- torch: the same data movement written as torch ops (sum the n tensors, copy the result back to each).
Rows print as they finish; the results file is written at the end.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402
from cuda_timing import device_ms, queued_ms  # noqa: E402

import torch  # noqa: E402

import vibetensor as vt  # noqa: E402
from vibetensor import fabric  # noqa: E402
from vibetensor.fabric.collectives import reduce_copy  # noqa: E402

LATENCY_SIZES = [4 << 10, 16 << 10, 64 << 10, 256 << 10]  # one-shot's range: the latency target
BANDWIDTH_SIZES = [1 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30]


def torch_equivalent(xs):
    def run():
        total = torch.stack(xs).sum(0)
        for x in xs:
            x.copy_(total)
    return run


def graphed(group, xs, algorithm):
    """The all-reduce captured in a CUDA graph: replays are the GPU programs alone, no Python per call."""
    group.all_reduce(xs, algorithm=algorithm)
    g = vt.cuda.CUDAGraph()
    with vt.cuda.graph(g):
        group.all_reduce(xs, algorithm=algorithm)
    return g.replay


def timings(group, xs, txs, algorithms, plugins, reps):
    times = {"torch": queued_ms(torch_equivalent(txs), n=reps) * 1e3}
    for algo in algorithms:
        for p in (plugins if algo == "ring" else [None]):
            name = f"{algo}/{p}" if p else algo
            if p:
                os.environ["VIBETENSOR_FABRIC_REDUCE_COPY"] = p
            times[f"{name} eager"] = device_ms(lambda: group.all_reduce(xs, algorithm=algo), n=reps) * 1e3
            times[f"{name} graph"] = queued_ms(graphed(group, xs, algo), n=reps) * 1e3
            os.environ.pop("VIBETENSOR_FABRIC_REDUCE_COPY", None)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", default="2,4", help="virtual GPUs per group, comma-separated")
    ap.add_argument("--max-bytes", type=int, default=1 << 30)
    ap.add_argument("--out", help="results file (default benchmarks/results/cuda_allreduce.json)")
    args = ap.parse_args()
    name = torch.cuda.get_device_name()
    reduce_copy.plugin()  # loads the optional plugins
    plugins = [p for p in ("cute", "triton") if p in reduce_copy.PLUGINS]
    rows, results = [], []
    header = ["ranks", "dtype", "bytes", "algorithm", "eager us", "graph us", "torch us", "bus GB/s", "of copy",
              "torch/graph"]
    print(" | ".join(header), flush=True)
    for n in map(int, args.ranks.split(",")):
        group = fabric.LocalGroup(fabric.virtual_devices("cuda", n), capacity=64 << 20)
        for dtype, tdtype in ((vt.float32, torch.float32), (vt.bfloat16, torch.bfloat16)):
            for nbytes in [s for s in LATENCY_SIZES + BANDWIDTH_SIZES if s <= args.max_bytes]:
                numel = nbytes // dtype.itemsize
                xs = [vt.randn(numel, device="cuda").to(dtype) for _ in range(n)]
                txs = [torch.randn(numel, device="cuda", dtype=tdtype) for _ in range(n)]
                small = nbytes in LATENCY_SIZES
                algorithms = ["oneshot", "twoshot"] if small else ["twoshot", "ring"]
                times = timings(group, xs, txs, algorithms, plugins, reps=50 if small else 5)
                src = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
                copy_ms = queued_ms(lambda: src.clone(), n=50 if small else 5)
                copy_gbps = 2 * nbytes / copy_ms / 1e6
                for algo in sorted({k.rsplit(" ", 1)[0] for k in times if k != "torch"}):
                    g = times[f"{algo} graph"]
                    bus = nbytes * 2 * (n - 1) / n / (g * 1e-6) / 1e9
                    row = [n, str(dtype).split(".")[-1], nbytes, algo, f"{times[f'{algo} eager']:.1f}", f"{g:.1f}",
                           f"{times['torch']:.1f}", f"{bus:.0f}", f"{bus / copy_gbps:.2f}",
                           f"{times['torch'] / g:.2f}x"]
                    rows.append(row)
                    print(" | ".join(map(str, row)), flush=True)
                    results.append({"ranks": n, "dtype": str(dtype), "bytes": nbytes, "algorithm": algo,
                                    "eager_us": times[f"{algo} eager"], "graph_us": g, "torch_us": times["torch"],
                                    "bus_GBps": bus, "copy_GBps": copy_gbps, "bus_of_copy": bus / copy_gbps,
                                    "speedup_vs_torch": times["torch"] / g})
                del xs, txs, src
                save(results, name, args.out, partial=True)  # a run stopped part-way keeps the rows it finished
        group.synchronize()
    print_table(f"all-reduce on virtual GPUs, {name}", header, rows)
    save(results, name, args.out)


def save(results, name, path, partial=False):
    write_results("cuda_allreduce", results, path, gpu=name, versions=versions(), partial=partial,
                  note="N ranks share one GPU (one stream each): latency and same-HBM bandwidth, not NVLink")


if __name__ == "__main__":
    main()
