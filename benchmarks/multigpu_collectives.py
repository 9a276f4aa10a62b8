"""Collectives across GPUs, one process per GPU: vt.fabric's GPU transport (CudaGroup: peer memory over CUDA
IPC, no NCCL) against NCCL through torch.distributed, in the same processes and the same run.

    vibetensor-launch --nproc-per-node gpu benchmarks/multigpu_collectives.py
    vibetensor-launch --nproc-per-node gpu benchmarks/multigpu_collectives.py --ops all_reduce --max-bytes 64M
    vibetensor-launch --nproc-per-node 2 benchmarks/multigpu_collectives.py --device cpu --out /tmp/mg.json

Each case (op, dtype, size S = the larger buffer's bytes) draws fresh random inputs on every rank, runs NCCL once
for the reference and ours once on the same values, and checks ours against it. Then each library is timed with
its own events on its current stream (vt.cuda.Event, torch.cuda.Event) around back-to-back calls after a barrier
and a warm-up call: the median of --samples rounds of --iters calls (fewer for large messages), averaged over the
ranks as nccl-tests does. algbw = S / t; busbw per nccl-tests: all_reduce S/t * 2(n-1)/n, reduce_scatter and
all_gather S/t * (n-1)/n. "ours/nccl" (ours_over_nccl in the JSON) is our busbw over NCCL's, which is also NCCL's
time over ours. Each op is timed with algorithm "auto" and forced "oneshot", "twoshot" and "ring", to show the
crossover on the real links. A case where ours differs from NCCL is not timed: its row says why, and the exit status is 1.

Without a GPU (or with --device cpu) the same script compares our "shm" backend with torch's "gloo" on CPU
tensors, timed by the host clock, at tiny sizes (gloo_* keys in the JSON): a smoke test of the script.
"""
import os

# NVLink multicast (NVLS) stays off, as the machines' owners require; set before torch (and NCCL) load.
for _var, _value in (("NCCL_NVLS_ENABLE", "0"), ("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1"),
                     ("NVSHMEM_DISABLE_NVLS", "1")):
    os.environ.setdefault(_var, _value)

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_name, print_table, versions, write_results  # noqa: E402
from cuda_timing import device_ms, sync_both  # noqa: E402

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import vibetensor as vt  # noqa: E402
from vibetensor import fabric  # noqa: E402
from vibetensor.fabric import observe  # noqa: E402

