"""How fast one GPU pushes into its peers' memory when every GPU pushes at once: by copy engine (cuMemcpyAsync
over peer access) and by SM stores (a Triton copy kernel writing through the peer mapping), to one peer (GPU i
to i + 1: each GPU sends to one and receives from one) and to every peer at once (a stream per pair). This is
the evidence for how the fabric's collectives move data: its all-reduce pushes to every peer at once.

    python benchmarks/multigpu_fanout.py           # every GPU; writes benchmarks/results/multigpu_fanout.json
    python benchmarks/multigpu_fanout.py --mb 64 256

Per GPU, CUDA events on its stream around its pushes (each pair stream waits for it, it waits for them); egress
= bytes it sent / that time; the row gives the median over rounds of the mean and of the slowest GPU. torch's
own cross-device copy_ is not used: it orders each copy with the destination's current stream, which would
serialise the copies into one GPU.
"""
import argparse
import ctypes
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import print_table, versions, write_results  # noqa: E402

import torch  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402


@triton.jit
def _push(src, dst, n, BLOCK: tl.constexpr):
    """dst[:n] = src[:n] (n a multiple of BLOCK), grid-stride: dst may be a peer's memory."""
    pid, programs = tl.program_id(0), tl.num_programs(0)
    for start in range(pid * BLOCK, n, programs * BLOCK):
        offs = start + tl.arange(0, BLOCK)
        tl.store(dst + offs, tl.load(src + offs))


class Fanout:
    def __init__(self, nbytes):
        self.n = torch.cuda.device_count()
        self.numel = nbytes // 4
        self.cu = ctypes.CDLL("libcuda.so.1")
        self.cu.cuMemcpyAsync.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_void_p]
        for i in range(self.n):
            for j in range(self.n):
                if i != j:  # torch enables peer access on its first copy between the two
                    with torch.cuda.device(i):
                        torch.empty(1, device=i).copy_(torch.empty(1, device=j))
        gen = [torch.Generator(f"cuda:{i}").manual_seed(i) for i in range(self.n)]
        self.src = [torch.randn(self.numel, device=i, generator=gen[i]) for i in range(self.n)]
        self.dst = {(i, j): torch.empty(self.numel, device=j) for i in range(self.n) for j in range(self.n) if i != j}
        self.streams = {p: torch.cuda.Stream(device=p[0]) for p in self.dst}
        self.sms = torch.cuda.get_device_properties(0).multi_processor_count

    def _copy(self, i, j, stream, engine, programs):
        src, dst = self.src[i], self.dst[i, j]
        with torch.cuda.device(i), torch.cuda.stream(stream):
            if engine == "copy engine":
                r = self.cu.cuMemcpyAsync(dst.data_ptr(), src.data_ptr(), self.numel * 4, stream.cuda_stream)
                if r:
                    raise RuntimeError(f"cuMemcpyAsync GPU{i} -> GPU{j} failed: CUresult {r}")
            else:
                _push[(programs,)](src, dst, self.numel, BLOCK=4096, num_warps=4)

    def egress(self, engine, pattern, rounds):
        """(mean, slowest) per-GPU egress GB/s, medians over rounds."""
        peers = {i: [(i + 1) % self.n] if pattern == "one peer" else [j for j in range(self.n) if j != i]
                 for i in range(self.n)}
        means, lows = [], []
        for _ in range(rounds + 1):  # the first round warms up (kernel compile, peer mappings)
            events = []
            for i in range(self.n):
                torch.cuda.synchronize(i)
            for i in range(self.n):
                main = torch.cuda.current_stream(i)
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record(main)
                for j in peers[i]:
                    s = self.streams[i, j]
                    s.wait_stream(main)
                    self._copy(i, j, s, engine, max(1, 2 * self.sms // len(peers[i])))
                for j in peers[i]:
                    main.wait_stream(self.streams[i, j])
                end.record(main)
                events.append((i, start, end))
            rates = []
            for i, start, end in events:
                end.synchronize()
                rates.append(len(peers[i]) * self.numel * 4 / (start.elapsed_time(end) * 1e-3) / 1e9)
            means.append(statistics.mean(rates))
            lows.append(min(rates))
        return statistics.median(means[1:]), statistics.median(lows[1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, nargs="+", default=[64, 256], help="MiB each GPU sends to each peer")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if torch.cuda.device_count() < 2:
        raise SystemExit("multigpu_fanout: needs two or more GPUs")
    name = torch.cuda.get_device_name(0)
    rows, results = [], []
    for mb in args.mb:
        f = Fanout(mb << 20)
        for engine in ("copy engine", "sm stores"):
            for pattern in ("one peer", "every peer"):
                mean, low = f.egress(engine, pattern, args.rounds)
                rows.append((engine, pattern, f"{mb} MiB", f"{mean:.1f}", f"{low:.1f}"))
                results.append({"engine": engine, "pattern": pattern, "bytes_per_pair": mb << 20,
                                "egress_GBps_mean": mean, "egress_GBps_slowest_gpu": low})
                print(*rows[-1], flush=True)
        del f
        torch.cuda.empty_cache()
    print_table(f"Per-GPU egress into peers, {torch.cuda.device_count()} x {name}, all GPUs at once (GB/s)",
                ["engine", "to", "per pair", "mean", "slowest GPU"], rows)
    write_results("multigpu_fanout", results, device=name, gpu=name, gpus=torch.cuda.device_count(),
                  versions=versions())


if __name__ == "__main__":
    main()