OPS = ("all_reduce", "reduce_scatter", "all_gather")
DTYPES = ("bfloat16", "float32")
ALGORITHMS = ("auto", "oneshot", "twoshot", "ring")
CPU_ALGORITHMS = ("auto", "oneshot", "ring")  # the CPU mode is a smoke test of the script: three will do
SHAPES = {  # (input, output) elements for S elements over n ranks
    "all_reduce": lambda s, n: (s, s), "reduce_scatter": lambda s, n: (s, s // n),
    "all_gather": lambda s, n: (s // n, s)}
BUS_FACTOR = {"all_reduce": lambda n: 2 * (n - 1) / n, "reduce_scatter": lambda n: (n - 1) / n,
              "all_gather": lambda n: (n - 1) / n}
# torch 2.13 renamed reduce_scatter_tensor and all_gather_into_tensor (*_single) and the old names forward after
# a deprecation warning, Python work on every call that would be charged to NCCL's small messages; torch 2.11
# (the GPU machine's) has only the old names.
TORCH_OPS = {"all_reduce": lambda out, inp: dist.all_reduce(inp),
             "reduce_scatter": getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor,
             "all_gather": getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor}


def our_op(group, op, algorithm):
    """op(out, inp) of our group, in torch's argument order (all_reduce works in place on inp)."""
    if op == "all_reduce":
        return lambda out, inp: group.all_reduce(inp, algorithm=algorithm)
    if algorithm == "auto":
        return getattr(group, op)
    return lambda out, inp: getattr(group, op)(out, inp, algorithm=algorithm)


class HostClock:
    """CPU mode's stand-in for a device event: CPU collectives return when done, so the host clock times them."""

    def __init__(self, enable_timing=True):
        self.t = 0.0

    def record(self):
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


class Bench:
    """Both libraries joined in this process: our world group and torch's default process group."""

    def __init__(self, device, samples):
        self.samples = samples
        if device == "cuda":
            self.group = fabric.init("cuda")
            self.vdev, self.tdev = self.group.device, torch.device("cuda", self.group.device.index)
            torch.cuda.set_device(self.tdev)
            # env:// on the launcher's MASTER_ADDR/MASTER_PORT. No clash with ours: vt.fabric's rendezvous is
            # shared memory named after the job id (VIBETENSOR_FABRIC_JOB) and binds no port.
            dist.init_process_group("nccl", device_id=self.tdev)
            self.events, self.sync = (vt.cuda.Event, torch.cuda.Event), sync_both
            self.name = torch.cuda.get_device_name(self.tdev)
            self.theirs = "nccl"
        else:
            self.group = fabric.init("shm")
            self.vdev, self.tdev = "cpu", torch.device("cpu")
            dist.init_process_group("gloo")
            self.events, self.sync = (HostClock, HostClock), (lambda: None)
            self.name = cpu_name()
            self.theirs = "gloo"
        self.rank, self.size = self.group.rank, self.group.size
        self.gen = torch.Generator(self.tdev).manual_seed(1000 + self.rank)  # ranks hold different data

    def across(self, values, op=dist.ReduceOp.SUM):
        """values (floats) reduced over the ranks."""
        t = torch.tensor(values, dtype=torch.float64, device=self.tdev)
        dist.all_reduce(t, op=op)
        return t.tolist()

    def ms_per_call(self, f, iters, event):
        """This rank's median ms per call of f; the barrier first so the ranks start together."""
        self.group.barrier()
        return device_ms(f, n=iters, rounds=self.samples, event=event, sync=self.sync)

    def to_vt(self, t):
        return vt.from_dlpack(t.to("cpu", copy=True)).to(self.vdev)  # through the host: vt imports CPU memory only

    def to_torch(self, x):
        return torch.from_dlpack(x.cpu()).to(self.tdev, copy=True)

    def free(self):
        """Between cases: each library's caching allocator would otherwise keep the last case's buffers."""
        if self.tdev.type == "cuda":
            torch.cuda.empty_cache()
            vt.cuda.empty_cache()

    def close(self):
        dist.destroy_process_group()
        fabric.destroy()


def rounding_bound(op, x, n, out_numel):
    """Per element, how far two correct results may differ: each library rounds n - 1 partial sums, each at most
    the sum of the |inputs| (reduced here by torch), to half an ulp; all_gather copies exactly."""
    if op == "all_gather" or n == 1:
        return 0.0
    xa = x.abs().float()
    total = xa if op == "all_reduce" else xa.new_empty(out_numel)
    TORCH_OPS[op](total, xa)
    return total.mul_((n - 1) * torch.finfo(x.dtype).eps)


def mismatch(got, want, bound):
    """None, or where ours differs from the reference beyond rounding (a NaN counts as a difference)."""
    bad = ~((got.float() - want.float()).abs() <= bound)
    if not bad.any():
        return None
    i = int(bad.nonzero()[0])
    return f"{int(bad.sum())} of {bad.numel()} elements differ beyond rounding; first [{i}]: {got[i]} vs {want[i]}"


def iters_for(nbytes, iters):
    """Fewer calls per round for large messages (a 1 GiB case still gets 2 per round)."""
    return max(2, min(iters, iters * (16 << 20) // max(nbytes, 1)))


def run_case(b, op, dtype, nbytes, iters, only=None):
    """One (op, dtype, size): a row per algorithm (auto and each forced one; on CPU the other ops: auto), or per
    algorithm of `only` among those."""
    n, tdtype = b.size, getattr(torch, dtype)
    numel = max(n, nbytes // tdtype.itemsize // n * n)  # S elements, divisible into n chunks
    n_in, n_out = SHAPES[op](numel, n)
    x = torch.randn(n_in, generator=b.gen, device=b.tdev, dtype=tdtype)
    bound = rounding_bound(op, x, n, n_out)
    # NCCL's result is the reference; NCCL is timed last, since its in-place all_reduce overwrites it. The timed
    # all_reduces grow their buffers n-fold per call (to inf within a few dozen): the speed does not depend on it.
    tin = x.clone()
    tout = tin if op == "all_reduce" else tin.new_empty(n_out)
    TORCH_OPS[op](tout, tin)
    several = op == "all_reduce" or b.tdev.type == "cuda"  # CPU mode's other ops: auto's row alone
    algorithms = (ALGORITHMS if b.tdev.type == "cuda" else CPU_ALGORITHMS) if several else ("auto",)
    if only:
        algorithms = [a for a in algorithms if a in only]
    rows, wanted = [], algorithms if n > 1 else ("auto",)
    for algorithm in wanted:
        vin = b.to_vt(x)
        vout = vin if op == "all_reduce" else vt.empty(n_out, dtype=getattr(vt, dtype), device=b.vdev)
        call = our_op(b.group, op, algorithm)
        seq = observe.last_seq()
        call(vout, vin)
        seen = observe.events(since=seq)  # what ours did: the algorithm it ran, a host-staged fallback
        used = next((e.algorithm for e in seen if e.kind == op), "?")
        row = {"op": op, "dtype": dtype, "bytes": numel * tdtype.itemsize, "numel": numel, "ranks": n,
               "algorithm": f"{algorithm}:{used}" if algorithm == "auto" and several else used,
               "iters": iters,
               "fallbacks": [e.detail for e in seen if e.kind == "fallback"]}
        why = mismatch(b.to_torch(vout), tout, bound)
        if why:
            print(f"rank {b.rank}: {op} {dtype} {row['bytes']} B {row['algorithm']} differs from "
                  f"{b.theirs}: {why}", file=sys.stderr, flush=True)
        if b.across([why is not None], dist.ReduceOp.MAX)[0]:  # every rank skips the timing alike
            row["error"] = why or "wrong on another rank"
        else:
            row["ours_ms"] = b.ms_per_call(lambda: call(vout, vin), iters, b.events[0])
        rows.append(row)
        del vin, vout
    theirs_ms = b.ms_per_call(lambda: TORCH_OPS[op](tout, tin), iters, b.events[1])
    total = b.across([r.get("ours_ms", 0.0) for r in rows] + [theirs_ms])  # the ranks' mean, as nccl-tests
    for r, ours in zip(rows, total):
        if r.pop("ours_ms", None) is not None:
            r.update(bandwidths("ours", ours / n, r["bytes"], op, n))
        r.update(bandwidths(b.theirs, total[-1] / n, r["bytes"], op, n))
        if "ours_us" in r:
            r[f"ours_over_{b.theirs}"] = r[f"{b.theirs}_us"] / r["ours_us"]  # the busbw ratio: NCCL's time / ours
    return rows


def bandwidths(who, ms, nbytes, op, n):
    algbw = nbytes / (ms * 1e-3) / 1e9
    return {f"{who}_us": ms * 1e3, f"{who}_algbw_GBps": algbw, f"{who}_busbw_GBps": algbw * BUS_FACTOR[op](n)}


def table_row(r, theirs):
    def cols(who):
        if f"{who}_us" not in r:
            return ["WRONG", "-", "-"]
        return [f"{r[f'{who}_us']:.1f}", f"{r[f'{who}_algbw_GBps']:.2f}", f"{r[f'{who}_busbw_GBps']:.2f}"]
    ratio = f"{r[f'ours_over_{theirs}']:.2f}x" if f"ours_over_{theirs}" in r else "-"
    return [r["dtype"], r["bytes"], r["algorithm"], *cols("ours"), *cols(theirs), ratio]


def parse_bytes(text):
    """'65536', '64K', '1G' (binary units) -> bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B")
    return int(text[:-1]) * units[text[-1]] if text[-1:] in units else int(text)


def default_sizes(max_bytes):
    """8 B up by powers of 4, and max_bytes itself (8 * 4^k never hits 1 GiB)."""
    sizes = [8 << 2 * k for k in range(32) if 8 << 2 * k <= max_bytes]
    return sizes + ([max_bytes] if max_bytes not in sizes else [])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                    help="cuda: CudaGroup vs NCCL; cpu: shm vs gloo (auto: cuda when there is a GPU)")
    ap.add_argument("--ops", nargs="+", choices=OPS, default=list(OPS))
    ap.add_argument("--dtypes", nargs="+", choices=DTYPES, default=list(DTYPES))
    ap.add_argument("--sizes", nargs="+", type=parse_bytes, help="S in bytes (64K, 1G ...); default: 8 B to --max-bytes")
    ap.add_argument("--max-bytes", type=parse_bytes, help="largest default size (1G on GPUs, 256K on CPU)")
    ap.add_argument("--algorithms", nargs="+", choices=ALGORITHMS,
                    help="time only these of each op's algorithms (default: all it has)")
    ap.add_argument("--iters", type=int, default=50, help="calls per timed round (fewer above 16 MiB)")
    ap.add_argument("--samples", type=int, default=5, help="timed rounds; the median is kept")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/multigpu_collectives[_cpu].json)")
    args = ap.parse_args(argv)
    device = args.device
    if device == "auto":  # the launcher's choice for this rank, else whether torch sees a GPU
        device = os.environ.get("VIBETENSOR_DEVICE", "cuda" if torch.cuda.is_available() else "cpu").split(":")[0]
    sizes = args.sizes or default_sizes(args.max_bytes or (1 << 30 if device == "cuda" else 256 << 10))
    b = Bench(device, args.samples)
    rows = []
    try:
        # untimed: first-call costs, clocks ramping up
        run_case(b, args.ops[0], args.dtypes[0], sizes[0], 5, args.algorithms)
        b.free()
        for op in args.ops:
            for nbytes in sizes:  # the dtypes alternate, so what drifts during a run hits them alike
                for dtype in args.dtypes:
                    case = run_case(b, op, dtype, nbytes, iters_for(nbytes, args.iters), args.algorithms)
                    b.free()
                    rows += case
                    for r in case if b.rank == 0 else ():  # progress: a run cut short still shows its numbers
                        print(op, *table_row(r, b.theirs), flush=True)
    finally:
        b.close()
    if b.rank:
        return 0
    header = ["dtype", "bytes", "ours algo", *(f"{who} {what}" for who in ("ours", b.theirs)
                                                for what in ("us", "algbw", "busbw")), f"ours/{b.theirs}"]
    for op in args.ops:
        print_table(f"{op}, {b.size} x {b.name} (GB/s; busbw per nccl-tests; ours/{b.theirs}: busbw ratio)",
                    header, [table_row(r, b.theirs) for r in sorted(rows, key=lambda r: (r["dtype"], r["bytes"]))
                             if r["op"] == op])
    nccl = ".".join(map(str, torch.cuda.nccl.version())) if device == "cuda" else None
    name = "multigpu_collectives" + ("" if device == "cuda" else "_cpu")
    write_results(name, rows, path=args.out, device=b.name, gpu=b.name if device == "cuda" else None,
                  world_size=b.size, backends={"ours": b.group.backend, "theirs": b.theirs},
                  versions={**versions(), "nccl": nccl}, iters=args.iters, samples=args.samples,
                  env={k: os.environ.get(k) for k in ("NCCL_NVLS_ENABLE", "TORCH_SYMM_MEM_DISABLE_MULTICAST",
                                                      "NVSHMEM_DISABLE_NVLS", "VIBETENSOR_ONESHOT_MAX_BYTES",
                                                      "VIBETENSOR_FABRIC_TS_PROGRAMS", "VIBETENSOR_FABRIC_CAPACITY",
                                                      "VIBETENSOR_FABRIC_TS_BLOCK")})
    wrong = [r for r in rows if "error" in r]
    for r in wrong:
        print(f"WRONG: {r['op']} {r['dtype']} {r['bytes']} B {r['algorithm']}: {r['error']}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
